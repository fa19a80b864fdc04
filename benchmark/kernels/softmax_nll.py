"""The output layer and its cross-entropy as one fused operation: the hot path of every MLE epoch, every
GAN's pre-training, the judge LM, every reverse LM and every NLL_test.

``softmax_nll(h, W, b, target, T)`` is −log softmax((h Wᵀ + b) / T)[target] per row; ``softmax_nll_reference``
is the plain PyTorch it equals (to float32 rounding: ≈ 2e-6 absolute on log-probabilities, gradients ≈ 6e-7
relative). Why fused: the plain path writes the (N, V) logits, then the (N, V) log-probabilities, and in the
backward a zero-filled (N, V) gradient for the gather and another for the log-softmax, memory-bound on a CPU
(25 MB each for a batch of 64 × 20 tokens at V = 5,000). Here the forward keeps one (N, V) tensor, which the
backward turns into the gradient (softmax − one-hot) in place before its two products. On a CPU:

- the softmax is taken in place, over the logits (``ops.softmax_into``), and the NLL is −log of the target's
  probability, so the backward needs no exponential. A target whose probability is below ``TINY`` (−log of a
  float32 denormal or of 0 would be inexact or inf) gets its NLL from its row's log-softmax instead;
- the three products go through ``dense`` (oneDNN), the bias as the forward product's part; without the
  private ops the bias enters the product as one more column of the weight (``_logits``), so the (N, V)
  result is written once, and the backward scales the (N, H) results by each row's upstream gradient
  instead of the (N, V) gradient;
- on one thread the forward computes the logits and their softmax in L2-sized blocks of rows
  (``TRAIN_BLOCK_BYTES``): each block's product is written into the cache and its softmax taken there (the
  same values bit for bit: a row's product and softmax do not depend on other rows). On more threads one
  product over the batch was as fast. On a GPU the forward keeps the log-softmax out of place and the
  backward takes its exponential.

No-grad scoring (``softmax_nll_many``, ``target_log_probs``: validation NLL, NLL_test at every temperature of
the sweep, the oracle's NLL of samples) works through cache-sized blocks of rows (``BLOCK_BYTES``), computing
each block's logits once and applying every temperature while they are cached; the values are those of one
temperature at a time, row by row (only the order of the float64 sum changes). Figures for every choice
above: docs/performance.md.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from langgan_bench.kernels import cpu, ops
from langgan_bench.kernels.dense import dense, dense_matmul


def _layer(weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The output layer as ``_logits`` takes it: the weight itself on the private path and on a GPU; on a CPU
    without the private ops, one (V, H + 1) matrix with the bias as one more column of the weight."""
    plain_cpu = weight.device.type == "cpu" and not ops.PRIVATE_OPS
    return torch.cat([weight, bias[:, None]], dim=1) if plain_cpu else weight


def _logits(
    h: torch.Tensor, layer: torch.Tensor, bias: torch.Tensor, inv_t: float, out: torch.Tensor | None = None
) -> torch.Tensor:
    """(h Wᵀ + b) / T for ``layer = _layer(W, b)``, into ``out`` when given. On the private path the bias is part
    of oneDNN's product (``dense``). On a CPU without it the bias enters the product as a column of ones beside
    h, because ``addmm`` would first broadcast the bias into the (N, V) result and the product then read it
    back: two passes over it instead of one. The sum is the same; the -inf of the padding's bias stays -inf."""
    if ops.on_fast_path(h, layer):
        z = dense(h, layer, bias) if out is None else out.copy_(dense(h, layer, bias))
    elif layer.shape[1] == h.shape[1]:
        z = torch.addmm(bias, h, layer.t(), out=out)
    else:
        z = torch.mm(torch.cat([h, h.new_ones(len(h), 1)], dim=1), layer.t(), out=out)
    return z.mul_(inv_t) if inv_t != 1.0 else z


TINY = 1e-30  # a target probability below this is taken from its log-softmax (float32's normals end at 1.2e-38)


class _SoftmaxNLL(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, bias, target, inv_t: float):  # type: ignore[override]
        layer = _layer(weight, bias)
        if h.device.type == "cpu":  # the softmax in place: one (N, V) buffer, the backward's own (see above)
            p = _softmax_blocks(h, layer, bias, inv_t)
            p_target = p.gather(1, target[:, None]).squeeze(1)
            nll = -torch.log(p_target)
            low = (p_target < TINY).nonzero().squeeze(1)
            if len(low):  # −log of a denormal or zero probability is inexact: those rows from their log-softmax
                logp = torch.log_softmax(_logits(h[low], layer, bias, inv_t), dim=1)
                nll[low] = -logp.gather(1, target[low, None]).squeeze(1)
        else:
            p = torch.log_softmax(_logits(h, layer, bias, inv_t), dim=1)  # the backward takes their exponential
            nll = -p.gather(1, target[:, None]).squeeze(1)
        ctx.save_for_backward(h, weight, p, target)
        ctx.inv_t = inv_t
        return nll

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        h, weight, z, target = ctx.saved_tensors
        if z.device.type != "cpu":
            z = z.exp_()  # softmax, in place: the saved log-probabilities are not needed again
        z[torch.arange(len(z), device=z.device), target] -= 1.0  # − one-hot: d nll / d logits, per unit of grad
        # Each row's upstream gradient (and 1 / T) scales the (N, H) results and h, not the (N, V) z:
        # diag(s) z W = diag(s) (z W) and zᵀ diag(s) h = zᵀ (diag(s) h), one (N, V) pass fewer.
        s = grad * ctx.inv_t
        need = ctx.needs_input_grad
        dh = dense_matmul(z, weight).mul_(s[:, None]) if need[0] else None
        dw = db = None
        if z.device.type == "cpu" and need[1]:
            # (diag(s) [h, 1])ᵀ z, transposed: the (H + 1, V) product runs faster than zᵀ (diag(s) h) (V, H),
            # and its last row is the bias's gradient, so z is read once for both
            both = dense_matmul(torch.cat([h * s[:, None], s[:, None]], dim=1).t(), z)
            dw, db = both[:-1].t(), (both[-1] if need[2] else None)
        else:
            dw = z.t() @ (h * s[:, None]) if need[1] else None
            db = z.t() @ s if need[2] else None
        return dh, dw, db, None, None


#: CPU: the forward's logits are computed and turned into probabilities a block of rows at a time, the
#: block small enough to stay in a core's L2 cache between the product and the softmax (see ``_softmax_blocks``)
TRAIN_BLOCK_BYTES = cpu.block_bytes("l2", 0.8)


def train_block_rows(n: int, hidden: int, vocab_size: int) -> int:
    """Rows a block of ``_softmax_blocks`` takes for a batch of ``n`` rows. Blocks on one thread (each of ``make
    bench``'s workers), where they were measured faster; with more threads one product over the whole batch (no
    gain was measured there). A block has at least twice as many rows as the weight has columns: each block's
    product reads the whole (V, H) weight, which should cost at most half of what the block itself writes,
    however small the L2 cache."""
    if torch.get_num_threads() != 1:
        return max(n, 1)
    return max(16, 2 * hidden, TRAIN_BLOCK_BYTES // (4 * vocab_size))


def _softmax_blocks(h: torch.Tensor, layer: torch.Tensor, bias: torch.Tensor, inv_t: float) -> torch.Tensor:
    """softmax((h Wᵀ + b) / T) (N, V) for ``layer = _layer(W, b)`` on a CPU, computed a block of rows at a
    time into the one (N, V) buffer, so that each block's product is still in the cache when its softmax
    reads it. The same values bit for bit: each row's product and softmax do not depend on the other rows."""
    n, v = len(h), layer.shape[0]
    rows = train_block_rows(n, h.shape[1], v)
    if rows >= n:  # one block: the softmax in place, over the logits
        z = _logits(h, layer, bias, inv_t)
        return ops.softmax_into(z, z)
    p = h.new_empty(n, v)
    starts = list(range(0, n, rows))
    if n - starts[-1] == 1:  # a one-row product takes oneDNN's matrix-vector path, whose sums differ: that row
        starts.pop()  # joins the block before, so the values are the one product's whatever the block size
    for a, e in zip(starts, [*starts[1:], n], strict=True):
        # oneDNN writes a fresh block (it has no ``out``): its softmax goes into the buffer; else in place
        zb = _logits(h[a:e], layer, bias, inv_t, out=None if ops.on_fast_path(h) else p[a:e])
        ops.softmax_into(zb, p[a:e])
    return p


def softmax_nll(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, target: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """−log softmax((h Wᵀ + b) / T)[target] for rows h (N, H), weight (V, H), bias (V,), target (N,)."""
    return _SoftmaxNLL.apply(h, weight, bias, target, 1.0 / temperature)


def softmax_nll_reference(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, target: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """The plain PyTorch ``softmax_nll`` (and ``target_log_probs``, negated) must equal: the full logits, their
    log-softmax, the target's entry."""
    logp = torch.log_softmax(F.linear(h, weight, bias) / temperature, dim=1)
    return -logp.gather(1, target[:, None]).squeeze(1)


BLOCK_BYTES = cpu.block_bytes("l3", 1 / 3)  # CPU: a block of float32 logits this size stays in a core's L3


def rows_per_block(vocab_size: int, device: torch.device) -> int | None:
    """Rows of logits scored at a time: cache-sized blocks on a CPU, everything at once on a GPU (None)."""
    return None if device.type != "cpu" else max(32, BLOCK_BYTES // (4 * vocab_size))


@torch.no_grad()
def target_log_probs(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, target: torch.Tensor, temperatures: list[float]
) -> torch.Tensor:
    """log softmax((h Wᵀ + b) / T)[target] per row and temperature: (len(temperatures), N), float32; the logits
    of each cache-sized block of rows computed once and every temperature applied to them."""
    layer = _layer(weight, bias)
    logits = lambda a, b: _logits(h[a:b], layer, bias, 1.0)  # noqa: E731
    return _blockwise(h, weight.shape[0], logits, target, temperatures, owned=True)


@torch.no_grad()
def logits_target_log_probs(logits: torch.Tensor, target: torch.Tensor, temperatures: list[float]) -> torch.Tensor:
    """``target_log_probs`` for logits a model already computed (N, V) (LeakGAN's goal-conditioned output layer):
    every temperature applied to each cache-sized block of rows while it is cached."""
    return _blockwise(logits, logits.shape[1], lambda a, b: logits[a:b], target, temperatures, owned=False)


def _blockwise(
    rows_of: torch.Tensor,
    vocab_size: int,
    block: Callable[[int, int], torch.Tensor],
    target: torch.Tensor,
    temperatures: list[float],
    owned: bool,
) -> torch.Tensor:
    """Every temperature applied to the logits ``block(a, b)`` of rows a..b of ``rows_of`` (N, ·), a
    cache-sized block of rows at a time. ``owned``: each block is a fresh tensor, so on a CPU the last
    temperature takes it in place (the block's log-softmax stays in the cache instead of a second block)."""
    n = len(rows_of)
    out = torch.empty(len(temperatures), n, dtype=rows_of.dtype, device=rows_of.device)
    rows = rows_per_block(vocab_size, rows_of.device) or max(n, 1)
    cpu = rows_of.device.type == "cpu"
    spare = None  # a CPU's second block: the temperatures before the last one work in it
    for start in range(0, n, rows):
        z = block(start, start + rows)
        tgt = target[start : start + rows, None]
        for i, t in enumerate(temperatures):
            if cpu and owned and i == len(temperatures) - 1:
                logp = ops.log_softmax_into(z if t == 1.0 else z.div_(t), z)
            elif cpu:
                spare = z.new_empty(z.shape) if spare is None or spare.shape != z.shape else spare
                scaled = z if t == 1.0 else torch.div(z, t, out=spare)
                logp = ops.log_softmax_into(scaled, spare)
            else:
                logp = torch.log_softmax(z if t == 1.0 else z / t, dim=1)
            out[i, start : start + rows] = logp.gather(1, tgt)[:, 0]
    return out


@torch.no_grad()
def softmax_nll_many(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, target: torch.Tensor, temperatures: list[float]
) -> torch.Tensor:
    """Summed NLL (float64) at each temperature (len(temperatures),), the logits computed once per block."""
    return -target_log_probs(h, weight, bias, target, temperatures).double().sum(dim=1)
