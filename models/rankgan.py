"""RankGAN (Lin et al., NeurIPS 2017): SeqGAN's training with the binary discriminator replaced by a ranker.

The ranker embeds sentences with the CNN encoder and scores a sentence s by its mean cosine similarity to a
reference set U of real sentences, α(s|U); the rank score is R(s|U, C) = softmax over C ∪ {s} of γ·α. It is
trained to rank real sentences high among generated ones (C⁻) and generated sentences low among real ones
(C⁺). The generator's reward is the rank score of its sentences among real ones, R(s|U, C⁺), with a fresh U and
C⁺ for every generator step and Monte Carlo roll-outs for every prefix. Phases as in SeqGAN (MLE, ranker
pre-training, adversarial epochs), each checkpointed and resumable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from langgan_bench.datasets.base import Dataset
from langgan_bench.models.networks.discriminators import CNNConfig, CNNRanker, CompletionReward, RewardFn
from langgan_bench.models.networks.generator import GeneratorConfig, evaluating
from langgan_bench.models.seqgan import _SMALL_CNN, _TINY_CNN, AdversarialTraining, SeqGAN, SeqGANConfig
from langgan_bench.models.training.discriminator import DiscTraining, pair_accuracy
from langgan_bench.models.training.mle import MLETraining


@dataclass(frozen=True)
class Ranking:
    gamma: float = 1.0  # γ, the softmax temperature of the rank score
    ref_size: int = 16  # |U|, real reference sentences per ranker batch and per generator step
    comparison_size: int = 64  # |C⁺|, real sentences the generator's sentences are ranked among


@dataclass(frozen=True)
class RankGANConfig(SeqGANConfig):
    """SeqGAN's settings (the ranker's rounds make one pass over their negatives) and the ranking's."""

    d_train: DiscTraining = field(default_factory=lambda: DiscTraining(rounds=5, epochs=1))
    ranking: Ranking = field(default_factory=Ranking)


class RankGAN(SeqGAN):
    """RankGAN: MLE pre-training, then policy gradient on the rank score of a CNN ranker, with roll-outs."""

    name = "rankgan"
    profiles: ClassVar[dict[str, RankGANConfig]] = {  # type: ignore[assignment]
        "tiny": RankGANConfig(
            GeneratorConfig(emb_dim=16, hidden_dim=32),
            MLETraining(max_epochs=1),
            _TINY_CNN,
            DiscTraining(rounds=1, epochs=1, samples=256),
            DiscTraining(rounds=1, epochs=1, samples=128),
            AdversarialTraining(epochs=2, batch_size=32, rollouts=2),
            Ranking(comparison_size=32),
        ),
        # ~2 CPU minutes: the paper's generator, the 10x narrower CNN, K = 4 and a few % of the paper's epochs;
        # the discriminator's rate is 10x the paper's as it gets ~0.3% of the paper's discriminator steps
        "small": RankGANConfig(
            GeneratorConfig(emb_dim=32, hidden_dim=32),
            MLETraining(max_epochs=5, patience=1),
            _SMALL_CNN,
            DiscTraining(rounds=2, epochs=1, samples=2000, lr=1e-3),
            DiscTraining(rounds=1, epochs=1, samples=1024, lr=1e-3),
            AdversarialTraining(epochs=40, batch_size=32, rollouts=4),
        ),
        # Lin et al. 2017 follow SeqGAN's synthetic set-up; what the paper leaves open is taken from the public
        # TensorFlow re-implementation of its synthetic experiment (cookielee77/RankGan-NIPS2017, opt.py and
        # main.py): generator 32/32, 120 MLE epochs at lr 0.01; ranker = SeqGAN's CNN (emb 64, 1,720 filters,
        # dropout 0.25), Adam 1e-4, γ = 1, |U| = 16, batches of 64; ranker pre-training 50 x (10,000
        # negatives, 3 epochs); 200 adversarial epochs of 1 generator step (batch 32, 16 roll-outs, update
        # rate 0.8), then 5 ranker passes over 10,000 fresh negatives.
        "paper": RankGANConfig(
            GeneratorConfig(emb_dim=32, hidden_dim=32),
            MLETraining(batch_size=64, lr=1e-2, grad_clip=5.0, max_epochs=120, patience=120),
            CNNConfig(),
            DiscTraining(rounds=50, epochs=3, samples=10_000),
            DiscTraining(rounds=5, epochs=1, samples=10_000),
            AdversarialTraining(batch_size=32),
            Ranking(),
        ),
    }

    def make_discriminator(self, dataset: Dataset) -> nn.Module:
        return CNNRanker(len(dataset.vocab), dataset.max_len, self.config.discriminator, self.config.ranking.gamma)

    def _real(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        idx = torch.randint(len(self.train_data), (n,), generator=generator)
        return self.train_data[idx].to(self.device)

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        # a fresh reference set per batch, from the global RNG (saved and restored with every checkpoint)
        return self.disc.loss(real, fake, self._real(self.config.ranking.ref_size))

    @torch.no_grad()
    def discriminator_probe(self, real: torch.Tensor, fake: torch.Tensor, seed: int) -> dict[str, float]:
        """How often the ranker finds a real sentence more relevant to a reference set than a generated one."""
        refs = self._real(self.config.ranking.ref_size, torch.Generator().manual_seed(seed))
        with evaluating(self.disc):
            return pair_accuracy(self.disc.relevance(real, refs), self.disc.relevance(fake, refs))

    def reward_fn(self, seed: int) -> RewardFn:
        """R(s | U, C⁺) with a reference set U and a real comparison set C⁺ drawn for this generator step."""
        g = torch.Generator().manual_seed(seed)
        refs, comparison = (
            self._real(self.config.ranking.ref_size, g),
            self._real(self.config.ranking.comparison_size, g),
        )
        return CompletionReward(
            lambda tokens: self.disc.rank_score(tokens, refs, comparison),
            lambda sentences, rows, prefixes: self.disc.rank_score_completions(
                sentences, rows, prefixes, refs, comparison
            ),
        )
