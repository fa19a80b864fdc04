"""MaliGAN (Che et al., 2017, "Maximum-Likelihood Augmented Discrete Generative Adversarial Networks"): the
shared LSTM generator trained with normalised importance weights from a CNN discriminator.

With an optimal discriminator, p_data(x) ∝ p_θ(x) · D(x) / (1 − D(x)), so r(x) = D(x)/(1 − D(x)) re-weights
the generator's own samples towards the data. For a batch of m samples the update is
∇ ≈ Σ_i (r_i / Σ_j r_j − b) ∇ log p_θ(x_i): self-normalised weights minus a baseline. Here b = 1/m (the mean
weight) and the whole sentence gets its sample's advantage m·w_i − 1 = r_i / mean_j r_j − 1 at every token
(``policy_gradient_loss`` averages over tokens, so the scale does not depend on m). Since D = σ(logit),
r = exp(logit) and the normalised weights are softmax(logits) over the batch: no division by 1 − D.

Phases (the template's): MLE pre-training, discriminator pre-training, adversarial epochs of ``g_steps``
generator updates then discriminator rounds. No roll-outs: the reward is per sentence (the paper's basic
MaliGAN; its "mixed" MLE/MaliGAN schedule over prefixes is left out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from langgan_bench.core.config import derive_seed
from langgan_bench.datasets.base import Dataset
from langgan_bench.models.networks.discriminators import CNNConfig, CNNDiscriminator
from langgan_bench.models.networks.generator import GeneratorConfig, LSTMGenerator, evaluating
from langgan_bench.models.seqgan import SeqGAN
from langgan_bench.models.training.base import TrainContext, adam, make_generator, optimise
from langgan_bench.models.training.discriminator import DiscTraining, classifier_accuracy
from langgan_bench.models.training.mle import MLETraining
from langgan_bench.models.training.policy_gradient import check_collapse, policy_gradient_loss
from langgan_bench.models.training.template import (
    AdversarialEpochs,
    AdversarialModel,
    DiscriminatorRounds,
    Phase,
    Pretrain,
)


@dataclass(frozen=True)
class MaliTraining:
    epochs: int = 200
    g_steps: int = 1
    batch_size: int = 64  # m, the samples one set of normalised weights is computed over
    lr: float = 1e-2
    grad_clip: float = 5.0


@dataclass(frozen=True)
class MaliGANConfig:
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    pretrain: MLETraining = field(default_factory=MLETraining)
    discriminator: CNNConfig = field(default_factory=CNNConfig)
    d_pretrain: DiscTraining = field(default_factory=DiscTraining)
    d_train: DiscTraining = field(default_factory=lambda: DiscTraining(rounds=5))
    adversarial: MaliTraining = field(default_factory=MaliTraining)


def importance_advantages(logits: torch.Tensor) -> torch.Tensor:
    """m·softmax(logits) − 1: each sample's normalised weight r_i/Σ r_j (r = D/(1−D) = e^logit) times m,
    minus the mean-weight baseline; sums to 0 over the batch."""
    return len(logits) * torch.softmax(logits.double(), dim=0).to(logits.dtype) - 1.0


def _like_seqgan(profile: str, adversarial: MaliTraining) -> MaliGANConfig:
    seq = SeqGAN.profiles[profile]
    return MaliGANConfig(seq.generator, seq.pretrain, seq.discriminator, seq.d_pretrain, seq.d_train, adversarial)


class MaliGAN(AdversarialModel):
    """MaliGAN: MLE pre-training, then sentences re-weighted by normalised D/(1−D) with a mean baseline."""

    name = "maligan"
    # MaliGAN runs with SeqGAN's settings for the generator, its pre-training and the discriminator, as in
    # TextGAN-PyTorch and Texygen (Che et al. give no full synthetic recipe); only the adversarial budget is
    # its own: without roll-outs, twice SeqGAN's epochs fit the small budget
    profiles: ClassVar[dict[str, MaliGANConfig]] = {
        "tiny": _like_seqgan("tiny", MaliTraining(epochs=2, batch_size=32)),
        "small": _like_seqgan("small", MaliTraining(epochs=60)),
        "paper": _like_seqgan("paper", MaliTraining()),
    }

    def __init__(self, config: MaliGANConfig, dataset: Dataset, device: torch.device) -> None:
        super().__init__(config, dataset, device)
        self.gen = make_generator(dataset, config.generator, device)
        self.disc = CNNDiscriminator(len(dataset.vocab), dataset.max_len, config.discriminator).to(device)
        self.g_opt = adam(self.gen.parameters(), lr=config.adversarial.lr)
        self.d_opt = adam(self.disc.parameters(), lr=config.d_pretrain.lr)

    @property
    def generator(self) -> LSTMGenerator:
        return self.gen

    def phases(self) -> list[Phase]:
        c = self.config
        return [
            Pretrain(c.pretrain, self.name),
            DiscriminatorRounds(c.d_pretrain, f"{self.name}-d-pretrain"),
            AdversarialEpochs(c.adversarial.epochs, c.adversarial.g_steps, c.d_train),
        ]

    def modules(self) -> dict[str, Any]:
        return {"generator": self.gen, "discriminator": self.disc, "g_opt": self.g_opt, "d_opt": self.d_opt}

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return self.disc.loss(real, fake)

    def discriminator_probe(self, real: torch.Tensor, fake: torch.Tensor, seed: int) -> dict[str, float]:
        return classifier_accuracy(self.disc.prob_real(real), self.disc.prob_real(fake))

    def adversarial_step(self, ctx: TrainContext, n: int) -> dict[str, float]:
        adv = self.config.adversarial
        x = self.gen.sample(adv.batch_size, 1.0, derive_seed(ctx.seed, self.name, "g-batch", n)).to(self.device)
        check_collapse(x, ctx.steps)
        with torch.no_grad(), evaluating(self.disc):
            logits = self.disc(x)
        self.gen.train()
        loss = policy_gradient_loss(self.gen.log_prob(x), importance_advantages(logits), self.gen.mask(x))
        optimise(loss, self.g_opt, step=ctx.steps, what="generator loss", clip=adv.grad_clip,
                 clip_groups=[self.gen.parameters()])  # fmt: skip
        d = torch.sigmoid(logits)  # D(x) of the batch, for the log and the history
        return {"reward": float(d.mean()), "reward_std": float(d.std())}
