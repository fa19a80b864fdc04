"""Models, registered by name; each trains the shared LSTM generator its own way. Models from outside the
repository (``package.module:ClassName``, or installed packages' entry points) are resolved in plugins.py."""

from langgan_bench.models import leakgan, maligan, mle, rankgan, relgan, scratchgan, seqgan  # noqa: F401  (registers)
from langgan_bench.models.base import MODELS, Diverged, Model, TrainContext, TrainSummary
from langgan_bench.models.generator import GeneratorConfig, LSTMGenerator
from langgan_bench.models.plugins import model_source, resolve_model

__all__ = [
    "MODELS",
    "Diverged",
    "GeneratorConfig",
    "LSTMGenerator",
    "Model",
    "TrainContext",
    "TrainSummary",
    "model_source",
    "resolve_model",
]
