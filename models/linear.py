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

``linear`` is ``torch.nn.functional.linear``, optionally followed by a ReLU or a sigmoid that oneDNN applies
as the product's output is written (a post-op: one pass over the result fewer; the highway layer of the CNN
discriminators, 19,456 × 1,720 × 1,720 in a SeqGAN generator step, takes 0.81 → 0.65 s with it and ``lerp``);
``Linear`` is ``nn.Linear`` (same parameters, same state-dict keys) computed by it; ``matmul(a, b)`` is
``a @ b`` for 2-D (or batched-rows) ``a``. The gradients are the same products (``_Linear``): dx = g W and
dW = gᵀ x through oneDNN, db = Σ g, after torch's own ReLU / sigmoid backward on the saved output.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

_POINTWISE = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
#: whether float32 CPU products go through oneDNN (torch built with it, as every x86 wheel)
ONEDNN = bool(torch.backends.mkldnn.is_available() and _POINTWISE is not None)


def on_onednn(*tensors: torch.Tensor) -> bool:
    """Whether a product of these tensors runs on oneDNN: float32, on a CPU, non-empty."""
    return ONEDNN and all(t.device.type == "cpu" and t.dtype == torch.float32 and t.numel() for t in tensors)


#: the activations ``linear`` can apply: torch's function (other devices) and its backward on the output
ACTIVATIONS: dict[
    str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]
] = {
    "relu": (torch.relu, lambda g, y: torch.ops.aten.threshold_backward(g, y, 0)),
    "sigmoid": (torch.sigmoid, torch.ops.aten.sigmoid_backward),
}


def _product(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, activation: str = "none"
) -> torch.Tensor:
    """activation(x Wᵀ + b) by oneDNN, no autograd: x (..., in), weight (out, in), any layout. A transposed
    weight view is read in place (as the backward's products pass them); an input that is not contiguous is
    copied by the op (the backward's gᵀ, (out, rows): small beside the product)."""
    return _POINTWISE(x, weight, bias, activation, [], "")


class _Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, activation):  # type: ignore[override]
        y = _product(x, weight, bias, activation)
        ctx.save_for_backward(x, weight, y if activation != "none" else None)
        ctx.has_bias, ctx.activation = bias is not None, activation
        return y

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        x, weight, y = ctx.saved_tensors
        if ctx.activation != "none":
            grad = ACTIVATIONS[ctx.activation][1](grad, y)
        g = grad.reshape(-1, grad.shape[-1])
        need = ctx.needs_input_grad
        dx = _product(g, weight.t(), None).view(x.shape) if need[0] else None  # g W
        dw = _product(g.t(), x.reshape(-1, x.shape[-1]).t(), None) if need[1] else None  # gᵀ x
        db = g.sum(0) if ctx.has_bias and need[2] else None
        return dx, dw, db, None


def linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, activation: str = "none"
) -> torch.Tensor:
    """``torch.nn.functional.linear(x, weight, bias)``, then ``activation`` ("none", "relu" or "sigmoid"):
    through oneDNN on a CPU (see the module's docstring)."""
    if activation != "none" and activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}: one of none, {', '.join(ACTIVATIONS)}")
    if not on_onednn(x, weight) or x.shape[-1] != weight.shape[-1]:  # (torch's message for mismatched shapes)
        y = nn.functional.linear(x, weight, bias)
        return y if activation == "none" else ACTIVATIONS[activation][0](y)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, bias)):
        return _Linear.apply(x, weight, bias, activation)
    return _product(x, weight, bias, activation)


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
