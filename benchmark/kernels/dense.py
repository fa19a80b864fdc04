"""Dense products x Wᵀ + b (the output layer, sampling's logits, the CNN's taps, every linear layer of the
discriminators, LeakGAN and FED's encoder), through oneDNN on a CPU (``ops.linear_pointwise``).

Why: torch's public float32 products call MKL, which chooses its kernels by CPU vendor; on some CPUs it runs at
half the cores' peak where oneDNN, which chooses by instruction set, does not (figures: docs/performance.md).
Both compute in float32 with float32 sums; only the order of the sums differs, so results differ from torch's
at float32 rounding (≈ 1e-7 relative). The path depends on the capability check alone (``ops.PRIVATE_OPS``),
never on a speed probe, so a seed gives the same numbers from one run to the next. On a GPU, for other dtypes
and without the private ops, these are torch's own products.

- ``dense(x, W, b, activation)``: ``F.linear(x, W, b)``, then "relu" or "sigmoid" applied by oneDNN as the result
  is written (one pass over it fewer); its gradients are the same products (dx = g W, dW = gᵀ x, db = Σ g),
  after torch's own activation backward on the saved output. The reference: ``dense_reference``.
- ``dense_matmul(a, b)``: ``a @ b`` for ``a`` (..., k) and a matrix ``b`` (k, n).
- ``Dense``: ``nn.Linear`` computed by ``dense`` (the same parameters and state-dict keys); ``use_dense(module)``
  turns the plain ``nn.Linear`` layers of a module built elsewhere into it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from langgan_bench.kernels import ops


def dense_reference(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, activation: str = "none"
) -> torch.Tensor:
    """The plain PyTorch ``dense`` must equal (to float32 rounding): the product, then the activation."""
    y = F.linear(x, weight, bias)
    return y if activation == "none" else ops.ACTIVATIONS[activation][0](y)


class _Dense(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, activation):  # type: ignore[override]
        y = ops.linear_pointwise(x, weight, bias, activation)
        ctx.save_for_backward(x, weight, y if activation != "none" else None)
        ctx.has_bias, ctx.activation = bias is not None, activation
        return y

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        x, weight, y = ctx.saved_tensors
        if ctx.activation != "none":
            grad = ops.ACTIVATIONS[ctx.activation][1](grad, y)
        g = grad.reshape(-1, grad.shape[-1])
        need = ctx.needs_input_grad
        dx = ops.linear_pointwise(g, weight.t(), None).view(x.shape) if need[0] else None  # g W
        dw = ops.linear_pointwise(g.t(), x.reshape(-1, x.shape[-1]).t(), None) if need[1] else None  # gᵀ x
        db = g.sum(0) if ctx.has_bias and need[2] else None
        return dx, dw, db, None


def dense(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, activation: str = "none"
) -> torch.Tensor:
    """activation(x Wᵀ + b) for x (..., in), weight (out, in); ``activation`` is "none", "relu" or "sigmoid"."""
    if activation != "none" and activation not in ops.ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}: one of none, {', '.join(ops.ACTIVATIONS)}")
    if not ops.on_fast_path(x, weight) or x.shape[-1] != weight.shape[-1]:  # (torch's message for bad shapes)
        return dense_reference(x, weight, bias, activation)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, bias)):
        return _Dense.apply(x, weight, bias, activation)
    return ops.linear_pointwise(x, weight, bias, activation)


def dense_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for ``a`` (..., k) and a matrix ``b`` (k, n), through ``dense``."""
    return dense(a, b.t())


class Dense(nn.Linear):
    """``nn.Linear`` computed by ``dense``: the same parameters and state-dict keys."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dense(x, self.weight, self.bias)


def use_dense(module: nn.Module) -> nn.Module:
    """``module`` with every plain ``nn.Linear`` inside it computed by ``dense`` (its class becomes ``Dense``:
    the same parameters, nothing else changes), for networks built elsewhere (FED's sentence encoder)."""
    for sub in module.modules():
        if type(sub) is nn.Linear:
            sub.__class__ = Dense
    return module
