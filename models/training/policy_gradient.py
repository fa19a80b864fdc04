"""REINFORCE for sequence GANs, shared so that no model re-implements it, and the divergence guards.

The generator is a policy over tokens; a sampled sentence x earns rewards, and the loss whose gradient is the
REINFORCE estimate is  −Σ_t (r_t − b_t) · log π(x_t | x_<t),  over the positions ``gen.mask`` counts (up to
and including the first EOS), averaged per counted token. Rewards come in three shapes:

- one per sentence (B,): every step gets it;
- one per step (B, L): Monte Carlo roll-out values Q(x_<t, x_t) (SeqGAN, RankGAN) or intrinsic rewards
  (LeakGAN's worker);
- dense per-step discriminator scores turned into discounted returns (ScratchGAN): ``dense_rewards`` then
  ``discounted_returns``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from langgan_bench.models.training.base import Diverged


def policy_gradient_loss(
    log_probs: torch.Tensor,
    rewards: torch.Tensor,
    mask: torch.Tensor,
    baseline: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """−mean over counted tokens of (r_t − b_t)·log π(x_t); rewards (B,) or (B, L), treated as constants."""
    r = rewards.unsqueeze(1).expand_as(log_probs) if rewards.dim() == 1 else rewards
    advantage = (r - baseline if baseline is not None else r).detach()
    terms = torch.where(mask, advantage * log_probs, 0.0)  # where, not *: a masked −inf must not become NaN
    return -terms.sum() / mask.sum().clamp(min=1)


def dense_rewards(prob_real: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ScratchGAN's per-step reward 2·D(x_{1..t}) − 1 in [−1, 1], 0 past the end of the sentence."""
    return (2.0 * prob_real - 1.0) * mask.to(prob_real.dtype)


def discounted_returns(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """R_t = Σ_{s ≥ t} γ^{s−t} r_s for every step (B, L), as one matrix product."""
    steps = torch.arange(rewards.shape[1], device=rewards.device)
    ahead = steps.unsqueeze(1) - steps.unsqueeze(0)  # ahead[s, t] = s − t
    discount = torch.where(ahead >= 0, gamma ** ahead.clamp(min=0).to(rewards.dtype), 0.0)
    return rewards @ discount


@dataclass
class MovingAverageBaseline:
    """ScratchGAN's baseline: an exponential moving average of the mean return, b ← d·b + (1 − d)·mean(R)
    (d = ``decay``), updated before it is subtracted. Its value is part of every checkpoint."""

    decay: float
    value: float = 0.0

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.value = float(state["value"])

    def update(self, returns: torch.Tensor, mask: torch.Tensor) -> float:
        m = mask.to(returns.dtype)
        mean = float((returns * m).sum() / m.sum().clamp(min=1.0))
        self.value = self.decay * self.value + (1.0 - self.decay) * mean
        return self.value


def check_collapse(samples: torch.Tensor, step: int) -> None:
    """Every sentence of a generated batch identical: the generator collapsed (mode collapse)."""
    if len(samples) > 1 and bool((samples == samples[:1]).all()):
        raise Diverged(step, f"collapse: all {len(samples)} sentences of a generated batch are identical")
