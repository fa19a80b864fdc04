"""The one routine that trains a discriminator against the current generator: rounds of fresh negatives
against as many real sentences (SeqGAN's schedule), resumable at any batch.

The real sentences, the negatives' seed and the batch order are drawn from seeds derived from the run seed
and the round's counters, so a resumed run continues with the very same batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from langgan_bench.core.config import derive_seed
from langgan_bench.models.training.base import TrainContext, optimise
from langgan_bench.models.training.optim import Optimizer
from langgan_bench.models.training.policy_gradient import check_collapse


@dataclass(frozen=True)
class DiscTraining:
    """How a discriminator is trained against the current generator (SeqGAN's schedule): ``rounds`` times,
    draw ``samples`` fresh negatives and as many real sentences, and make ``epochs`` passes over them in
    batches of ``batch_size`` (half real, half generated)."""

    rounds: int = 50
    epochs: int = 3
    samples: int = 10_000
    batch_size: int = 64
    lr: float = 1e-4


@dataclass
class RoundsProgress:
    """Where a stage of discriminator rounds stands (part of every checkpoint)."""

    round: int = 0
    epoch: int = 0
    batch: int = 0
    #: the round's negatives, kept in the checkpoint: the generator may depend on this discriminator
    negatives: torch.Tensor | None = None


def train_discriminator(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    opt: Optimizer,
    module: nn.Module,
    sample: Callable[[int, int], torch.Tensor],
    real: torch.Tensor,
    cfg: DiscTraining,
    prog: RoundsProgress,
    ctx: TrainContext,
    state: Callable[[], dict[str, Any]],
    label: str,
    on_round: Callable[[int, float], None] | None = None,
) -> float:
    """Train ``module`` by ``loss_fn(real, fake)`` for ``cfg.rounds`` rounds; returns the mean loss.

    ``sample(n, seed)`` draws a round's negatives from the (fixed) generator. ``prog`` is part of the
    checkpoint; the real sentences and the batch order are drawn with seeds from its counters, so a resumed run
    continues with the very same batch. ``on_round(round, mean loss)`` is called as each round ends (the
    training history; a round resumed in its middle reports the mean of its batches since then).
    """
    device = next(module.parameters()).device
    for group in opt.param_groups:  # pre-training and adversarial rounds may use different rates
        group["lr"] = cfg.lr
    total, count = 0.0, 0
    while prog.round < cfg.rounds:
        r, round_total, round_count = prog.round, 0.0, 0
        if prog.negatives is None:
            prog.negatives = sample(cfg.samples, derive_seed(ctx.seed, label, "negatives", r)).cpu()
        fake = prog.negatives
        check_collapse(fake, ctx.steps)
        pick = torch.Generator().manual_seed(derive_seed(ctx.seed, label, "positives", r))
        pos = real[torch.randperm(len(real), generator=pick)[: cfg.samples]]
        n = min(len(pos), len(fake))
        half = max(cfg.batch_size // 2, 1)
        while prog.epoch < cfg.epochs:
            g = torch.Generator().manual_seed(derive_seed(ctx.seed, label, "order", r, prog.epoch))
            order_real, order_fake = torch.randperm(n, generator=g), torch.randperm(n, generator=g)
            batches = list(zip(order_real.split(half), order_fake.split(half), strict=True))
            module.train()
            for b in range(prog.batch, len(batches)):
                i, j = batches[b]
                loss = loss_fn(pos[i].to(device), fake[j].to(device))
                round_total += optimise(loss, opt, step=ctx.steps, what=f"{label} discriminator loss")
                round_count += 1
                prog.batch = b + 1
                ctx.step_done(state)
            prog.epoch, prog.batch = prog.epoch + 1, 0
        prog.round, prog.epoch, prog.negatives = r + 1, 0, None
        total, count = total + round_total, count + round_count
        if on_round is not None:
            on_round(r, round_total / max(round_count, 1))
    return total / max(count, 1)


def classifier_accuracy(prob_real_of_real: torch.Tensor, prob_real_of_fake: torch.Tensor) -> dict[str, float]:
    """A sentence classifier's accuracy: real sentences called real (D > ½), generated ones called generated
    (D < ½) (the history's ``d_acc_real``, ``d_acc_fake``)."""
    return {
        "d_acc_real": float((prob_real_of_real > 0.5).double().mean()),
        "d_acc_fake": float((prob_real_of_fake < 0.5).double().mean()),
    }


def pair_accuracy(score_of_real: torch.Tensor, score_of_fake: torch.Tensor) -> dict[str, float]:
    """A ranking or relativistic critic's accuracy: how often it scores the i-th real sentence above the i-th
    generated one (the history's ``d_acc_pairs``); ½ is chance."""
    n = min(len(score_of_real), len(score_of_fake))
    return {"d_acc_pairs": float((score_of_real[:n] > score_of_fake[:n]).double().mean())}
