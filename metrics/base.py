"""What every metric returns (a value with its signature) and how the harness finds metrics by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from langgan_bench import __version__
from langgan_bench.registry import Registry

if TYPE_CHECKING:
    import torch

    from langgan_bench.datasets.base import Dataset
    from langgan_bench.models.generator import Generator


@dataclass(frozen=True)
class MetricValue:
    """One number and the signature of every setting that changes it (sacrebleu style)."""

    metric: str
    value: float
    signature: str
    n_samples: int


def signature(name: str, **settings: object) -> str:
    """``name|key:value|...|v:<version>`` in the given order; two numbers with different signatures are
    never put in one table column."""
    parts = [name, *(f"{k}:{v}" for k, v in settings.items()), f"v:{__version__}"]
    return "|".join(parts)


@dataclass(frozen=True, eq=False)
class EvalInputs:
    """Everything the temperature sweep can hand a metric at one temperature."""

    dataset: Dataset  # already sliced to the profile's sizes
    generator: Generator  # a trained model's generator, or the oracle
    temperature: float
    samples: torch.Tensor  # (N, max_len) drawn from the generator at this temperature


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric: the adapter from the sweep's inputs to the pure metric function."""

    name: str
    compute: Callable[[EvalInputs], list[MetricValue]]
    kind: Literal["quality", "diversity"]
    lower_is_better: bool
    greedy: bool  # defined at T = 0 (greedy decoding)
    synthetic_only: bool
    description: str

    def applies(self, dataset: Dataset, temperature: float) -> bool:
        return (dataset.is_synthetic or not self.synthetic_only) and (temperature > 0 or self.greedy)


METRICS: Registry[MetricSpec] = Registry("metric")


def register_metric(
    name: str,
    *,
    kind: Literal["quality", "diversity"],
    lower_is_better: bool,
    greedy: bool,
    synthetic_only: bool,
    description: str,
) -> Callable[[Callable[[EvalInputs], list[MetricValue]]], Callable[[EvalInputs], list[MetricValue]]]:
    """Decorator for a sweep adapter ``fn(inputs) -> [MetricValue, ...]``."""

    def add(fn: Callable[[EvalInputs], list[MetricValue]]) -> Callable[[EvalInputs], list[MetricValue]]:
        METRICS.add(name, MetricSpec(name, fn, kind, lower_is_better, greedy, synthetic_only, description))
        return fn

    return add
