"""Models, registered by name; each trains the shared LSTM generator its own way."""

from langgan_bench.models import leakgan, maligan, mle, rankgan, relgan, scratchgan, seqgan  # noqa: F401  (registers)
from langgan_bench.models.base import MODELS, Diverged, Model, TrainContext, TrainSummary
from langgan_bench.models.generator import GeneratorConfig, LSTMGenerator

__all__ = ["MODELS", "Diverged", "GeneratorConfig", "LSTMGenerator", "Model", "TrainContext", "TrainSummary"]
