"""Maximum-likelihood training of the shared generator (``train_mle``): teacher forcing, cross-entropy, Adam,
gradient clipping, early stopping on the validation NLL, the best epoch's weights kept.

One loop, shared by the MLE model (``models/mle.py``), the pre-training of the GANs that pre-train, and the
language models of the LM and reverse-LM scores (``metrics/lm.py``), so that no two of them can differ.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from langgan_bench.core.config import derive_seed
from langgan_bench.datasets.base import Dataset, trim_padding
from langgan_bench.models.networks.generator import GeneratorConfig, LSTMGenerator
from langgan_bench.models.training.base import Diverged, TrainContext, adam, optimise


@dataclass(frozen=True)
class MLETraining:
    batch_size: int = 64
    lr: float = 1e-2
    grad_clip: float = 5.0
    max_epochs: int = 30
    patience: int = 3  # epochs without a better validation NLL before stopping


@dataclass
class MLEProgress:
    """Where ``train_mle`` stands (part of every checkpoint)."""

    epoch: int = 0
    batch: int = 0
    best_valid: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    loss_sum: float = 0.0
    tokens: int = 0
    steps: int = 0  # optimiser steps taken in this phase (one per batch)
    elapsed: float = 0.0
    stopped: bool = False

    def record(self, label: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The phase's history entries and its phase record, on its own step counter (what a run of this phase
        alone stores; the GAN template places a phase on the run's)."""
        phase = {"phase": label, "kind": "mle", "seconds": self.elapsed, "first_step": 0, "last_step": self.steps}
        return [dict(h, phase=label) for h in self.history], phase


@dataclass(frozen=True)
class MLEConfig:
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    training: MLETraining = field(default_factory=MLETraining)


def train_mle(
    gen: LSTMGenerator,
    data: Dataset,
    cfg: MLETraining,
    ctx: TrainContext,
    resumed: dict[str, Any] | None,
    snapshot: Callable[[dict[str, Any]], dict[str, Any]],
    label: str = "mle",
    order_label: str | None = None,
) -> MLEProgress:
    """Train ``gen`` by maximum likelihood with early stopping; returns the phase's final progress.

    ``resumed`` is this phase's part of a checkpoint (or None): ``{"progress": MLEProgress, "optim": ...,
    "best": ...}``; ``snapshot(phase_state)`` wraps the phase state (same keys) into the whole checkpoint (so a
    GAN can add its discriminator). ``label`` names the phase in log lines; ``order_label`` (default: the
    label) seeds each epoch's batch order.
    """
    opt = adam(gen.parameters(), lr=cfg.lr)
    ps = MLEProgress()
    best: dict[str, torch.Tensor] | None = None
    if resumed is not None:
        ps, best = resumed["progress"], resumed["best"]
        opt.load_state_dict(resumed["optim"])
    base_elapsed, t0 = ps.elapsed, time.monotonic()

    def clock() -> None:  # the phase's wall time so far, across resumes
        ps.elapsed = base_elapsed + time.monotonic() - t0

    def state() -> dict[str, Any]:
        clock()
        return snapshot({"progress": copy.deepcopy(ps), "optim": opt.state_dict(), "best": best})

    n = len(data.train)
    while ps.epoch < cfg.max_epochs and not ps.stopped:
        epoch = ps.epoch
        g = torch.Generator().manual_seed(derive_seed(ctx.seed, order_label or label, epoch))
        order = torch.randperm(n, generator=g)
        batches = order.split(cfg.batch_size)
        gen.train()
        started = time.monotonic()
        for b in ctx.progress(
            range(ps.batch, len(batches)), desc=f"{label} epoch {epoch + 1}", total=len(batches) - ps.batch
        ):
            x = trim_padding(data.train[batches[b]], gen.pad_id)
            n_tok = int(gen.mask(x).sum())  # counted on the CPU copy: no device synchronisation
            loss = -gen.log_prob(x.to(gen.device)).sum() / n_tok  # fused output layer: no (B, L, V) tensors
            try:
                value = optimise(
                    loss, opt, step=ctx.steps, what="MLE loss", clip=cfg.grad_clip, clip_groups=[gen.parameters()]
                )
            except Diverged as e:  # what led to it goes with it (a plain MLE run's record keeps it)
                clock()
                e.history, phase = ps.record(label)
                e.phases = [{**phase, "diverged": True}]
                raise
            ps.loss_sum += value * n_tok
            ps.tokens += n_tok
            ps.batch, ps.steps = b + 1, ps.steps + 1
            ctx.step_done(state)
        valid = gen.nll(data.valid)
        improved = valid < ps.best_valid
        if improved:
            best = {k: v.detach().cpu().clone() for k, v in gen.state_dict().items()}
            ps.best_valid, ps.best_epoch, ps.bad_epochs = valid, epoch + 1, 0
        else:
            ps.bad_epochs += 1
        train_nll = ps.loss_sum / max(ps.tokens, 1)
        # step: the phase's optimiser updates so far (the template adds the run's steps before the phase)
        ps.history.append({"epoch": epoch + 1, "step": ps.steps, "train_nll": train_nll, "valid_nll": valid})
        ctx.log(
            f"{label} epoch {epoch + 1}/{cfg.max_epochs}: train NLL {train_nll:.4f}  valid NLL {valid:.4f}"
            f"{'  (best)' if improved else ''}  [{time.monotonic() - started:.1f}s]"
        )
        ps.epoch, ps.batch, ps.loss_sum, ps.tokens = epoch + 1, 0, 0.0, 0
        ps.stopped = ps.bad_epochs >= cfg.patience
        if ps.stopped:
            ctx.log(
                f"{label}: early stop, no better validation NLL for {cfg.patience} epochs; "
                f"keeping epoch {ps.best_epoch}"
            )
        ctx.save(state())
    if best is not None:
        gen.load_state_dict(best)
    clock()
    return ps
