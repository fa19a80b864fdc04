"""What every metric returns (a value with its signature), what it is handed (``EvalInputs``), and how the
harness finds it by name (``MetricSpec``, registered in ``metrics/__init__.py``)."""

from __future__ import annotations

import importlib
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, fields
from functools import cache
from typing import TYPE_CHECKING, Literal, TypeVar

from langgan_bench.core.decoders import TEMPERATURE, has_density, is_greedy
from langgan_bench.core.registry import Registry
from langgan_bench.core.version import __version__

if TYPE_CHECKING:
    import torch

    from langgan_bench.core.profiles import Profile
    from langgan_bench.datasets.base import Dataset
    from langgan_bench.models.networks.generator import Generator

Requirement = Literal["oracle", "text", "generator"]


@dataclass(frozen=True)
class MetricValue:
    """One number and the signature of every setting that changes it (sacrebleu style)."""

    metric: str
    value: float
    signature: str
    n_samples: int

    @classmethod
    def from_json(cls, v: object) -> MetricValue:
        """A value read back from a JSON file this tool wrote, checked; ValueError if it is not one."""
        names = [f.name for f in fields(cls)]
        if not (isinstance(v, dict) and set(v) == set(names)):
            raise ValueError("holds something that is not a metric value")
        ok = (
            isinstance(v["metric"], str)
            and isinstance(v["signature"], str)
            and isinstance(v["value"], int | float)
            and isinstance(v["n_samples"], int)
        )
        if not ok:
            raise ValueError("has a value of the wrong type")
        return cls(**v)


def signature(name: str, **settings: object) -> str:
    """``name|key:value|...|v:<version>`` in the given order; two numbers with different signatures are
    never put in one table column."""
    parts = [name, *(f"{k}:{v}" for k, v in settings.items()), f"v:{__version__}"]
    return "|".join(parts)


@dataclass(frozen=True, eq=False)
class EvalInputs:
    """Everything a metric can be handed: samples (as ids and as tokens), the dataset and profile, and when
    the samples come from a model of this harness, that generator, the decoder that drew them and its knob
    (``temperature`` holds T for the temperature decoder, 1.0 for the others, which all draw at T = 1)."""

    dataset: Dataset  # already sliced to the profile's sizes
    profile: Profile
    samples: torch.Tensor  # (N, L) token ids in the dataset's vocabulary (<unk> for unknown words)
    tokens: list[list[str]]  # the same samples as words (never <unk> for a user's file)
    seed: int = 0
    device: str = "cpu"  # where metric networks (encoder, judge LM) run
    generator: Generator | None = None
    temperature: float | None = None
    decoder: str = TEMPERATURE
    knob: float | None = None

    @classmethod
    def from_model(
        cls,
        dataset: Dataset,
        profile: Profile,
        generator: Generator,
        temperature: float,
        samples: torch.Tensor,
        seed: int,
        device: str,
        decoder: str = TEMPERATURE,
        knob: float | None = None,
    ) -> EvalInputs:
        tokens = [dataset.decode(s).split() for s in samples]
        knob = temperature if decoder == TEMPERATURE else knob
        return cls(dataset, profile, samples, tokens, seed, device, generator, temperature, decoder, knob)


_T = TypeVar("_T")
_KEPT: weakref.WeakKeyDictionary[EvalInputs, dict[Hashable, object]] = weakref.WeakKeyDictionary()


def per_sample_set(x: EvalInputs, key: Hashable, build: Callable[[], _T]) -> _T:
    """``build()`` computed once for the sample set ``x`` whichever metric asks first, and kept while ``x``
    lives: the statistics several metrics read (the samples' embeddings, their n-gram tables)."""
    kept = _KEPT.setdefault(x, {})
    if key not in kept:
        kept[key] = build()
    return kept[key]  # type: ignore[return-value]


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric: what it measures, when it applies, and where its adapter lives.

    ``adapter`` ("package.module:function") turns EvalInputs into the metric's values; it is imported at the
    first ``compute``, so listing metrics and reading their directions (the report) import no torch.
    ``prepare`` (the same form, optional) builds the metric's reference-side cache for a dataset and profile
    ahead of the runs that need it (the judge LM): the bench does it once per dataset, not once per cell.
    """

    name: str
    adapter: str
    kind: Literal["quality", "diversity"]
    lower_is_better: bool
    greedy: bool  # defined at T = 0 (greedy decoding)
    requires: tuple[Requirement, ...]  # "oracle": synthetic data; "text": real text; "generator": a model
    description: str
    prepare: str | None = None
    #: the names of the values it emits other than ``name`` and ``name-<n>`` (MAUVE's mauve_star)
    values: tuple[str, ...] = ()

    def compute(self, inputs: EvalInputs) -> list[MetricValue]:
        return _resolve(self.adapter)(inputs)

    def prepare_for(self, dataset: Dataset, profile: str, device: str) -> None:
        """Build what ``compute`` will read from the cache for ``dataset`` sliced by ``profile`` (if anything)."""
        if self.prepare is not None:
            _resolve(self.prepare)(dataset, profile, device)

    def applies(
        self,
        dataset: Dataset,
        temperature: float | None,
        has_generator: bool,
        decoder: str = TEMPERATURE,
        knob: float | None = None,
    ) -> bool:
        """Whether the metric is defined for samples of ``dataset`` drawn by ``decoder`` at ``knob`` (or at
        ``temperature``): a metric of the model's density ("generator") needs a decoder that has one, and a
        metric undefined under greedy decoding (T = 0, top_k 1) is left out there."""
        if "oracle" in self.requires and not dataset.is_synthetic:
            return False
        if "text" in self.requires and dataset.is_synthetic:
            return False
        if "generator" in self.requires and not (has_generator and has_density(decoder)):
            return False
        if decoder != TEMPERATURE:
            return self.greedy or knob is None or not is_greedy(decoder, knob)
        return temperature is None or temperature > 0 or self.greedy


@cache
def _resolve(target: str) -> Callable[..., object]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


METRICS: Registry[MetricSpec] = Registry("metric")


def spec_of(value: str) -> MetricSpec | None:
    """The registered metric that emits a value of this name (``bleu-5``: bleu; ``mauve_star``: mauve)."""
    for name in (value, value.rsplit("-", 1)[0]):
        if name in METRICS:
            return METRICS.get(name)
    return next((METRICS.get(n) for n in METRICS.names() if value in METRICS.get(n).values), None)
