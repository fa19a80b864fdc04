"""Metrics, registered by name: pure functions over samples and references that return value + signature."""

from langgan_bench.metrics import nll  # noqa: F401  (registers nll_oracle, nll_test)
from langgan_bench.metrics.base import METRICS, EvalInputs, MetricSpec, MetricValue, signature
from langgan_bench.metrics.nll import nll_oracle, nll_test

__all__ = ["METRICS", "EvalInputs", "MetricSpec", "MetricValue", "nll_oracle", "nll_test", "signature"]
