"""The sweep: sample a trained generator at each point (decoder, knob) of its grid and score the samples.

Each point draws with its own seed derived from (run seed, decoder, knob; a temperature's from (run seed, T) as
before decoders existed), so the numbers at one point do not depend on which other points were swept or in
what order (a resumed sweep matches a whole one). Each point also records its decoding time per 1,000
sentences (a measurement of the machine: its signature names the device and the thread count) and a
rejection decoder's acceptance rate.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from langgan_bench.analysis.rows import ACCEPTANCE, DECODE_TIME
from langgan_bench.core.cache import cache_dir, load_or_build
from langgan_bench.core.config import config_hash, derive_seed
from langgan_bench.core.decoders import REJECTION_DRAWS, TEMPERATURE, DecoderGrid
from langgan_bench.core.errors import Damaged
from langgan_bench.core.files import atomic_write_json
from langgan_bench.core.profiles import SWEEP_ONLY, Profile
from langgan_bench.core.storage import load_torch, save_torch
from langgan_bench.core.version import __version__
from langgan_bench.datasets.base import Dataset
from langgan_bench.kernels.cpu import cpu_model
from langgan_bench.metrics.base import EvalInputs, MetricSpec, MetricValue, signature
from langgan_bench.models.networks.decoding import TRUNCATING, Decoded, Scorer, decode, decoder_nll, decoders_nll
from langgan_bench.models.networks.generator import SAMPLE_BATCH, Generator
from langgan_bench.models.training.rejection import rejection_config, train_rejection_discriminator

LOG = logging.getLogger(__name__)
Point = tuple[str, float]  # (decoder, knob)


def sample_seed(seed: int, temperature: float) -> int:
    return derive_seed(seed, "sample", f"{temperature:g}")


def point_seed(seed: int, decoder: str, knob: float) -> int:
    """The seed of a point's draws: a temperature's is ``sample_seed`` (as before decoders existed)."""
    return sample_seed(seed, knob) if decoder == TEMPERATURE else derive_seed(seed, "sample", decoder, f"{knob:g}")


class SweepGenerator:
    """The trained generator as the sweep sees it: NLL_test at every temperature of the sweep comes from one
    pass over the test split (the logits of each chunk computed once, every temperature applied to them:
    ``nll_many``), made at the first request, and likewise every knob of the truncating decoders from one pass
    (``decoders_nll``); everything else goes to the generator itself. The values are those of
    ``generator.nll(test, T)`` one temperature at a time (each temperature's sum is its own)."""

    def __init__(
        self,
        generator: Generator,
        references: torch.Tensor,
        temperatures: Sequence[float],
        decoders: DecoderGrid = (),
    ) -> None:
        self.generator, self.references = generator, references
        self.temperatures = sorted({float(t) for t in temperatures if t > 0})
        self.truncations = [(n, k) for n, knobs in decoders if n in TRUNCATING for k in sorted(set(knobs))]
        self._nll: dict[float, float] | None = None
        self._decoder_nll: dict[Point, tuple[float, float]] = {}

    def __getattr__(self, name: str) -> Any:
        """The generator's own attributes (its ``step``, ``keep_rows``, ids and sizes: the decoders need them)."""
        if name.startswith("__") or name == "generator":
            raise AttributeError(name)
        return getattr(self.generator, name)

    def sample(self, n: int, temperature: float = 1.0, seed: int = 0) -> torch.Tensor:
        return self.generator.sample(n, temperature, seed)

    def log_prob(self, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        return self.generator.log_prob(tokens, temperature)

    def nll(self, tokens: torch.Tensor, temperature: float = 1.0) -> float:
        many = getattr(self.generator, "nll_many", None)
        if tokens is not self.references or temperature not in self.temperatures or many is None:
            return self.generator.nll(tokens, temperature)
        if self._nll is None:
            self._nll = dict(zip(self.temperatures, many(self.references, self.temperatures), strict=True))
        return self._nll[temperature]

    def decoder_nll(self, tokens: torch.Tensor, decoder: str, knob: float) -> tuple[float, float]:
        """(NLL, fraction outside) of ``tokens`` at a truncating decoder's knob (``decoding.decoders_nll``)."""
        if tokens is not self.references or (decoder, knob) not in self.truncations:
            return decoder_nll(self.generator, tokens, decoder, [knob])[0]
        if (decoder, knob) not in self._decoder_nll:
            values = decoders_nll(self.generator, tokens, self.truncations)
            self._decoder_nll = dict(zip(self.truncations, values, strict=True))
        return self._decoder_nll[(decoder, knob)]


def score(inputs: EvalInputs, metrics: list[MetricSpec]) -> list[MetricValue]:
    """Every applicable metric on one set of samples."""
    has_generator = inputs.generator is not None
    return [
        v
        for m in metrics
        if m.applies(inputs.dataset, inputs.temperature, has_generator, inputs.decoder, inputs.knob)
        for v in m.compute(inputs)
    ]


def evaluate(
    generator: Generator,
    dataset: Dataset,
    profile: Profile,
    point: Point,
    seed: int,
    metrics: list[MetricSpec],
    device: str = "cpu",
    scorer: Scorer | None = None,
) -> tuple[list[str], list[MetricValue]]:
    """Decoded samples and metric values of ``generator`` at one point (no weight is updated), then the
    point's decoding time (and a rejection decoder's acceptance rate). A rejection decoder that keeps fewer
    than ``eval_samples`` sentences within its draws gets those two rows only: its samples are never scored
    as if they were the others' (every metric's signature names its sample count)."""
    decoder, knob = point
    n = profile.eval_samples
    start = time.perf_counter()
    out = decode(generator, decoder, knob, n, point_seed(seed, decoder, knob), scorer)
    seconds = time.perf_counter() - start
    measured = [decode_time(seconds, len(out.samples), device)]
    if decoder in ("gen_reject", "disc_reject"):
        measured.append(acceptance(out))
    if len(out.samples) < n:
        LOG.warning(
            f"{decoder}={knob:g}: {len(out.samples)} of {n} samples kept after {out.draws} candidates (acceptance "
            f"{out.acceptance:.4f}; at most {REJECTION_DRAWS} candidates a sample): no sample metrics there"
        )
        return [" ".join(dataset.decode(s).split()) for s in out.samples], measured
    temperature = knob if decoder == TEMPERATURE else 1.0
    inputs = EvalInputs.from_model(dataset, profile, generator, temperature, out.samples, seed, device, decoder, knob)
    return [" ".join(t) for t in inputs.tokens], score(inputs, metrics) + measured


def device_name(device: str) -> str:
    """The device a time was measured on, by name: ``cpu:<model>`` or ``cuda:<model>``."""
    name = torch.cuda.get_device_name() if device == "cuda" and torch.cuda.is_available() else cpu_model()
    return f"{device}:{name}".replace("|", "/")


def decode_time(seconds: float, kept: int, device: str) -> MetricValue:
    """A point's decoding time per 1,000 sentences it returns (a rejection decoder's candidates and scoring
    included), with the device, its name and torch's thread count in the signature."""
    per_1k = seconds / kept * 1000 if kept else math.inf
    sig = signature(
        DECODE_TIME, device=device_name(device), threads=torch.get_num_threads(), batch=SAMPLE_BATCH, unit="s/1000"
    )
    return MetricValue(DECODE_TIME, per_1k, sig, kept)


def acceptance(out: Decoded) -> MetricValue:
    """A rejection decoder's acceptance rate over every candidate it drew (``n_samples``: the candidates)."""
    sig = signature(ACCEPTANCE, batch=SAMPLE_BATCH, budget=f"{REJECTION_DRAWS}x")
    return MetricValue(ACCEPTANCE, out.acceptance, sig, out.draws)


def rejection_scorer(
    generator: Generator,
    dataset: Dataset,
    profile: Profile,
    seed: int,
    device: torch.device,
    path: Path,
    log: Callable[[str], None],
) -> Scorer:
    """``disc_reject``'s D(x): its discriminator trained once per run on the run's generator
    (``training/rejection.py``) and kept in the run's folder at ``path``, so a resumed sweep reads it back
    (training it again from the same seeds gives the same weights on a CPU)."""
    from langgan_bench.models.networks.discriminators import CNNDiscriminator

    cfg = rejection_config(profile.name)
    key = config_hash({"config": asdict(cfg), "seed": seed, "dataset": dataset.ident})
    with torch.random.fork_rng(devices=[]):  # a shell for the stored weights: the caller's random state untouched
        disc = CNNDiscriminator(len(dataset.vocab), dataset.max_len, cfg.cnn).to(device)
    try:
        stored = load_torch(path, map_location=device) if path.is_file() else None
        if isinstance(stored, dict) and stored.get("key") == key:
            disc.load_state_dict(stored["state_dict"])
            disc.eval()
            return _on(disc, device)
    except (Damaged, RuntimeError, KeyError):
        pass  # damaged, or not this discriminator: trained again below
    log(f"disc_reject: training its discriminator on the model's samples against real sentences ({profile.name})")
    start = time.perf_counter()
    disc = train_rejection_discriminator(generator, dataset, cfg, derive_seed(seed, "disc_reject"), device, log)
    log(f"disc_reject: discriminator trained in {time.perf_counter() - start:.1f}s (not part of the decoding time)")
    save_torch({"key": key, "state_dict": disc.state_dict()}, path, create_parent=False)
    return _on(disc, device)


def _on(disc: Any, device: torch.device) -> Scorer:
    """D(x) of token ids on the CPU (the candidates' home), computed on the discriminator's device."""
    return lambda tokens: disc.prob_real(tokens.to(device)).cpu()


def oracle_reference(dataset: Dataset, profile: Profile, metrics: list[MetricSpec]) -> list[MetricValue]:
    """The oracle itself scored at T = 1 with the same metrics (its NLL_test is the floor a model can
    approach). A fixed seed makes these rows identical in every run of a dataset and profile, so they are
    computed once and cached, keyed by everything that changes them (every oracle cell of a bench needs
    them); two processes that need them at once compute them once."""
    if dataset.oracle is None:
        return []
    path = oracle_reference_path(dataset, profile, metrics)

    def build() -> list[MetricValue]:
        seed = derive_seed("oracle-reference")
        samples = dataset.oracle.sample(profile.eval_samples, 1.0, seed)
        inputs = EvalInputs.from_model(dataset, profile, dataset.oracle, 1.0, samples, seed, "cpu")
        return score(inputs, metrics)

    return load_or_build(path, _load_values, build, lambda values, p: atomic_write_json(p, [asdict(v) for v in values]))


def oracle_reference_path(dataset: Dataset, profile: Profile, metrics: list[MetricSpec]) -> Path:
    """Where ``oracle_reference`` caches its rows: keyed by everything that changes them."""
    key = {
        "dataset": dataset.ident,
        "sizes": [len(dataset.train), len(dataset.valid), len(dataset.test)],
        "profile": {k: v for k, v in asdict(profile).items() if k not in ("description", *SWEEP_ONLY)},
        "metrics": [m.name for m in metrics],
        "version": __version__,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),  # CPU float results depend on the thread count
    }
    return cache_dir() / "oracle_reference" / f"{dataset.name}-{profile.name}-{config_hash(key)}.json"


def _load_values(path: Path) -> list[MetricValue]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise ValueError("not a list")
        return [MetricValue.from_json(v) for v in data]
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise Damaged(path, str(e).splitlines()[0][:120]) from None
