"""Models from outside the registry: for tests/test_plugins.py the MLE model under another name, and for the
executor tests (tests/test_grid.py) MLE trained for one epoch, a cell that is quick and still checkpoints."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from langgan_bench.models.mle import MLE
from langgan_bench.models.training.mle import MLEConfig


class PluginMLE(MLE):
    """MLE, as a plugin would ship it (tiny profile only)."""

    name = "plugin_mle"
    profiles: ClassVar[dict[str, MLEConfig]] = {"tiny": MLE.profiles["tiny"]}


class QuickMLE(MLE):
    """MLE at the tiny size for one epoch (32 steps): what the grid's tests run where the executor, not the
    model, is under test."""

    name = "quick_mle"
    profiles: ClassVar[dict[str, MLEConfig]] = {
        "tiny": dataclasses.replace(
            MLE.profiles["tiny"], training=dataclasses.replace(MLE.profiles["tiny"].training, max_epochs=1)
        )
    }


#: ``--model`` for QuickMLE
QUICK_MLE = f"{__name__}:{QuickMLE.__name__}"


class Unnamed(MLE):
    """A subclass that forgot its own name: it would clash with the built-in mle."""


class BadName(MLE):
    name = "../escape"


NOT_A_MODEL = 42
