"""The output layer and its cross-entropy as one fused operation: the hot path of every MLE epoch, every
GAN's pre-training, the judge LM, every reverse LM and every NLL_test.

``softmax_nll(h, weight, bias, target, temperature)`` is −log softmax((h Wᵀ + b) / T)[target] per row. The
plain path (``log_softmax(linear(h)) .gather``) writes the (N, V) logits, then the (N, V) log-probabilities,
and in the backward a zero-filled (N, V) gradient for the gather and another for the log-softmax: memory-bound
on a CPU (25 MB per tensor for a batch of 64 × 20 tokens and V = 5,000). Here the forward keeps the
log-probabilities only, and the backward turns them into the gradient (softmax − one-hot) in place before
the two products: no zero-filled gradient tensors, no separate log-softmax backward. (Keeping the logits and
a ``logsumexp`` instead was measured slower: ``logsumexp`` makes several passes.) See ``make perf`` for the
A/B against the plain path. The per-row results equal the plain path's to float32 rounding
(≈ 2e-6 absolute on log-probabilities of ≈ −8.5; gradients ≈ 6e-7 relative).

No-grad scoring (``softmax_nll_many``: validation NLL, NLL_test at every temperature of the sweep) computes
the logits of a chunk once and applies every temperature to them. Its callers chunk by sentences (500 at a
time); splitting those 10,000 rows further into cache-sized chunks of 128-4,096 rows was measured slower on
the CPU (small products with an inner dimension of 32 use the cores badly), so there is no row chunking.
"""

from __future__ import annotations

import torch


def _logits(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, inv_t: float) -> torch.Tensor:
    z = torch.addmm(bias, h, weight.t())
    return z.mul_(inv_t) if inv_t != 1.0 else z


class _SoftmaxNLL(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, bias, target, inv_t: float):  # type: ignore[override]
        logp = torch.log_softmax(_logits(h, weight, bias, inv_t), dim=1)
        ctx.save_for_backward(h, weight, logp, target)
        ctx.inv_t = inv_t
        return -logp.gather(1, target[:, None]).squeeze(1)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        h, weight, logp, target = ctx.saved_tensors
        z = logp.exp_()  # softmax, in place: the saved log-probabilities are not needed again
        z[torch.arange(len(z), device=z.device), target] -= 1.0  # − one-hot
        z.mul_((grad * ctx.inv_t)[:, None])  # d nll / d (h Wᵀ + b), times the upstream gradient
        return z @ weight, z.t() @ h, z.sum(dim=0), None, None


def softmax_nll(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, target: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """−log softmax((h Wᵀ + b) / T)[target] for rows h (N, H), weight (V, H), bias (V,), target (N,)."""
    return _SoftmaxNLL.apply(h, weight, bias, target, 1.0 / temperature)


@torch.no_grad()
def softmax_nll_many(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, target: torch.Tensor, temperatures: list[float]
) -> torch.Tensor:
    """Summed NLL (float64) at each temperature (len(temperatures),), the logits computed once per chunk."""
    z = _logits(h, weight, bias, 1.0)
    sums = [
        -torch.log_softmax(z if t == 1.0 else z / t, dim=1).gather(1, target[:, None]).double().sum()
        for t in temperatures
    ]
    return torch.stack(sums) if sums else torch.zeros(0, dtype=torch.float64, device=h.device)
