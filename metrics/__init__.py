"""Metrics, registered by name: pure functions over samples and references that return value + signature."""

from langgan_bench.metrics import bleu as _bleu  # noqa: F401  (registers bleu, self_bleu)
from langgan_bench.metrics import fed as _fed  # noqa: F401  (registers fed)
from langgan_bench.metrics import lm as _lm  # noqa: F401  (registers lm_score, reverse_lm_score)
from langgan_bench.metrics import nll as _nll  # noqa: F401  (registers nll_oracle, nll_test)
from langgan_bench.metrics.base import METRICS, EvalInputs, MetricSpec, MetricValue, signature
from langgan_bench.metrics.bleu import bleu, self_bleu
from langgan_bench.metrics.fed import fed, frechet_distance
from langgan_bench.metrics.lm import lm_score, reverse_lm_score
from langgan_bench.metrics.nll import nll_oracle, nll_test

__all__ = [
    "METRICS",
    "EvalInputs",
    "MetricSpec",
    "MetricValue",
    "bleu",
    "fed",
    "frechet_distance",
    "lm_score",
    "nll_oracle",
    "nll_test",
    "reverse_lm_score",
    "self_bleu",
    "signature",
]
