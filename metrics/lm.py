"""LM score (quality) and reverse-LM score (diversity), in nats per token.

- LM score: the per-token NLL of the samples under a *judge* LM trained by MLE on the real training split
  (early stopping on the valid split). It is trained once per dataset, profile and judge config, then cached
  on disk; every model is judged by the same judge.
- Reverse-LM score: a fresh LM of the judge's architecture is trained on the samples (10% of them held out
  for early stopping; real data is never used for training or selection) and scores the real test split.
  A model that drops modes of the data makes the reverse LM bad at the test sentences it never saw.

Both LMs are the shared LSTM generator trained by the shared MLE loop: no second LSTM implementation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import torch

from langgan_bench.core.cache import cache_dir, load_or_build
from langgan_bench.core.config import config_hash, derive_seed
from langgan_bench.core.decoders import TEMPERATURE
from langgan_bench.core.errors import Damaged
from langgan_bench.core.storage import load_torch, save_torch
from langgan_bench.datasets.base import Dataset
from langgan_bench.metrics.base import EvalInputs, MetricValue, signature
from langgan_bench.models.networks.generator import GeneratorConfig, LSTMGenerator
from langgan_bench.models.training.base import TrainContext, make_generator
from langgan_bench.models.training.mle import MLEConfig, MLETraining, train_mle

#: The judge LM per profile; "paper" is the LM of "Language GANs Falling Short" (trained_models/news/
#: word/best_mle: 2 x 512 LSTM, variational dropout 0.5, batch 128, Adam 1e-3, clip 10, 100 epochs).
JUDGES: dict[str, MLEConfig] = {
    "tiny": MLEConfig(GeneratorConfig(emb_dim=16, hidden_dim=32, dropout=0.2), MLETraining(max_epochs=2)),
    "small": MLEConfig(
        GeneratorConfig(emb_dim=64, hidden_dim=64, dropout=0.5), MLETraining(lr=5e-3, max_epochs=12, patience=2)
    ),
    "paper": MLEConfig(
        GeneratorConfig(emb_dim=512, hidden_dim=512, num_layers=2, dropout=0.5),
        MLETraining(batch_size=128, lr=1e-3, grad_clip=10.0, max_epochs=100, patience=5),
    ),
}
#: Epoch budget of the reverse LM (trained once per model and temperature, so kept smaller).
REVERSE_EPOCHS = {"tiny": 2, "small": 5, "paper": 50}
HELD_OUT = 0.1

_JUDGES: dict[str, LSTMGenerator] = {}  # this process's judges, by judge_id
LOG = logging.getLogger(__name__)
Log = Callable[[str], None]


def judge_id(dataset: Dataset, profile: str) -> str:
    sizes = f"{len(dataset.train)}-{len(dataset.valid)}"
    return f"{dataset.ident}:{sizes}:{profile}:{config_hash(dataclasses.asdict(JUDGES[profile]))}"


def judge_lm(dataset: Dataset, profile: str, device: str = "cpu", log: Log | None = None) -> LSTMGenerator:
    """The judge LM for ``dataset`` (as sliced by the profile): trained on first use, cached on disk (two runs
    that need it at once train it once), kept in memory for the rest of the process."""
    key = judge_id(dataset, profile)
    if key in _JUDGES:
        return _JUDGES[key]
    cfg = JUDGES[profile]
    path = cache_dir() / "judges" / (key.replace(":", "_").replace("@", "-") + ".pt")

    def load(p: Path) -> LSTMGenerator:
        gen = make_generator(dataset, cfg.generator, torch.device(device))
        state = load_torch(p, map_location=device)
        try:
            gen.load_state_dict(state)
        except Exception as e:  # unpickled, but not this judge's weights
            raise Damaged(p, f"not the weights of this judge: {type(e).__name__}") from None
        return gen

    def build() -> LSTMGenerator:
        (log or LOG.info)(f"training the judge LM for {dataset.name} ({profile}); cached at {path}")
        return _fresh_lm(dataset, dataset, cfg, derive_seed("judge", key), device, log)

    gen = load_or_build(path, load, build, lambda g, p: save_torch(g.state_dict(), p))
    gen.eval()
    _JUDGES[key] = gen
    return gen


def prepare_judge(dataset: Dataset, profile: str, device: str) -> None:
    """The LM score's preparation (``MetricSpec.prepare``): its judge trained and cached ahead of the runs."""
    judge_lm(dataset, profile, device)


@contextlib.contextmanager
def _own_rng(seed: int, device: str) -> Iterator[None]:
    """Seed the global RNG for an LM's initialisation and training, and give the caller's state back after."""
    with torch.random.fork_rng(devices=[torch.device(device)] if device.startswith("cuda") else []):
        torch.manual_seed(seed)
        yield


def _fresh_lm(
    dataset: Dataset, data: Dataset, cfg: MLEConfig, seed: int, device: str, log: Log | None = None
) -> LSTMGenerator:
    """A new LM of ``cfg``'s architecture trained by MLE on ``data`` (early stopping on its valid split)."""
    with _own_rng(seed, device):
        gen = make_generator(dataset, cfg.generator, torch.device(device))
        ctx = TrainContext(device=gen.device, seed=seed, log=log or (lambda msg: None))
        train_mle(gen, data, cfg.training, ctx, None, snapshot=lambda phase: {}, label="lm")
    return gen


def lm_score(*, samples: torch.Tensor, judge: LSTMGenerator) -> float:
    """Mean per-token NLL of ``samples`` (ids) under ``judge``."""
    return judge.nll(samples)


def reverse_lm_score(
    *,
    samples: torch.Tensor,
    references: torch.Tensor,
    dataset: Dataset,
    config: MLEConfig,
    seed: int,
    device: str = "cpu",
) -> float:
    """Train a fresh LM on ``samples`` (10% held out for early stopping), return its NLL on ``references``."""
    n_held = max(1, round(HELD_OUT * len(samples)))
    if len(samples) - n_held < 1:
        raise ValueError("the reverse LM needs at least two samples")
    data = replace(dataset, train=samples[n_held:], valid=samples[:n_held], test=references)
    return _fresh_lm(dataset, data, config, seed, device).nll(references)


def evaluate_lm_score(x: EvalInputs) -> list[MetricValue]:
    judge = judge_lm(x.dataset, x.profile.name, x.device)
    sig = signature("lm_score", judge=judge_id(x.dataset, x.profile.name), hyps=len(x.samples), unit="nats/token")
    return [MetricValue("lm_score", lm_score(samples=x.samples, judge=judge), sig, len(x.samples))]


def evaluate_reverse_lm_score(x: EvalInputs) -> list[MetricValue]:
    base = JUDGES[x.profile.name]
    cfg = replace(base, training=replace(base.training, max_epochs=REVERSE_EPOCHS[x.profile.name]))
    # a temperature's seed as before decoders existed; another decoder's from its name and knob
    point = (x.temperature,) if x.decoder == TEMPERATURE else (x.decoder, x.knob)
    seed = derive_seed(x.seed, "reverse-lm", *point)
    samples = x.samples[: x.profile.reverse_lm_samples]
    value = reverse_lm_score(
        samples=samples, references=x.dataset.test, dataset=x.dataset, config=cfg, seed=seed, device=x.device
    )
    sig = signature(
        "reverse_lm_score",
        refs=f"{x.dataset.ident}:test:{len(x.dataset.test)}",
        hyps=len(samples),
        lm=f"{x.profile.name}:{config_hash(dataclasses.asdict(cfg))}",
        heldout=HELD_OUT,
        unit="nats/token",
    )
    return [MetricValue("reverse_lm_score", value, sig, len(samples))]
