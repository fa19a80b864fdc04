"""Every kernel (benchmark/kernels/) against the plain PyTorch it must equal, on the private ops' path and on the
fallback a torch without them takes (``ops.PRIVATE_OPS`` False)."""

from __future__ import annotations

from unittest import mock

import pytest
import torch
from torch import nn

from langgan_bench.kernels import dense, ops, windows
from langgan_bench.kernels.sampling import inverse_cdf_reference, pick
from langgan_bench.kernels.softmax_nll import softmax_nll, softmax_nll_reference, target_log_probs


@pytest.mark.parametrize("shape", [(7, 33), (3, 5, 33), (0, 33)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_equals_torch_linear_with_its_gradients(shape, bias):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g, requires_grad=True)
    w = torch.randn(40, 33, generator=g, requires_grad=True)
    b = torch.randn(40, generator=g, requires_grad=True) if bias else None
    up = torch.randn(*shape[:-1], 40, generator=g)
    params = [t for t in (x, w, b) if t is not None]
    ours = dense.dense(x, w, b)
    ours_grads = torch.autograd.grad(ours, params, up)
    ref = nn.functional.linear(x.double(), w.double(), None if b is None else b.double())
    ref_grads = torch.autograd.grad(ref, params, up.double())
    assert ours.dtype == torch.float32 and ours.shape == ref.shape
    torch.testing.assert_close(ours.double(), ref, rtol=1e-5, atol=1e-5)
    for a, r in zip(ours_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)


@pytest.fixture(params=["private ops", "fallback"])
def path(request, monkeypatch):
    """Each test that takes it runs on the private ops' path (where this torch has them) and on the fallback."""
    if request.param == "fallback":
        monkeypatch.setattr(ops, "PRIVATE_OPS", False)
    return request.param


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_linear_applies_an_activation_with_its_gradient(activation, path):
    """The post-op activation (oneDNN) and the fallback (torch's function after the product) against float64."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 6, 33, generator=g, requires_grad=True)
    w = (torch.randn(40, 33, generator=g) / 6).requires_grad_()  # pre-activations of unit scale: no saturation
    b = torch.randn(40, generator=g, requires_grad=True)
    up = torch.randn(3, 6, 40, generator=g)
    ours = dense.dense(x, w, b, activation)
    ours_grads = torch.autograd.grad(ours, (x, w, b), up)
    act = {"relu": torch.relu, "sigmoid": torch.sigmoid}[activation]
    ref = act(nn.functional.linear(x.double(), w.double(), b.double()))
    ref_grads = torch.autograd.grad(ref, (x, w, b), up.double())
    assert (ours == 0).any() if activation == "relu" else ((ours > 0) & (ours < 1)).all()
    torch.testing.assert_close(ours.double(), ref, rtol=1e-5, atol=1e-6)
    for a, r in zip(ours_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(dense.dense(x, w, b, activation).double(), ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        dense.dense(x, w, b, "tanh")


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
        torch.testing.assert_close(dense.dense(a, b), expected)
    with pytest.raises(RuntimeError, match="cannot be multiplied"):  # torch's own message for mismatched shapes
        dense.dense(x, torch.randn(5, 23))


def test_the_pinned_torch_has_the_private_ops_and_only_cpu_float32_takes_them():
    assert torch.backends.mkldnn.is_available() == ops.PRIVATE_OPS  # the probe passes wherever oneDNN is built in
    x, w = torch.randn(4, 3), torch.randn(5, 3)
    with mock.patch.object(torch.ops.mkldnn, "_linear_pointwise", wraps=torch.ops.mkldnn._linear_pointwise) as op:
        dense.dense(x, w)
        dense.dense(x.double(), w.double())  # float64: torch's own
        assert op.call_count == (1 if ops.PRIVATE_OPS else 0)
    torch.testing.assert_close(dense.dense_matmul(x, w.t()), x @ w.t())


def test_without_the_private_ops_no_private_op_is_called(monkeypatch):
    """The fallback is the plain path: with PRIVATE_OPS off, a training step of the fused output layer, a draw and
    a CNN scoring touch none of the private ops."""
    monkeypatch.setattr(ops, "PRIVATE_OPS", False)
    calls = []
    for name in ("_softmax", "_log_softmax"):
        monkeypatch.setattr(torch.ops.aten, name, _Spy(getattr(torch.ops.aten, name), name, calls))
    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", _Spy(None, "_linear_pointwise", calls))
    h, w, b = torch.randn(6, 4, requires_grad=True), torch.randn(9, 4, requires_grad=True), torch.randn(9)
    softmax_nll(h, w, b, torch.randint(0, 9, (6,)), 0.7).sum().backward()
    target_log_probs(h.detach(), w.detach(), b, torch.randint(0, 9, (6,)), [0.5, 1.0])
    pick(torch.randn(5, 9), 0.7, torch.Generator().manual_seed(0))
    conv = windows.tap_major(nn.Conv1d(4, 80, 3))
    windows.window_max(conv, torch.randn(2, 7, 4))
    assert calls == []


class _Spy:
    def __init__(self, real, name, calls):
        self.real, self.name, self.calls = real, name, calls

    def __getattr__(self, attr):
        self.calls.append(f"{self.name}.{attr}")
        return getattr(self.real, attr)

    def __call__(self, *args, **kwargs):
        self.calls.append(self.name)
        return self.real(*args, **kwargs)


def test_softmax_nll_equals_its_reference_with_gradients(path):
    g = torch.Generator().manual_seed(4)
    h, w, b = (torch.randn(*s, generator=g, requires_grad=True) for s in ((50, 8), (300, 8), (300,)))
    target, up = torch.randint(0, 300, (50,), generator=g), torch.rand(50, generator=g)
    for t in (1.0, 0.6):
        ours, ref = softmax_nll(h, w, b, target, t), softmax_nll_reference(h, w, b, target, t)
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
        for a, r in zip(torch.autograd.grad(ours, (h, w, b), up), torch.autograd.grad(ref, (h, w, b), up), strict=True):
            torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        many = target_log_probs(h, w, b, target, [0.6, 1.0, 2.0])
        for i, t in enumerate((0.6, 1.0, 2.0)):
            torch.testing.assert_close(many[i], -softmax_nll_reference(h, w, b, target, t), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("extra", [0, 1, 2, 17])
def test_the_training_softmax_in_blocks_is_the_one_products_bit_for_bit(extra, monkeypatch):
    """Blocks of rows give the values of one product over the batch, whatever the block size: also where the
    batch leaves one row over (a one-row product takes oneDNN's matrix-vector path, whose sums differ), which
    changed a tiny ScratchGAN run on COCO when the block size changed."""
    from langgan_bench.kernels import softmax_nll as module

    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)  # blocks are taken on one thread
    g = torch.Generator().manual_seed(5)
    w, b = torch.randn(4683, 32, generator=g) * 0.3, torch.randn(4683, generator=g) * 0.1
    layer = module._layer(w, b)
    rows = module.train_block_rows(1 << 20, 32, 4683)  # the block size _softmax_blocks takes
    h = torch.randn(2 * rows + extra, 32, generator=g)
    one = module._logits(h, layer, b, 1.0)
    assert torch.equal(module._softmax_blocks(h, layer, b, 1.0), ops.softmax_into(one, one))


def test_the_two_paths_draw_the_same_tokens_and_score_alike(monkeypatch):
    """The softmaxes into a buffer equal torch's out-of-place ones bit for bit: the same draws either way."""
    g = torch.Generator().manual_seed(5)
    logits, u = 3 * torch.randn(300, 4480, generator=g), torch.rand(300, 1, generator=g, dtype=torch.float64)
    draws = {}
    for private in (True, False):
        monkeypatch.setattr(ops, "PRIVATE_OPS", ops.PRIVATE_OPS and private)
        draws[private] = [pick(logits, t, None, u) for t in (0.5, 1.0, 1.7)]
    assert all(torch.equal(a, b) for a, b in zip(draws[True], draws[False], strict=True))
    for t, d in zip((0.5, 1.0, 1.7), draws[False], strict=True):
        reference = inverse_cdf_reference(torch.softmax(logits / t, dim=-1), u)
        assert (d == reference).float().mean() > 0.999  # but within float32 rounding of a boundary


@pytest.mark.parametrize("filters", [3, 80])
def test_window_max_equals_conv1d_with_gradients(filters, path):
    """Below ``UNFOLD_FILTERS`` filters nn.Conv1d itself; at or above it the product over the unfolded windows
    (on the private path), with the weight stored tap-major."""
    torch.manual_seed(6)
    conv = windows.tap_major(nn.Conv1d(5, filters, 3))
    e = torch.randn(4, 9, 5, requires_grad=True)
    ours, ref = windows.window_max(conv, e), windows.window_max_reference(conv, e)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    up = torch.randn_like(ref)
    params = (e, conv.weight, conv.bias)
    for a, r in zip(torch.autograd.grad(ours, params, up), torch.autograd.grad(ref, params, up), strict=True):
        torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-5)


def test_use_dense_turns_every_plain_linear_into_ours_keeping_its_weights():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 2)))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(6, 3)
    expected = net(x)
    dense.use_dense(net)
    assert [type(m) for m in net.modules() if isinstance(m, nn.Linear)] == [dense.Dense, dense.Dense]
    assert net.state_dict().keys() == before.keys()
    torch.testing.assert_close(net(x), expected)
