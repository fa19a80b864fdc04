"""Dense products x Wᵀ + b on a CPU through oneDNN, which picks its kernels by the CPU's instruction set.

torch's float32 ``mm`` / ``addmm`` / ``linear`` on a CPU call MKL, and MKL chooses its kernels by vendor: on
the AMD EPYC (Zen 5, AVX-512) of the 2-core CI machine it runs ≈ 95 GFLOP/s a core on a square 2,048
product (AVX2 speed), where oneDNN (shipped inside torch, which already runs its LSTM and convolutions
through it) reaches ≈ 212 (2026-12-02). At the output layer's shapes (1,280 × 32 × 5,000, one thread) the
forward product went 76 → 180 GFLOP/s, z W 72 → 193, zᵀ h 78 → 133. Both compute in float32 with float32
sums; only the order of the sums differs, so results change at float32 rounding (≈ 1e-7 relative), not more.
It is used on every CPU where torch has it (``torch.backends.mkldnn.is_available()``), not chosen by a
speed probe, so a seed gives the same numbers from one run to the next; on the Intel Xeon of earlier
sessions MKL ran near that machine's peak, and oneDNN was not measured there. On a GPU (and for other dtypes)
these are torch's own ``linear`` and ``mm``.

``linear`` is ``torch.nn.functional.linear``; ``Linear`` is ``nn.Linear`` (same parameters, same
state-dict keys) computed by it; ``matmul(a, b)`` is ``a @ b`` for 2-D (or batched-rows) ``a``. The
gradients are the same products (``_Linear``): dx = g W and dW = gᵀ x through oneDNN, db = Σ g.
"""

from __future__ import annotations

import torch
from torch import nn

_POINTWISE = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
#: whether float32 CPU products go through oneDNN (torch built with it, as every x86 wheel)
ONEDNN = bool(torch.backends.mkldnn.is_available() and _POINTWISE is not None)


def on_onednn(*tensors: torch.Tensor) -> bool:
    """Whether a product of these tensors runs on oneDNN: float32, on a CPU, non-empty."""
    return ONEDNN and all(t.device.type == "cpu" and t.dtype == torch.float32 and t.numel() for t in tensors)


def _product(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """x Wᵀ + b by oneDNN, no autograd: x (..., in), weight (out, in), any layout (transposed views are read in
    place, as the backward's products need)."""
    return _POINTWISE(x, weight, bias, "none", [], "")


class _Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _product(x, weight, bias)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        g = grad.reshape(-1, grad.shape[-1])
        need = ctx.needs_input_grad
        dx = _product(g, weight.t(), None).view(x.shape) if need[0] else None  # g W
        dw = _product(g.t(), x.reshape(-1, x.shape[-1]).t(), None) if need[1] else None  # gᵀ x
        db = g.sum(0) if ctx.has_bias and need[2] else None
        return dx, dw, db


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``torch.nn.functional.linear(x, weight, bias)``: through oneDNN on a CPU (see the module's docstring)."""
    if not on_onednn(x, weight) or x.shape[-1] != weight.shape[-1]:  # (torch's message for mismatched shapes)
        return nn.functional.linear(x, weight, bias)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, bias)):
        return _Linear.apply(x, weight, bias)
    return _product(x, weight, bias)


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for ``a`` (..., k) and a matrix ``b`` (k, n)."""
    return linear(a, b.t())


class Linear(nn.Linear):
    """``nn.Linear`` computed by ``linear``: the same parameters and state-dict keys."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)


def use_onednn(module: nn.Module) -> nn.Module:
    """``module`` with every plain ``nn.Linear`` inside it computed by ``linear`` (its class becomes ``Linear``:
    the same parameters, nothing else changes), for models built elsewhere (FED's sentence encoder)."""
    for sub in module.modules():
        if type(sub) is nn.Linear:
            sub.__class__ = Linear
    return module
