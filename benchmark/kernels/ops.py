"""The private torch ops the kernels use, behind one capability check, each beside its plain-PyTorch path.

Two families (and the backward kernels of ReLU and sigmoid, for the first), exercised at the torch the
Makefile pins:

- oneDNN's fused dense product ``torch.ops.mkldnn._linear_pointwise`` (x Wᵀ + b, optionally with a ReLU or a
  sigmoid applied as the result is written). Why: torch's public float32 products call MKL, which picks its
  kernels by CPU vendor and runs well below the cores' peak on some (see docs/performance.md); oneDNN picks
  them by instruction set;
- the row-wise softmax and log-softmax into a given buffer, ``torch.ops.aten._softmax.out`` and
  ``_log_softmax.out``. Why: the output layer's (rows, vocabulary) buffers are tens of MB, and writing the
  softmax over its own input saves one of them and a pass over memory. torch's CPU kernel reads each row
  before writing it, so the result is the out-of-place one bit for bit.

``PRIVATE_OPS`` is the one check: the ops exist and give the public ops' results on a small fixed input (a
torch that renamed or changed one fails the probe). Without them every kernel takes its plain path below,
which gives the same values (the softmaxes bit for bit, the products to float32 rounding), and the tests
run every kernel both ways (tests/test_kernels.py). The private path is taken only for float32 tensors on a
CPU (``on_fast_path``): on a GPU torch's own ops are already fast, and its kernels make no promise about
writing a softmax over its input.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

#: the activations ``linear_pointwise`` applies: torch's function, and its backward on the saved output (the
#: kernels autograd uses for torch.relu and torch.sigmoid themselves, so the gradients are theirs bit for bit)
ACTIVATIONS: dict[
    str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]
] = {
    "relu": (torch.relu, lambda g, y: torch.ops.aten.threshold_backward(g, y, 0)),
    "sigmoid": (torch.sigmoid, lambda g, y: torch.ops.aten.sigmoid_backward(g, y)),
}


def _probe() -> bool:
    """Whether the private ops exist and agree with the public ones (fixed inputs: no random state is used)."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        x = torch.arange(12, dtype=torch.float32).view(3, 4) / 7 - 0.5
        w, b = torch.arange(20, dtype=torch.float32).view(5, 4) / 11 - 0.9, torch.linspace(-1, 1, 5)
        ok = torch.allclose(
            torch.ops.mkldnn._linear_pointwise(x, w, b, "relu", [], ""), torch.relu(F.linear(x, w, b)), atol=1e-5
        )
        z, out = F.linear(x, w, b), torch.empty(3, 5)
        ok &= torch.equal(torch.ops.aten._softmax.out(z, 1, False, out=out), torch.softmax(z, 1))
        ok &= torch.equal(torch.ops.aten._log_softmax.out(z, 1, False, out=out), torch.log_softmax(z, 1))
        y = torch.sigmoid(z)
        ok &= torch.allclose(ACTIVATIONS["sigmoid"][1](z, y), z * y * (1 - y), atol=1e-6)
        ok &= torch.equal(ACTIVATIONS["relu"][1](z, torch.relu(z)), torch.where(z > 0, z, 0.0))
    except (AttributeError, RuntimeError, TypeError):
        return False
    return bool(ok)


#: the one capability check: use the private ops above (else the plain path everywhere)
PRIVATE_OPS = _probe()


def on_fast_path(*tensors: torch.Tensor) -> bool:
    """Whether an op on these tensors takes the private path: the ops are there, float32, on a CPU, non-empty."""
    return PRIVATE_OPS and all(t.device.type == "cpu" and t.dtype == torch.float32 and t.numel() for t in tensors)


def linear_pointwise(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, activation: str = "none"
) -> torch.Tensor:
    """activation(x Wᵀ + b), no autograd: x (..., in), weight (out, in), any layout. On the private path oneDNN
    reads a transposed weight view in place and copies an input that is not contiguous."""
    if on_fast_path(x, weight):
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, activation, [], "")
    y = F.linear(x, weight, bias)
    return y if activation == "none" else ACTIVATIONS[activation][0](y)


def softmax_into(z: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """softmax over the last axis of the 2-D ``z`` written into ``out`` (which may be ``z`` itself)."""
    if on_fast_path(z):
        return torch.ops.aten._softmax.out(z, 1, False, out=out)
    return out.copy_(torch.softmax(z, dim=1))


def log_softmax_into(z: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """log-softmax over the last axis of the 2-D ``z`` written into ``out`` (which may be ``z`` itself)."""
    if on_fast_path(z):
        return torch.ops.aten._log_softmax.out(z, 1, False, out=out)
    return out.copy_(torch.log_softmax(z, dim=1))
