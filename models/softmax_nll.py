"""The output layer and its cross-entropy as one fused operation: the hot path of every MLE epoch, every
GAN's pre-training, the judge LM, every reverse LM and every NLL_test.

``softmax_nll(h, weight, bias, target, temperature)`` is −log softmax((h Wᵀ + b) / T)[target] per row. The
plain path (``log_softmax(linear(h)) .gather``) writes the (N, V) logits, then the (N, V) log-probabilities,
and in the backward a zero-filled (N, V) gradient for the gather and another for the log-softmax: memory-bound
on a CPU (25 MB per tensor for a batch of 64 × 20 tokens and V = 5,000). Here the forward keeps the
log-probabilities only, and the backward turns them into the gradient (softmax − one-hot) in place before
the two products: no zero-filled gradient tensors, no separate log-softmax backward. (Keeping the logits and
a ``logsumexp`` instead was measured slower: ``logsumexp`` makes several passes.) On a CPU the log-softmax
is taken in place, over the logits: the forward and backward then work in one (N, V) buffer instead of two
(25 MB each at 1,280 × 5,000), bit for bit the same values. One thread of the 2-core Xeon of 2026-12-01,
1,280 rows, V = 5,000, forward + backward: 34.5 → 22.5 ms at H = 32, 48 → 38 ms at H = 64; an MLE epoch of
the ``small`` profile 9.3 → 7.6 s. The row-wise kernel reads each element before it writes it; on a GPU,
whose kernels make no such promise, it stays out of place. See ``make perf`` for the A/B against the plain
path. The per-row results equal the plain path's to float32 rounding (≈ 2e-6 absolute on log-probabilities
of ≈ −8.5; gradients ≈ 6e-7 relative).

No-grad scoring (``softmax_nll_many``: validation NLL, NLL_test at every temperature of the sweep, the
oracle's NLL of samples) runs over blocks of rows whose (rows, V) logits fit in the cache (≈ 4 MiB: 209 rows
for V = 5,000), computes each block's logits once and applies every temperature to them while they are
cached. On the 2-core CPU, 10,000 rows × V 5,000 × 12 temperatures: 1.95 s as one block, 0.39 s in blocks
of 256 rows; one temperature: 0.22 s → 0.08 s. The values are the same row by row (only the order of the
float64 sum changes). The training path keeps the whole batch (1,280 rows): blocks were not faster there,
the products' backward needs every row. On a GPU there is no blocking (``rows_per_block``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def _logits(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, inv_t: float) -> torch.Tensor:
    z = torch.addmm(bias, h, weight.t())
    return z.mul_(inv_t) if inv_t != 1.0 else z


class _SoftmaxNLL(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, bias, target, inv_t: float):  # type: ignore[override]
        z = _logits(h, weight, bias, inv_t)
        if z.device.type == "cpu":  # in place: one (N, V) buffer instead of two (see above)
            logp = torch.ops.aten._log_softmax.out(z, 1, False, out=z)
        else:
            logp = torch.log_softmax(z, dim=1)
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


BLOCK_BYTES = 4 << 20  # CPU: a block of float32 logits this size stays in the cache (2 x 1 MiB L2, 32 MiB L3)


def rows_per_block(vocab_size: int, device: torch.device) -> int | None:
    """Rows of logits scored at a time: cache-sized blocks on a CPU, everything at once on a GPU (None)."""
    return None if device.type != "cpu" else max(32, BLOCK_BYTES // (4 * vocab_size))


@torch.no_grad()
def target_log_probs(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, target: torch.Tensor, temperatures: list[float]
) -> torch.Tensor:
    """log softmax((h Wᵀ + b) / T)[target] per row and temperature: (len(temperatures), N), float32; the logits
    of each cache-sized block of rows computed once and every temperature applied to them."""
    return _blockwise(h, weight.shape[0], lambda a, b: _logits(h[a:b], weight, bias, 1.0), target, temperatures)


@torch.no_grad()
def logits_target_log_probs(logits: torch.Tensor, target: torch.Tensor, temperatures: list[float]) -> torch.Tensor:
    """``target_log_probs`` for logits a model already computed (N, V) (LeakGAN's goal-conditioned output layer):
    every temperature applied to each cache-sized block of rows while it is cached."""
    return _blockwise(logits, logits.shape[1], lambda a, b: logits[a:b], target, temperatures)


def _blockwise(
    rows_of: torch.Tensor,
    vocab_size: int,
    block: Callable[[int, int], torch.Tensor],
    target: torch.Tensor,
    temperatures: list[float],
) -> torch.Tensor:
    """Every temperature applied to the logits ``block(a, b)`` of rows a..b of ``rows_of`` (N, ·), a
    cache-sized block of rows at a time."""
    n = len(rows_of)
    out = torch.empty(len(temperatures), n, dtype=rows_of.dtype, device=rows_of.device)
    rows = rows_per_block(vocab_size, rows_of.device) or max(n, 1)
    for start in range(0, n, rows):
        z = block(start, start + rows)
        tgt = target[start : start + rows, None]
        for i, t in enumerate(temperatures):
            out[i, start : start + rows] = torch.log_softmax(z if t == 1.0 else z / t, dim=1).gather(1, tgt)[:, 0]
    return out


@torch.no_grad()
def softmax_nll_many(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, target: torch.Tensor, temperatures: list[float]
) -> torch.Tensor:
    """Summed NLL (float64) at each temperature (len(temperatures),), the logits computed once per block."""
    return -target_log_probs(h, weight, bias, target, temperatures).double().sum(dim=1)
