"""Models, registered by name; each trains the shared LSTM generator its own way.

Layers inside this folder, each importing only those below it (checked by ``lint-imports``, pyproject.toml):
the model files (one per model, ``plugins.py``), ``training/`` (the Model contract, the GAN template, MLE,
roll-outs, policy gradient, shared pre-training), ``networks/`` (the generator and the discriminators).

The built-in models are listed here by name, file and one-line summary, and a model's file is imported at its
first lookup: ``langgan-bench list models`` and ``--help`` import no torch. Models from outside the repository
(``package.module:ClassName``, or installed packages' entry points) are resolved in ``plugins.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from langgan_bench.core.registry import Registry

if TYPE_CHECKING:
    from langgan_bench.models.training.base import Model

MODELS: Registry[type[Model]] = Registry("model")

# name, where the class lives, its one-line summary (the class docstring's first line: tests/test_registry.py)
for _name, _target, _summary in (
    ("mle", "mle:MLE", "Maximum-likelihood LSTM language model (teacher forcing)."),
    (
        "seqgan",
        "seqgan:SeqGAN",
        "SeqGAN: MLE pre-training, then REINFORCE with Monte Carlo roll-out rewards from a CNN discriminator.",
    ),
    (
        "rankgan",
        "rankgan:RankGAN",
        "RankGAN: MLE pre-training, then policy gradient on the rank score of a CNN ranker, with roll-outs.",
    ),
    (
        "leakgan",
        "leakgan:LeakGAN",
        "LeakGAN-lite: hierarchical manager/worker generator with features leaked from the CNN discriminator.",
    ),
    (
        "scratchgan",
        "scratchgan:ScratchGAN",
        "ScratchGAN: no pre-training; dense discounted rewards from an LSTM discriminator, large batches.",
    ),
    (
        "maligan",
        "maligan:MaliGAN",
        "MaliGAN: MLE pre-training, then sentences re-weighted by normalised D/(1−D) with a mean baseline.",
    ),
    (
        "relgan",
        "relgan:RelGAN",
        "RelGAN (LSTM generator variant): Gumbel-softmax samples, relativistic loss, multi-representation CNN.",
    ),
):
    MODELS.add_lazy(_name, f"{__name__}.{_target}", _summary)

from langgan_bench.models.plugins import model_source, resolve_model  # noqa: E402  (plugins use MODELS)

__all__ = ["MODELS", "model_source", "resolve_model"]
