"""SeqGAN (Yu et al., AAAI 2017): the shared LSTM generator trained as a policy against a CNN discriminator.

Phases (each checkpointed and resumable at any step):
1. MLE pre-training of the generator (``train_mle``, early stopping on the validation NLL).
2. Discriminator pre-training: ``rounds`` times, fresh negatives from the generator against real sentences.
3. Adversarial epochs ("total batches"): ``g_steps`` REINFORCE updates, each on a fresh batch whose every prefix
   is valued by K Monte Carlo roll-outs scored by the discriminator (``rollout_rewards``, one batched program);
   the roll-outs come from a delayed copy of the generator, θ_roll ← r·θ_roll + (1 − r)·θ_gen with r = 0.8
   (the embedding is copied as is, as in the authors' code); then the discriminator is retrained on fresh
   negatives.

RankGAN subclasses this model and replaces the discriminator and the reward (``_make_discriminator``,
``_disc_loss``, ``_reward_fn``).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from langgan_bench.datasets.base import Dataset
from langgan_bench.models.base import MODELS, Model, TrainContext, TrainSummary, derive_seed, make_generator
from langgan_bench.models.discriminators import (
    CNNConfig,
    CNNDiscriminator,
    DiscTraining,
    fresh_rounds,
    train_discriminator,
)
from langgan_bench.models.generator import GeneratorConfig, LSTMGenerator, evaluating
from langgan_bench.models.mle import MLETraining, train_mle
from langgan_bench.models.policy_gradient import check_collapse, check_finite, policy_gradient_loss
from langgan_bench.models.rollout import LSTMPolicy, RewardFn, rollout_rewards


@dataclass(frozen=True)
class AdversarialTraining:
    epochs: int = 200  # SeqGAN's TOTAL_BATCH
    g_steps: int = 1  # generator updates per epoch
    batch_size: int = 64
    rollouts: int = 16  # K
    rollout_update: float = 0.8  # delayed roll-out network: θ_roll ← r·θ_roll + (1 − r)·θ_gen
    lr: float = 1e-2
    grad_clip: float = 5.0


@dataclass(frozen=True)
class SeqGANConfig:
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    pretrain: MLETraining = field(default_factory=MLETraining)
    discriminator: CNNConfig = field(default_factory=CNNConfig)
    d_pretrain: DiscTraining = field(default_factory=DiscTraining)
    d_train: DiscTraining = field(default_factory=lambda: DiscTraining(rounds=5))  # after each adversarial epoch
    adversarial: AdversarialTraining = field(default_factory=AdversarialTraining)


# the paper's CNN 10x narrower (172 filters, emb 32) for CPU profiles: roll-outs score ~10^4 sentences a step
_SMALL_CNN = CNNConfig(emb_dim=32, num_filters=(10, 20, 20, 20, 20, 10, 10, 10, 10, 10, 16, 16))
_TINY_CNN = CNNConfig(emb_dim=16, num_filters=(4, 8, 8, 8, 8, 4, 4, 4, 4, 4, 8, 8))


@MODELS.register("seqgan")
class SeqGAN(Model):
    """SeqGAN: MLE pre-training, then REINFORCE with Monte Carlo roll-out rewards from a CNN discriminator."""

    name = "seqgan"
    profiles: ClassVar[dict[str, SeqGANConfig]] = {
        "tiny": SeqGANConfig(
            GeneratorConfig(emb_dim=16, hidden_dim=32),
            MLETraining(max_epochs=1),
            _TINY_CNN,
            DiscTraining(rounds=1, epochs=1, samples=256),
            DiscTraining(rounds=1, epochs=1, samples=128),
            AdversarialTraining(epochs=2, batch_size=32, rollouts=2),
        ),
        # ~2 CPU minutes: the paper's generator, the 10x narrower CNN, K = 4 and a few % of the paper's epochs;
        # the discriminator's rate is 10x the paper's as it gets ~0.3% of the paper's discriminator steps
        "small": SeqGANConfig(
            GeneratorConfig(emb_dim=32, hidden_dim=32),
            MLETraining(max_epochs=5, patience=1),
            _SMALL_CNN,
            DiscTraining(rounds=2, epochs=1, samples=2000, lr=1e-3),
            DiscTraining(rounds=1, epochs=1, samples=1024, lr=1e-3),
            AdversarialTraining(epochs=30, rollouts=4),
        ),
        # Yu et al. 2017 and their code (LantaoYu/SeqGAN, sequence_gan.py): generator emb 32, hidden 32, Adam
        # lr 0.01, clip 5, batch 64, 120 MLE epochs; CNN emb 64, widths 1-10,15,20 with 100-200 filters,
        # highway, dropout 0.25, L2 0.2, Adam 1e-4; discriminator pre-training 50 x (10,000 negatives, 3
        # epochs); 200 adversarial epochs of 1 generator step with 16 roll-outs and update rate 0.8, then
        # 5 x (10,000 negatives, 3 epochs).
        "paper": SeqGANConfig(
            GeneratorConfig(emb_dim=32, hidden_dim=32),
            MLETraining(batch_size=64, lr=1e-2, grad_clip=5.0, max_epochs=120, patience=120),
            CNNConfig(),
            DiscTraining(rounds=50, epochs=3, samples=10_000),
            DiscTraining(rounds=5, epochs=3, samples=10_000),
            AdversarialTraining(),
        ),
    }

    def __init__(self, config: SeqGANConfig, dataset: Dataset, device: torch.device) -> None:
        super().__init__(config, dataset, device)
        self.gen = make_generator(dataset, config.generator, device)
        self.rollout_net = copy.deepcopy(self.gen)
        self.rollout_net.requires_grad_(False)
        self.disc = self._make_discriminator(dataset).to(device)
        self.g_opt = torch.optim.Adam(self.gen.parameters(), lr=config.adversarial.lr)
        self.d_opt = torch.optim.Adam(self.disc.parameters(), lr=config.d_pretrain.lr)
        self.train_data = dataset.train
        self.progress: dict[str, Any] = dict(
            phase="mle", epoch=0, g_step=0, g_total=0, d=fresh_rounds(), history=[], elapsed=0.0, mle=None
        )

    # --- what RankGAN replaces ---------------------------------------------------------------------------
    def _make_discriminator(self, dataset: Dataset) -> nn.Module:
        return CNNDiscriminator(len(dataset.vocab), dataset.max_len, self.config.discriminator)

    def _disc_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return self.disc.loss(real, fake)

    def _reward_fn(self, seed: int) -> RewardFn:
        """D(Y) of complete sentences (``seed`` seeds any extra inputs a reward needs; SeqGAN's needs none)."""
        return self.disc.prob_real

    # --------------------------------------------------------------------------------------------------------
    @property
    def generator(self) -> LSTMGenerator:
        return self.gen

    def _modules(self) -> dict[str, Any]:
        return {
            "generator": self.gen,
            "rollout": self.rollout_net,
            "discriminator": self.disc,
            "g_opt": self.g_opt,
            "d_opt": self.d_opt,
        }

    def _state(self) -> dict[str, Any]:
        return {**{k: m.state_dict() for k, m in self._modules().items()}, "progress": copy.deepcopy(self.progress)}

    def _load(self, state: dict[str, Any]) -> None:
        for k, m in self._modules().items():
            m.load_state_dict(state[k])
        self.progress = state["progress"]

    def _negatives(self, n: int, seed: int) -> torch.Tensor:
        return self.gen.sample(n, 1.0, seed)

    def fit(self, dataset: Dataset, ctx: TrainContext) -> TrainSummary:
        cfg, name = self.config, self.name
        resumed = ctx.restore()
        if resumed is not None:
            self._load(resumed)
        p = self.progress
        base, t0 = p["elapsed"], time.monotonic()

        def state() -> dict[str, Any]:
            p["elapsed"] = base + time.monotonic() - t0
            return self._state()

        if p["phase"] == "mle":
            mle_part = resumed.get("mle") if resumed else None
            ps = train_mle(self.gen, dataset, cfg.pretrain, ctx, mle_part, lambda ph: {**state(), "mle": ph}, name)
            p["mle"] = {"epochs": ps["epoch"], "best_epoch": ps["best_epoch"], "best_valid": ps["best_valid"]}
            p["history"] += [dict(h, phase="mle") for h in ps["history"]]
            self.rollout_net.load_state_dict(self.gen.state_dict())  # the roll-out network starts as the generator
            p["phase"] = "d_pretrain"
            ctx.save(state())
        if p["phase"] == "d_pretrain":
            started = time.monotonic()
            loss = train_discriminator(
                self._disc_loss, self.d_opt, self.disc, self._negatives, self.train_data, cfg.d_pretrain,
                p["d"], ctx, state, f"{name}-d-pretrain",
            )  # fmt: skip
            ctx.log(f"{name} discriminator pre-training: loss {loss:.4f}  [{time.monotonic() - started:.1f}s]")
            p.update(phase="adversarial", d=fresh_rounds())
            ctx.save(state())
        adv = cfg.adversarial
        while p["epoch"] < adv.epochs:
            e, started = p["epoch"], time.monotonic()
            while p["g_step"] < adv.g_steps:
                self._generator_step(ctx, state)
            d_loss = train_discriminator(
                self._disc_loss, self.d_opt, self.disc, self._negatives, self.train_data, cfg.d_train,
                p["d"], ctx, state, f"{name}-d-adv-{e}",
            )  # fmt: skip
            reward = p.pop("reward_sum") / adv.g_steps
            p["history"].append({"phase": "adversarial", "epoch": e + 1, "reward": reward, "d_loss": d_loss})
            ctx.log(
                f"{name} adversarial epoch {e + 1}/{adv.epochs}: mean reward {reward:.4f}  D loss {d_loss:.4f}"
                f"  [{time.monotonic() - started:.1f}s]"
            )
            p.update(epoch=e + 1, g_step=0, d=fresh_rounds())
            ctx.save(state())
        valid = self.gen.nll(dataset.valid)
        ctx.log(f"{name}: validation NLL after adversarial training {valid:.4f}")
        state()  # brings the elapsed time up to date
        return TrainSummary(
            epochs=p["epoch"],
            steps=ctx.steps,
            best_epoch=p["epoch"],  # a GAN keeps its last generator
            best_valid_nll=valid,
            train_seconds=p["elapsed"],
            history=p["history"],
        )

    def _generator_step(self, ctx: TrainContext, state: Any) -> None:
        """One REINFORCE update on a fresh batch, valued by roll-outs."""
        adv, p = self.config.adversarial, self.progress
        n = p["g_total"]
        x = self.gen.sample(adv.batch_size, 1.0, derive_seed(ctx.seed, self.name, "g-batch", n)).to(self.device)
        check_collapse(x, ctx.steps)
        rng = torch.Generator(device=self.device).manual_seed(derive_seed(ctx.seed, self.name, "rollout", n))
        with evaluating(self.rollout_net):
            reward_fn = self._reward_fn(derive_seed(ctx.seed, self.name, "reward", n))
            rewards = rollout_rewards(LSTMPolicy(self.rollout_net), x, reward_fn, adv.rollouts, 1.0, rng)
        self.gen.train()
        loss = policy_gradient_loss(self.gen.log_prob(x), rewards, self.gen.mask(x))
        check_finite(loss, ctx.steps, "generator loss")
        self.g_opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.gen.parameters(), adv.grad_clip)
        self.g_opt.step()
        p.update(g_step=p["g_step"] + 1, g_total=n + 1, reward_sum=p.get("reward_sum", 0.0) + float(rewards.mean()))
        if p["g_step"] == adv.g_steps:  # once per epoch, after the generator updates (SeqGAN's update_params)
            self._update_rollout_net(adv.rollout_update)
        ctx.step_done(state)

    @torch.no_grad()
    def _update_rollout_net(self, rate: float) -> None:
        for (name, roll), new in zip(self.rollout_net.named_parameters(), self.gen.parameters(), strict=True):
            roll.copy_(new if name.startswith("embed") else rate * roll + (1 - rate) * new)
