"""The dense products through oneDNN (models/linear.py) against torch's own, values and gradients."""

from __future__ import annotations

from unittest import mock

import pytest
import torch
from torch import nn

from langgan_bench.models import linear as dense


@pytest.mark.parametrize("shape", [(7, 33), (3, 5, 33), (0, 33)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_equals_torch_linear_with_its_gradients(shape, bias):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g, requires_grad=True)
    w = torch.randn(40, 33, generator=g, requires_grad=True)
    b = torch.randn(40, generator=g, requires_grad=True) if bias else None
    up = torch.randn(*shape[:-1], 40, generator=g)
    params = [t for t in (x, w, b) if t is not None]
    ours = dense.linear(x, w, b)
    ours_grads = torch.autograd.grad(ours, params, up)
    ref = nn.functional.linear(x.double(), w.double(), None if b is None else b.double())
    ref_grads = torch.autograd.grad(ref, params, up.double())
    assert ours.dtype == torch.float32 and ours.shape == ref.shape
    torch.testing.assert_close(ours.double(), ref, rtol=1e-5, atol=1e-5)
    for a, r in zip(ours_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("onednn", [True, False])
def test_linear_applies_an_activation_with_its_gradient(activation, onednn, monkeypatch):
    """The post-op activation (oneDNN) and the fallback (torch's function after the product) against float64."""
    monkeypatch.setattr(dense, "ONEDNN", dense.ONEDNN and onednn)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 6, 33, generator=g, requires_grad=True)
    w = (torch.randn(40, 33, generator=g) / 6).requires_grad_()  # pre-activations of unit scale: no saturation
    b = torch.randn(40, generator=g, requires_grad=True)
    up = torch.randn(3, 6, 40, generator=g)
    ours = dense.linear(x, w, b, activation)
    ours_grads = torch.autograd.grad(ours, (x, w, b), up)
    act = {"relu": torch.relu, "sigmoid": torch.sigmoid}[activation]
    ref = act(nn.functional.linear(x.double(), w.double(), b.double()))
    ref_grads = torch.autograd.grad(ref, (x, w, b), up.double())
    assert (ours == 0).any() if activation == "relu" else ((ours > 0) & (ours < 1)).all()
    torch.testing.assert_close(ours.double(), ref, rtol=1e-5, atol=1e-6)
    for a, r in zip(ours_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(dense.linear(x, w, b, activation).double(), ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        dense.linear(x, w, b, "tanh")


def test_linear_reads_any_layout():
    """Transposed and strided views and an unfolded window view give the products of their contiguous
    copies."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 24, generator=g)
    cases = [
        (x.t(), torch.randn(40, 12, generator=g).t()),  # column-major input and weight
        (x[::2, ::3], torch.randn(5, 16, generator=g)[:, ::2]),  # no unit stride: copied
        (x.unfold(0, 3, 1).reshape(38, 72), torch.randn(5, 72, generator=g)),  # overlapping windows
        (x.unfold(0, 3, 1), torch.randn(5, 3, generator=g)),  # (38, 24, 3): rows of a 3-D view
    ]
    for a, b in cases:
        expected = nn.functional.linear(a.contiguous(), b.contiguous())
        torch.testing.assert_close(dense.linear(a, b), expected)
    with pytest.raises(RuntimeError, match="cannot be multiplied"):  # torch's own message for mismatched shapes
        dense.linear(x, torch.randn(5, 23))


def test_cpu_float32_products_go_through_onednn_and_others_through_torch():
    assert torch.backends.mkldnn.is_available() == dense.ONEDNN  # every x86 wheel: the fast path is taken
    x, w = torch.randn(4, 3), torch.randn(5, 3)
    with mock.patch.object(dense, "_product", wraps=dense._product) as product:
        dense.linear(x, w)
        dense.linear(x.double(), w.double())  # float64: torch's own
        assert product.call_count == (1 if dense.ONEDNN else 0)
    torch.testing.assert_close(dense.matmul(x, w.t()), x @ w.t())


def test_use_onednn_turns_every_plain_linear_into_ours_keeping_its_weights():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 2)))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(6, 3)
    expected = net(x)
    dense.use_onednn(net)
    assert [type(m) for m in net.modules() if isinstance(m, nn.Linear)] == [dense.Linear, dense.Linear]
    assert net.state_dict().keys() == before.keys()
    torch.testing.assert_close(net(x), expected)
