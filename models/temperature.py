"""The one place where a softmax temperature is applied. Every model samples and scores through here.

T > 0 divides the logits by T; T = 0 means greedy decoding (argmax), which has no density, so scoring at
T = 0 is refused rather than silently approximated.
"""

from __future__ import annotations

import torch


def check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not t >= 0.0 or t == float("inf"):  # also rejects NaN
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
    return t


def scoring_temperature(temperature: float) -> float:
    """``temperature`` checked for scoring: T = 0 (greedy decoding) has no density, so it is refused."""
    t = check_temperature(temperature)
    if t == 0.0:
        raise ValueError("T = 0 is greedy decoding: it has no log-probabilities to score with")
    return t


def log_probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """log softmax(logits / T) over the last axis; T must be > 0."""
    t = scoring_temperature(temperature)
    return torch.log_softmax(logits / t if t != 1.0 else logits, dim=-1)


def pick(logits: torch.Tensor, temperature: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row of ``logits`` (..., V): argmax at T = 0, else a draw from softmax(logits / T).

    Draws by inverse CDF in float64 (one uniform per row): exact to ~1e-16 even for the many tiny
    probabilities of a 5,000-word softmax, and much faster than ``torch.multinomial`` on the CPU. The CDF is
    left unnormalised (the uniform is scaled by its last value instead): one pass fewer over the (rows, V)
    float64 values than a softmax; the float64 exp itself is most of the cost. Zero-probability tokens (masked
    logits) can never be drawn.
    """
    t = check_temperature(temperature)
    if t == 0.0:
        return logits.argmax(dim=-1)
    cdf = logits.double()
    if t != 1.0:
        cdf.mul_(1.0 / t)
    cdf = cdf.sub_(cdf.amax(dim=-1, keepdim=True)).exp_().cumsum_(dim=-1)
    u = torch.rand((*cdf.shape[:-1], 1), generator=generator, dtype=torch.float64, device=cdf.device)
    picked = torch.searchsorted(cdf, u * cdf[..., -1:], right=True)
    return picked.clamp_(max=logits.shape[-1] - 1).squeeze(-1)
