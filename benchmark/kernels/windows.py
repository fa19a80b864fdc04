"""A convolution over sentences, max-pooled over time, as one dense product over the unfolded windows.

``window_max(conv, e)`` is max over positions of ``conv`` applied to embeddings ``e`` (B, L, E), before the
ReLU (which commutes with the max): (B, filters). ``window_max_reference`` is the plain ``nn.Conv1d`` it equals
(to float32 rounding; the same values where it is used, training included, tested against float64).

Why: for wide convolutions (``UNFOLD_FILTERS`` filters or more a width, SeqGAN's paper CNN) one ``dense``
product of the (B, P, w·E) windows with the (filters, w·E) weight runs faster than ``nn.Conv1d`` on a CPU;
for narrow ones (the small profiles' CNN) the unfolded copy costs more than it saves, so they keep
``nn.Conv1d`` (figures: docs/performance.md). Such a convolution keeps its weight tap-major (``tap_major``):
the same shape and state-dict keys, read by the product as an (n, w·E) view, so neither the weight nor its
gradient is copied. The windows are copied once (``_Windows``): the flattened view of overlapping windows
would be copied by the forward product and again by the backward's, and their backward is w slice
additions instead of ``unfold``'s own.
"""

from __future__ import annotations

import torch
from torch import nn

from langgan_bench.kernels import ops
from langgan_bench.kernels.dense import dense

#: a convolution of at least this many filters is taken as one product over its unfolded windows (CPU)
UNFOLD_FILTERS = 64


class _Windows(torch.autograd.Function):
    """The (B, P, w·E) windows of w consecutive rows of ``e`` (B, L, E), word after word, as one copy; the
    backward adds each window's gradient back onto its words."""

    @staticmethod
    def forward(ctx, e, w):  # type: ignore[override]
        ctx.w, ctx.shape = w, e.shape
        return e.unfold(1, w, 1).transpose(2, 3).flatten(2).contiguous()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        b, length, dim = ctx.shape
        w = ctx.w
        p = length - w + 1
        parts = grad.reshape(b, p, w, dim)
        de = grad.new_zeros(ctx.shape)
        for j in range(w):
            de[:, j : j + p].add_(parts[:, :, j])  # (``+=`` on a slice would copy it back onto itself)
        return de, None


def windows(e: torch.Tensor, w: int) -> torch.Tensor:
    """(B, P, w·E) windows of embeddings ``e`` (B, L, E), each window's words in order."""
    if w == 1:
        return e
    if torch.is_grad_enabled() and e.requires_grad:
        return _Windows.apply(e, w)
    return e.unfold(1, w, 1).transpose(2, 3).flatten(2)


def unfolds(conv: nn.Conv1d, e: torch.Tensor) -> bool:
    """Whether ``window_max`` takes ``conv`` over embeddings ``e`` as a product over the unfolded windows."""
    return ops.on_fast_path(e) and conv.out_channels >= UNFOLD_FILTERS


def tap_major(conv: nn.Conv1d) -> nn.Conv1d:
    """``conv`` with its (n, E, w) weight stored tap-major when ``window_max`` will read it as (n, w·E): the
    same values, shape and state-dict keys, other strides (loading a state dict copies into them)."""
    if conv.out_channels >= UNFOLD_FILTERS:
        conv.weight = nn.Parameter(conv.weight.detach().transpose(1, 2).contiguous().transpose(1, 2))
    return conv


def window_max(conv: nn.Conv1d, e: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
    """max over the windows of ``conv`` along embeddings ``e`` (B, L, E), before the ReLU: (B, filters).
    ``x``: ``e`` as (B, E, L), contiguous (one copy for all widths), if the caller has it."""
    if unfolds(conv, e):
        # (filters, w·E): taps in the windows' order; a view of the tap-major weight
        weight = conv.weight.transpose(1, 2).flatten(1)
        return dense(windows(e, conv.kernel_size[0]), weight, conv.bias).amax(dim=1)  # max over (B, P, n)'s P
    return window_max_reference(conv, e, x)


def window_max_reference(conv: nn.Conv1d, e: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
    """The plain PyTorch ``window_max`` must equal: ``nn.Conv1d``, then the max over time."""
    return conv(e.transpose(1, 2) if x is None else x).amax(dim=2)
