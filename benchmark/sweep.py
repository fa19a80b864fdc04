"""The temperature sweep: sample a trained generator at each temperature and score the samples.

Each temperature draws with its own seed derived from (run seed, T), so the numbers at one temperature do
not depend on which other temperatures were swept or in what order (a resumed sweep matches a whole one).
"""

from __future__ import annotations

from langgan_bench.datasets.base import Dataset
from langgan_bench.metrics.base import EvalInputs, MetricSpec, MetricValue
from langgan_bench.models.base import derive_seed
from langgan_bench.models.generator import Generator

#: Model name of the reference rows a synthetic dataset adds: the oracle scored like a model at T = 1.
ORACLE_MODEL = "oracle"


def sample_seed(seed: int, temperature: float) -> int:
    return derive_seed(seed, "sample", f"{temperature:g}")


def applicable(metrics: list[MetricSpec], dataset: Dataset, temperature: float) -> list[MetricSpec]:
    return [m for m in metrics if m.applies(dataset, temperature)]


def evaluate(
    generator: Generator, dataset: Dataset, temperature: float, n: int, seed: int, metrics: list[MetricSpec]
) -> tuple[list[str], list[MetricValue]]:
    """Decoded samples and metric values of ``generator`` at one temperature (no weight is updated)."""
    samples = generator.sample(n, temperature, sample_seed(seed, temperature))
    inputs = EvalInputs(dataset=dataset, generator=generator, temperature=temperature, samples=samples)
    values = [v for m in applicable(metrics, dataset, temperature) for v in m.compute(inputs)]
    return [dataset.decode(s) for s in samples], values


def oracle_reference(dataset: Dataset, n: int, metrics: list[MetricSpec]) -> list[MetricValue]:
    """The oracle itself scored at T = 1 with the same metrics (its NLL_test is the floor a model can
    approach). A fixed seed makes these rows identical in every run of a dataset and profile."""
    if dataset.oracle is None:
        return []
    samples = dataset.oracle.sample(n, 1.0, derive_seed("oracle-reference"))
    inputs = EvalInputs(dataset=dataset, generator=dataset.oracle, temperature=1.0, samples=samples)
    return [v for m in applicable(metrics, dataset, 1.0) for v in m.compute(inputs)]
