"""SeqGAN (Yu et al., AAAI 2017): the shared LSTM generator trained as a policy against a CNN discriminator.

Phases (each checkpointed and resumable at any step):
1. MLE pre-training of the generator (``train_mle``, early stopping on the validation NLL).
2. Discriminator pre-training: ``rounds`` times, fresh negatives from the generator against real sentences.
3. Adversarial epochs ("total batches"): ``g_steps`` REINFORCE updates, each on a fresh batch whose every prefix
   is valued by K Monte Carlo roll-outs scored by the discriminator (``rollout_rewards``, one batched program);
   the roll-outs come from a delayed copy of the generator, θ_roll ← r·θ_roll + (1 − r)·θ_gen with r = 0.8
   (the embedding is copied as is, as in the authors' code); then the discriminator is retrained on fresh
   negatives.

RankGAN subclasses this model and replaces the discriminator and the reward (``make_discriminator``,
``discriminator_loss``, ``reward_fn``). The procedure (phases, checkpoints, logs) is the template's
(``template.py``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from langgan_bench.core.config import derive_seed
from langgan_bench.datasets.base import Dataset
from langgan_bench.models.networks.discriminators import CNNConfig, CNNDiscriminator, RewardFn
from langgan_bench.models.networks.generator import GeneratorConfig, LSTMGenerator, evaluating
from langgan_bench.models.training.base import TrainContext, adam, make_generator, optimise
from langgan_bench.models.training.discriminator import DiscTraining, classifier_accuracy
from langgan_bench.models.training.mle import MLETraining
from langgan_bench.models.training.policy_gradient import check_collapse, policy_gradient_loss
from langgan_bench.models.training.rollout import LSTMPolicy, rollout_rewards
from langgan_bench.models.training.template import (
    AdversarialEpochs,
    AdversarialModel,
    DiscriminatorRounds,
    Phase,
    Pretrain,
)


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


class SeqGAN(AdversarialModel):
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
        self.disc = self.make_discriminator(dataset).to(device)
        self.g_opt = adam(self.gen.parameters(), lr=config.adversarial.lr)
        self.d_opt = adam(self.disc.parameters(), lr=config.d_pretrain.lr)

    def phases(self) -> list[Phase]:
        cfg = self.config
        return [
            Pretrain(cfg.pretrain, self.name),
            DiscriminatorRounds(cfg.d_pretrain, f"{self.name}-d-pretrain"),
            AdversarialEpochs(cfg.adversarial.epochs, cfg.adversarial.g_steps, cfg.d_train),
        ]

    def modules(self) -> dict[str, Any]:
        return {
            "generator": self.gen,
            "rollout": self.rollout_net,
            "discriminator": self.disc,
            "g_opt": self.g_opt,
            "d_opt": self.d_opt,
        }

    @property
    def generator(self) -> LSTMGenerator:
        return self.gen

    # --- what RankGAN replaces ---------------------------------------------------------------------------
    def make_discriminator(self, dataset: Dataset) -> nn.Module:
        return CNNDiscriminator(len(dataset.vocab), dataset.max_len, self.config.discriminator)

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return self.disc.loss(real, fake)

    def discriminator_probe(self, real: torch.Tensor, fake: torch.Tensor, seed: int) -> dict[str, float]:
        return classifier_accuracy(self.disc.prob_real(real), self.disc.prob_real(fake))

    def reward_fn(self, seed: int) -> RewardFn:
        """D(Y) of complete sentences (``seed`` seeds any extra inputs a reward needs; SeqGAN's needs none)."""
        return self.disc.reward()  # D(Y), scoring roll-out completions through their shared prefixes

    # --- the algorithm -----------------------------------------------------------------------------------
    def adversarial_step(self, ctx: TrainContext, n: int) -> dict[str, float]:
        """The ``n``-th REINFORCE update, on a fresh batch whose every prefix is valued by roll-outs."""
        adv = self.config.adversarial
        x = self.gen.sample(adv.batch_size, 1.0, derive_seed(ctx.seed, self.name, "g-batch", n)).to(self.device)
        check_collapse(x, ctx.steps)
        rng = torch.Generator(device=self.device).manual_seed(derive_seed(ctx.seed, self.name, "rollout", n))
        with evaluating(self.rollout_net):
            reward_fn = self.reward_fn(derive_seed(ctx.seed, self.name, "reward", n))
            rewards = rollout_rewards(LSTMPolicy(self.rollout_net), x, reward_fn, adv.rollouts, 1.0, rng)
        self.gen.train()
        loss = policy_gradient_loss(self.gen.log_prob(x), rewards, self.gen.mask(x))
        clip = [self.gen.parameters()]
        optimise(loss, self.g_opt, step=ctx.steps, what="generator loss", clip=adv.grad_clip, clip_groups=clip)
        return {"reward": float(rewards.mean()), "reward_std": float(rewards.std())}

    def after_pretrain(self) -> None:
        self.rollout_net.load_state_dict(self.gen.state_dict())  # the roll-out network starts as the generator

    @torch.no_grad()
    def after_generator_steps(self) -> None:
        """θ_roll ← r·θ_roll + (1 − r)·θ_gen, once per epoch after the generator updates (the embedding is
        copied as is: SeqGAN's update_params)."""
        rate = self.config.adversarial.rollout_update
        for (name, roll), new in zip(self.rollout_net.named_parameters(), self.gen.parameters(), strict=True):
            roll.copy_(new if name.startswith("embed") else rate * roll + (1 - rate) * new)
