"""RelGAN (Nie, Narodytska and Patel, ICLR 2019), LSTM generator variant: the generator's samples are
relaxed with the Gumbel-softmax so that the discriminator's gradient reaches the generator directly (no
policy gradient, no roll-outs).

- Generator: the shared LSTM (``LSTMGenerator``), MLE pre-trained. The paper's generator is a relational
  memory; it also reports an LSTM generator, which is what this is (``list models`` says so). Each step
  draws the next token by the Gumbel-max trick, ŷ_t = argmax(o_t + g_t) (an exact sample), and hands the
  discriminator the relaxed one-hot softmax(β·(o_t + g_t)) (``LSTMGenerator.sample_relaxed``); the next step
  reads the drawn token, as in the authors' code.
- Inverse temperature β annealed exponentially from 1 to β_max over the adversarial steps:
  β_n = β_max^(n/N) (the paper's "exp" schedule).
- Discriminator: multi-representation CNN. S embedding matrices (V × d) map each (soft) one-hot sequence to
  S representations; one set of convolutions (widths × d), ReLU, max over time, a highway layer, dropout and
  a two-layer head give one logit per representation; the losses average over them.
- Loss: relativistic standard GAN, L_D = softplus(−(D(x_real) − D(x_fake))), L_G = softplus(−(D(x_fake) −
  D(x_real))), on a real and a generated batch, Adam for both.
- Phases (the template's): MLE pre-training, then steps of ``d_steps`` discriminator updates and one
  generator update.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from langgan_bench.core.config import derive_seed
from langgan_bench.datasets.base import Dataset
from langgan_bench.kernels.dense import Dense
from langgan_bench.models.networks.discriminators import fitting_filters
from langgan_bench.models.networks.generator import GeneratorConfig, LSTMGenerator, evaluating
from langgan_bench.models.training.base import TrainContext, adam, make_generator, optimise
from langgan_bench.models.training.discriminator import pair_accuracy
from langgan_bench.models.training.mle import MLETraining
from langgan_bench.models.training.policy_gradient import check_collapse
from langgan_bench.models.training.template import AdversarialModel, AdversarialSteps, Phase, Pretrain


@dataclass(frozen=True)
class MultiRepCNNConfig:
    num_rep: int = 64  # S, embedding representations
    emb_dim: int = 64  # d, per representation
    filter_sizes: tuple[int, ...] = (2, 3, 4, 5)
    num_filters: tuple[int, ...] = (300, 300, 300, 300)
    hidden: int = 100  # the head's hidden layer
    dropout: float = 0.25


@dataclass(frozen=True)
class RelTraining:
    steps: int = 3000  # adversarial steps (the paper: 3,000 on the synthetic data with a 2,000-step anneal)
    batch_size: int = 64
    d_steps: int = 5  # discriminator updates per generator update
    g_lr: float = 1e-4
    d_lr: float = 1e-4
    beta_max: float = 100.0  # β at the last step
    grad_clip: float = 5.0  # on the generator, as the authors' code
    log_every: int = 100


@dataclass(frozen=True)
class RelGANConfig:
    generator: GeneratorConfig = field(default_factory=lambda: GeneratorConfig(emb_dim=32, hidden_dim=32))
    pretrain: MLETraining = field(default_factory=lambda: MLETraining(max_epochs=150, patience=150))
    discriminator: MultiRepCNNConfig = field(default_factory=MultiRepCNNConfig)
    training: RelTraining = field(default_factory=RelTraining)


class MultiRepCNN(nn.Module):
    """RelGAN's discriminator: (B, L) ids or (B, L, V) soft one-hots -> (B, S) logits, one per representation."""

    def __init__(self, vocab_size: int, max_len: int, cfg: MultiRepCNNConfig) -> None:
        super().__init__()
        widths = fitting_filters(cfg.filter_sizes, cfg.num_filters, max_len)
        self.cfg, self.vocab_size, self.max_len = cfg, vocab_size, max_len
        self.embed = nn.Parameter(torch.randn(vocab_size, cfg.num_rep * cfg.emb_dim) / math.sqrt(cfg.emb_dim))
        self.convs = nn.ModuleList(nn.Conv2d(1, n, (w, cfg.emb_dim)) for w, n in widths)
        dim = sum(n for _, n in widths)
        self.transform, self.gate = Dense(dim, dim), Dense(dim, dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Sequential(Dense(dim, cfg.hidden), nn.ReLU(), Dense(cfg.hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.max_len:
            raise ValueError(f"the CNN reads sentences of exactly {self.max_len} tokens, got {x.shape[1]}")
        e = x @ self.embed if x.is_floating_point() else F.embedding(x, self.embed)  # (B, L, S·d)
        b, length, s, d = x.shape[0], x.shape[1], self.cfg.num_rep, self.cfg.emb_dim
        e = e.view(b, length, s, d).transpose(1, 2).reshape(b * s, 1, length, d)  # each representation a row
        h = torch.cat([torch.relu(conv(e)).squeeze(3).amax(dim=2) for conv in self.convs], dim=1)
        t = torch.sigmoid(self.gate(h))
        h = t * torch.relu(self.transform(h)) + (1 - t) * h
        return self.head(self.dropout(h)).view(b, s)


def relativistic_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """softplus(−(pos − neg)), averaged: the relativistic standard loss that ``pos`` look more real than ``neg``
    (the discriminator: pos = real, neg = fake; the generator: the other way round)."""
    return F.softplus(-(pos - neg)).mean()


def beta_at(step: int, steps: int, beta_max: float) -> float:
    """The exponential schedule β_n = β_max^(n/N): 1 at the first step, β_max at the last."""
    return beta_max ** (step / max(steps - 1, 1))


class RelGAN(AdversarialModel):
    """RelGAN (LSTM generator variant): Gumbel-softmax samples, relativistic loss, multi-representation CNN."""

    name = "relgan"
    profiles: ClassVar[dict[str, RelGANConfig]] = {
        "tiny": RelGANConfig(
            GeneratorConfig(emb_dim=16, hidden_dim=32),
            MLETraining(max_epochs=1),
            MultiRepCNNConfig(num_rep=4, emb_dim=8, num_filters=(8, 8, 8, 8), hidden=16),
            RelTraining(steps=4, batch_size=32, d_steps=1, g_lr=1e-3, d_lr=1e-3, log_every=2),
        ),
        # SeqGAN's small generator and MLE budget; 8 representations of 16 and 32 filters per width (the
        # paper's 64 x 64 and 300 do not fit a CPU minute); rates 10x the paper's for ~5% of its steps
        "small": RelGANConfig(
            GeneratorConfig(emb_dim=32, hidden_dim=32),
            MLETraining(max_epochs=5, patience=1),
            MultiRepCNNConfig(num_rep=8, emb_dim=16, num_filters=(32, 32, 32, 32), hidden=32),
            RelTraining(steps=150, d_steps=3, g_lr=1e-3, d_lr=1e-3, log_every=25),
        ),
        # Nie et al. 2019, synthetic data (and their code, weilinie/RelGAN run.py): batch 64, Adam 1e-4 for both,
        # 5 discriminator steps per generator step, multi-representation CNN with 64 representations of 64
        # and 300 filters of widths 2-5, β_max 100 ("exp" anneal); generator pre-trained by MLE
        "paper": RelGANConfig(),
    }

    def __init__(self, config: RelGANConfig, dataset: Dataset, device: torch.device) -> None:
        super().__init__(config, dataset, device)
        tr = config.training
        self.gen = make_generator(dataset, config.generator, device)
        self.disc = MultiRepCNN(len(dataset.vocab), dataset.max_len, config.discriminator).to(device)
        self.g_opt = adam(self.gen.parameters(), lr=tr.g_lr)
        self.d_opt = adam(self.disc.parameters(), lr=tr.d_lr)

    @property
    def generator(self) -> LSTMGenerator:
        return self.gen

    def phases(self) -> list[Phase]:
        tr = self.config.training
        return [Pretrain(self.config.pretrain, self.name), AdversarialSteps(tr.steps, tr.log_every)]

    def modules(self) -> dict[str, Any]:
        return {"generator": self.gen, "discriminator": self.disc, "g_opt": self.g_opt, "d_opt": self.d_opt}

    def _real(self, ctx: TrainContext, *purpose: object) -> torch.Tensor:
        g = torch.Generator().manual_seed(derive_seed(ctx.seed, self.name, "real", *purpose))
        idx = torch.randint(len(self.train_data), (self.config.training.batch_size,), generator=g)
        return self.train_data[idx].to(self.device)

    def _fake(self, ctx: TrainContext, n: int, *purpose: object) -> tuple[torch.Tensor, torch.Tensor]:
        tr = self.config.training
        g = torch.Generator(device=self.device).manual_seed(derive_seed(ctx.seed, self.name, "fake", n, *purpose))
        hard, soft = self.gen.sample_relaxed(tr.batch_size, beta_at(n, tr.steps, tr.beta_max), g)
        check_collapse(hard, ctx.steps)
        return hard, soft

    @torch.no_grad()
    def discriminator_probe(self, real: torch.Tensor, fake: torch.Tensor, seed: int) -> dict[str, float]:
        """The relativistic critic's accuracy: how often it scores a real sentence above a generated one."""
        with evaluating(self.disc):
            return pair_accuracy(self.disc(real).mean(1), self.disc(fake).mean(1))

    def discriminator_step(self, ctx: TrainContext, n: int) -> dict[str, float]:
        """``d_steps`` updates, each on a fresh real and a fresh (relaxed, detached) generated batch."""
        total = 0.0
        self.disc.train()
        for i in range(self.config.training.d_steps):
            with torch.no_grad():
                _, fake = self._fake(ctx, n, "d", i)
            loss = relativistic_loss(self.disc(self._real(ctx, "d", n, i)), self.disc(fake))
            total += optimise(loss, self.d_opt, step=ctx.steps, what="discriminator loss")
        return {"d_loss": total / self.config.training.d_steps}

    def adversarial_step(self, ctx: TrainContext, n: int) -> dict[str, float]:
        """One generator update through the relaxed samples."""
        self.gen.train()
        _, fake = self._fake(ctx, n, "g")
        real = self._real(ctx, "g", n)
        loss = relativistic_loss(self.disc(fake), self.disc(real))
        clip, params = self.config.training.grad_clip, [self.gen.parameters()]
        g_loss = optimise(loss, self.g_opt, step=ctx.steps, what="generator loss", clip=clip, clip_groups=params)
        return {"g_loss": g_loss, "beta": beta_at(n, self.config.training.steps, self.config.training.beta_max)}
