"""A model from outside the registry, for tests/test_plugins.py: the MLE model under another name."""

from __future__ import annotations

from typing import ClassVar

from langgan_bench.models.mle import MLE
from langgan_bench.models.training.mle import MLEConfig


class PluginMLE(MLE):
    """MLE, as a plugin would ship it (tiny profile only)."""

    name = "plugin_mle"
    profiles: ClassVar[dict[str, MLEConfig]] = {"tiny": MLE.profiles["tiny"]}


class Unnamed(MLE):
    """A subclass that forgot its own name: it would clash with the built-in mle."""


class BadName(MLE):
    name = "../escape"


NOT_A_MODEL = 42
