"""ScratchGAN (d'Autume et al., NeurIPS 2019): a language GAN trained from scratch, without MLE pre-training.

Every step, on a large batch: one discriminator update, then one generator update.
- Discriminator: an LSTM with a logit at every step, D(x_{1..t}), trained by cross-entropy at every counted
  position (real = 1, generated = 0), regularised by dropout on its embedding matrix, layer normalisation and
  an L2 term (weight decay).
- Generator (the shared LSTM, embeddings learned from scratch): REINFORCE with dense per-step rewards
  r_t = 2·D(x_{1..t}) − 1, discounted returns R_t = Σ_{s≥t} γ^{s−t} r_s, and a moving-average baseline b of the
  mean return; loss −Σ_t (R_t − b)·log π(x_t | x_<t).
Each update draws its own fresh generated batch (the authors' graph samples anew in each session run). The
whole state (both networks, both optimisers, the baseline, the step counter) is checkpointed by the template
(``template.py``), so a run resumes at any step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from langgan_bench.core.config import derive_seed
from langgan_bench.datasets.base import Dataset, trim_padding
from langgan_bench.models.networks.discriminators import LSTMDiscConfig, LSTMDiscriminator
from langgan_bench.models.networks.generator import GeneratorConfig, LSTMGenerator
from langgan_bench.models.training.base import TrainContext, adam, make_generator, optimise
from langgan_bench.models.training.discriminator import classifier_accuracy
from langgan_bench.models.training.policy_gradient import (
    MovingAverageBaseline,
    check_collapse,
    dense_rewards,
    discounted_returns,
    policy_gradient_loss,
)
from langgan_bench.models.training.template import AdversarialModel, AdversarialSteps, Phase


@dataclass(frozen=True)
class ScratchTraining:
    steps: int = 200_000  # each: one discriminator and one generator update
    batch_size: int = 512
    g_lr: float = 9.59e-5
    d_lr: float = 9.38e-3
    beta1: float = 0.5  # Adam β1 of both networks
    gamma: float = 0.23  # discount of the per-step rewards
    baseline_decay: float = 0.08  # b ← decay·b + (1 − decay)·mean(R)
    log_every: int = 1000


@dataclass(frozen=True)
class ScratchGANConfig:
    generator: GeneratorConfig = field(default_factory=lambda: GeneratorConfig(64, 512, num_layers=2))
    discriminator: LSTMDiscConfig = field(default_factory=LSTMDiscConfig)
    training: ScratchTraining = field(default_factory=ScratchTraining)


class ScratchGAN(AdversarialModel):
    """ScratchGAN: no pre-training; dense discounted rewards from an LSTM discriminator, large batches."""

    name = "scratchgan"
    profiles: ClassVar[dict[str, ScratchGANConfig]] = {
        "tiny": ScratchGANConfig(
            GeneratorConfig(emb_dim=16, hidden_dim=32),
            LSTMDiscConfig(emb_dim=16, hidden_dim=32),
            ScratchTraining(steps=12, batch_size=128, g_lr=1e-2, d_lr=1e-2, log_every=4),
        ),
        # the paper's learning rates are tuned for 200k steps; the CPU budget (~2 minutes) allows 160, so the
        # generator's rate is raised (as MLE's small profile raises its own); the algorithm is unchanged
        "small": ScratchGANConfig(
            GeneratorConfig(emb_dim=64, hidden_dim=64),
            LSTMDiscConfig(emb_dim=64, hidden_dim=64),
            ScratchTraining(steps=160, batch_size=256, g_lr=5e-3, log_every=20),
        ),
        # d'Autume et al. 2019 and their code (deepmind-research/scratchgan/experiment.py flags): batch 512;
        # generator 2 x 512 LSTM, embedding 64 trained from scratch; discriminator 1 x 512 LSTM with layer norm,
        # embedding dropout 0.1, L2 1e-6; Adam β1 0.5, lr 9.59e-5 (G) and 9.38e-3 (D); γ = 0.23; baseline
        # decay 0.08; 200,000 steps of one D and one G update.
        "paper": ScratchGANConfig(),
    }

    def __init__(self, config: ScratchGANConfig, dataset: Dataset, device: torch.device) -> None:
        super().__init__(config, dataset, device)
        tr, v = config.training, dataset.vocab
        self.gen = make_generator(dataset, config.generator, device)
        self.disc = LSTMDiscriminator(len(v), dataset.max_len, config.discriminator, v.eos_id).to(device)
        self.g_opt = adam(self.gen.parameters(), lr=tr.g_lr, betas=(tr.beta1, 0.999))
        self.d_opt = adam(self.disc.parameters(), lr=tr.d_lr, betas=(tr.beta1, 0.999))
        self.baseline = MovingAverageBaseline(tr.baseline_decay)

    def phases(self) -> list[Phase]:
        tr = self.config.training
        return [AdversarialSteps(tr.steps, tr.log_every)]  # no pre-training: that is the point

    def modules(self) -> dict[str, Any]:
        return {
            "generator": self.gen,
            "discriminator": self.disc,
            "g_opt": self.g_opt,
            "d_opt": self.d_opt,
            "baseline": self.baseline,
        }

    @property
    def generator(self) -> LSTMGenerator:
        return self.gen

    def _real_batch(self, ctx: TrainContext, step: int) -> torch.Tensor:
        """Batches walk through a seeded permutation of the training set, epoch after epoch (columns that are
        padding in every row are cut off: both networks are causal, so no number changes)."""
        bs = min(self.config.training.batch_size, len(self.train_data))
        per_epoch = len(self.train_data) // bs
        epoch, b = divmod(step, per_epoch)
        order = torch.randperm(
            len(self.train_data), generator=torch.Generator().manual_seed(derive_seed(ctx.seed, self.name, epoch))
        )
        return trim_padding(self.train_data[order[b * bs : (b + 1) * bs]], self.gen.pad_id).to(self.device)

    def _fake_batch(self, ctx: TrainContext, step: int, purpose: str) -> torch.Tensor:
        x = self.gen.sample(self.config.training.batch_size, 1.0, derive_seed(ctx.seed, self.name, purpose, step))
        check_collapse(x, ctx.steps)
        return trim_padding(x, self.gen.pad_id).to(self.device)

    def discriminator_probe(self, real: torch.Tensor, fake: torch.Tensor, seed: int) -> dict[str, float]:
        """D at each sentence's last counted step: the LSTM discriminator's verdict on the whole sentence."""

        def whole(x: torch.Tensor) -> torch.Tensor:
            last = (self.gen.mask(x).sum(1) - 1).clamp(min=0)
            return self.disc.prob_real(x)[torch.arange(len(x), device=x.device), last]

        return classifier_accuracy(whole(real), whole(fake))

    def discriminator_step(self, ctx: TrainContext, n: int) -> dict[str, float]:
        """Real vs a fresh generated batch, cross-entropy at every step of every sentence."""
        self.disc.train()
        d_loss = self.disc.loss(self._real_batch(ctx, n), self._fake_batch(ctx, n, "d-batch"))
        return {"d_loss": optimise(d_loss, self.d_opt, step=ctx.steps, what="discriminator loss")}

    def adversarial_step(self, ctx: TrainContext, n: int) -> dict[str, float]:
        """REINFORCE with dense discounted rewards and the moving-average baseline, on another fresh batch."""
        x = self._fake_batch(ctx, n, "g-batch")
        mask = self.gen.mask(x)
        prob = self.disc.prob_real(x)
        rewards = dense_rewards(prob, mask)
        returns = discounted_returns(rewards, self.config.training.gamma)
        b = self.baseline.update(returns, mask)
        self.gen.train()
        g_loss = policy_gradient_loss(self.gen.log_prob(x), returns, mask, b)
        g = optimise(g_loss, self.g_opt, step=ctx.steps, what="generator loss")
        r = rewards[mask]  # the per-step rewards 2·D − 1 of the counted positions
        return {"d_fake": float(prob[mask].mean()), "g_loss": g, "baseline": b, "reward": float(r.mean()),
                "reward_std": float(r.std())}  # fmt: skip
