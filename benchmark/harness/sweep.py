"""The temperature sweep: sample a trained generator at each temperature and score the samples.

Each temperature draws with its own seed derived from (run seed, T), so the numbers at one temperature do
not depend on which other temperatures were swept or in what order (a resumed sweep matches a whole one).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from langgan_bench.core.cache import cache_dir, load_or_build
from langgan_bench.core.config import config_hash, derive_seed
from langgan_bench.core.errors import Damaged
from langgan_bench.core.files import atomic_write_json
from langgan_bench.core.profiles import SWEEP_ONLY, Profile
from langgan_bench.core.version import __version__
from langgan_bench.datasets.base import Dataset
from langgan_bench.metrics.base import EvalInputs, MetricSpec, MetricValue
from langgan_bench.models.networks.generator import Generator


def sample_seed(seed: int, temperature: float) -> int:
    return derive_seed(seed, "sample", f"{temperature:g}")


class SweepGenerator:
    """The trained generator as the sweep sees it: NLL_test at every temperature of the sweep comes from one
    pass over the test split (the logits of each chunk computed once, every temperature applied to them:
    ``nll_many``), made at the first request; everything else goes to the generator itself. The values are
    those of ``generator.nll(test, T)`` one temperature at a time (each temperature's sum is its own)."""

    def __init__(self, generator: Generator, references: torch.Tensor, temperatures: Sequence[float]) -> None:
        self.generator, self.references = generator, references
        self.temperatures = sorted({float(t) for t in temperatures if t > 0})
        self._nll: dict[float, float] | None = None

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


def score(inputs: EvalInputs, metrics: list[MetricSpec]) -> list[MetricValue]:
    """Every applicable metric on one set of samples."""
    has_generator = inputs.generator is not None
    return [
        v for m in metrics if m.applies(inputs.dataset, inputs.temperature, has_generator) for v in m.compute(inputs)
    ]


def evaluate(
    generator: Generator,
    dataset: Dataset,
    profile: Profile,
    temperature: float,
    seed: int,
    metrics: list[MetricSpec],
    device: str = "cpu",
) -> tuple[list[str], list[MetricValue]]:
    """Decoded samples and metric values of ``generator`` at one temperature (no weight is updated)."""
    samples = generator.sample(profile.eval_samples, temperature, sample_seed(seed, temperature))
    inputs = EvalInputs.from_model(dataset, profile, generator, temperature, samples, seed, device)
    return [" ".join(t) for t in inputs.tokens], score(inputs, metrics)


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
