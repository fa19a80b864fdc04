"""The shared generator and the one temperature helper."""

import pytest
import torch
import torch.nn.functional as F

from langgan_bench.core.config import check_temperature
from langgan_bench.datasets.base import sequence_mask
from langgan_bench.kernels import sampling as temperature_module
from langgan_bench.kernels.sampling import BLOCK, inverse_cdf, log_probs, pick
from langgan_bench.models.networks.generator import GeneratorConfig, LSTMGenerator


def make(eos=None, pad=None, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    return LSTMGenerator(
        12, 7, GeneratorConfig(emb_dim=8, hidden_dim=16, num_layers=2, dropout=dropout), eos_id=eos, pad_id=pad
    )


def test_temperature_helper():
    logits = torch.tensor([[1.0, 3.0, 2.0], [0.5, -1.0, 4.0]])
    assert pick(logits, 0.0).tolist() == [1, 2]
    torch.testing.assert_close(log_probs(logits, 0.5), torch.log_softmax(logits * 2, dim=-1))
    torch.testing.assert_close(log_probs(logits, 1.0), torch.log_softmax(logits, dim=-1))
    with pytest.raises(ValueError, match="greedy"):
        log_probs(logits, 0.0)
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            check_temperature(bad)
    # draws follow softmax(logits / T) and never pick a masked (-inf) token
    masked = torch.tensor([0.0, 1.0, float("-inf"), 2.0, -1.0])
    for t in (0.5, 1.0, 2.0):
        g = torch.Generator().manual_seed(1)
        freq = torch.bincount(pick(masked.expand(100_000, 5), t, g), minlength=5).double() / 100_000
        torch.testing.assert_close(freq, torch.softmax(masked.double() / t, -1), atol=0.005, rtol=0)
        assert freq[2] == 0
    # a very low temperature concentrates the draws on the argmax
    g = torch.Generator().manual_seed(0)
    draws = pick(logits.expand(500, 2, 3), 0.05, g)
    assert (draws == torch.tensor([1, 2])).float().mean() > 0.99


def test_sequence_mask_counts_up_to_the_first_eos():
    toks = torch.tensor([[5, 1, 0, 0], [5, 6, 7, 8], [1, 0, 0, 0]])
    assert sequence_mask(toks, eos_id=1).tolist() == [
        [True, True, False, False],
        [True, True, True, True],
        [True, False, False, False],
    ]
    assert sequence_mask(toks, eos_id=None).all()


def test_log_prob_is_a_direct_cross_entropy():
    gen = make(eos=1, pad=0).eval()
    toks = torch.tensor([[3, 4, 1, 0, 0, 0, 0], [5, 6, 7, 8, 9, 10, 11], [2, 1, 0, 0, 0, 0, 0]])
    for t in (0.7, 1.0, 1.6):
        logits = gen(toks)
        ce = F.cross_entropy((logits / t).reshape(-1, 12), toks.reshape(-1), reduction="none").reshape(3, 7)
        mask = sequence_mask(toks, 1)
        torch.testing.assert_close(gen.log_prob(toks, t), torch.where(mask, -ce, torch.zeros_like(ce)))
        assert gen.nll(toks, t) == pytest.approx(float(ce[mask].mean().detach()), rel=1e-6)


def test_padding_is_never_generated_and_follows_eos():
    gen = make(eos=1, pad=0)
    s = gen.sample(300, 1.5, seed=3)
    assert s.shape == (300, 7)
    mask = sequence_mask(s, 1)
    assert (s[mask] != 0).all()  # pad never appears inside a sentence
    assert (s[~mask] == 0).all()  # and fills everything after the EOS
    assert (s == 1).any()


def test_sampling_is_seeded_and_leaves_mode_and_rng_alone():
    gen = make(dropout=0.3).train()
    state = torch.get_rng_state()
    a, b = gen.sample(50, 1.0, seed=7), gen.sample(50, 1.0, seed=7)
    assert torch.equal(a, b) and not torch.equal(a, gen.sample(50, 1.0, seed=8))
    assert gen.training and torch.equal(state, torch.get_rng_state())
    greedy = gen.sample(4, 0.0, seed=1)
    assert (greedy == greedy[0]).all()  # greedy decoding from BOS: one sentence


@torch.no_grad()
def sample_every_row(gen, n: int, temperature: float, seed: int) -> torch.Tensor:
    """The reference sampler: every row of the batch stepped to the end, padding fed to ended sentences."""
    g = torch.Generator().manual_seed(seed)
    prev, state = torch.full((n,), gen.bos_id), None
    done, out = torch.zeros(n, dtype=torch.bool), torch.full((n, gen.max_len), gen.pad_id)
    for p in range(gen.max_len):
        logits, state = gen.step(prev, state)
        tok = torch.where(done, gen.pad_id, pick(logits, temperature, g))
        done |= tok == gen.eos_id
        out[:, p] = prev = tok
    return out


def test_ended_sentences_leave_the_batch_with_the_same_samples():
    gen = make(eos=1, pad=0).eval()
    for t in (0.0, 0.7, 1.5):
        s = gen.sample(300, t, seed=5)
        assert torch.equal(s, sample_every_row(gen, 300, t, seed=5)), t
    lengths = sequence_mask(s, 1).sum(1)
    assert lengths.min() < 3 and lengths.max() == 7  # sentences of many lengths: rows left at many steps


def test_sampling_draws_a_block_of_rows_at_a_time_with_the_same_samples(monkeypatch):
    """On a CPU the output layer and the draw run over blocks of rows (``pick_blocks``): with blocks of 16
    rows the samples are still those of the reference sampler, at every temperature."""
    gen = make(eos=1, pad=0).eval()
    monkeypatch.setattr(temperature_module, "PICK_BLOCK_BYTES", 1)  # 16 rows per block
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the blocks are used on one thread only
    try:
        for t in (0.0, 0.7, 1.5):
            assert torch.equal(gen.sample(300, t, seed=5), sample_every_row(gen, 300, t, seed=5)), t
    finally:
        torch.set_num_threads(threads)


def test_scoring_never_updates_a_weight():
    gen = make(dropout=0.5).train()
    before = {k: v.clone() for k, v in gen.state_dict().items()}
    toks = gen.sample(20, 1.0, seed=0)
    first = gen.nll(toks)
    assert gen.nll(toks) == first  # eval mode: dropout off, deterministic
    assert gen.training
    assert all(torch.equal(before[k], v) for k, v in gen.state_dict().items())
    assert all(p.grad is None for p in gen.parameters())


def test_locked_dropout_shares_one_mask_across_time():
    gen = make(dropout=0.5).train()
    x = torch.ones(3, 5, 4)
    torch.manual_seed(0)
    y = gen._drop(x)
    assert torch.equal(y[:, :1].expand_as(y), y)
    assert set(y.unique().tolist()) <= {0.0, 2.0}


def test_two_level_draws_are_the_one_level_inverse_cdf():
    """``pick``'s block-then-word inverse CDF against one float64 running sum over the whole row, with the same
    uniforms: the same token except within float32 rounding of a boundary; the ends of [0, 1) land on the
    first and the last word of positive weight, never on zero mass (a masked word, an empty block, padding)."""
    g = torch.Generator().manual_seed(3)
    for v in (3 * BLOCK, 3 * BLOCK - 13):  # V a multiple of the block, and a shorter last block
        w = torch.exp(3 * torch.randn(2000, v, generator=g))
        u = torch.rand(2000, 1, generator=g, dtype=torch.float64)
        ref = torch.cumsum(w.double(), dim=-1)
        one_level = torch.searchsorted(ref, u * ref[:, -1:], right=True)[:, 0]
        assert (inverse_cdf(w, u) == one_level).float().mean() > 0.999
    w = torch.zeros(2, 2 * BLOCK + 5)  # the last, short block: its last word, never the zero mass past it
    w[:, [3, 2 * BLOCK + 4]] = 1.0
    assert inverse_cdf(w, torch.tensor([[0.0], [1.0 - 2**-53]], dtype=torch.float64)).tolist() == [3, 2 * BLOCK + 4]
    w = torch.zeros(3, 3 * BLOCK)
    w[:, [5, 7, 2 * BLOCK + 1]] = torch.tensor([1.0, 2.0, 1e-6])  # block 1 is empty; a small last word
    u = torch.tensor([[0.0], [1.0 - 2**-53], [0.5]], dtype=torch.float64)
    assert inverse_cdf(w, u).tolist() == [5, 2 * BLOCK + 1, 7]
    w[:, 2 * BLOCK + 1] = 0.0
    assert inverse_cdf(w, u).tolist() == [5, 7, 7]
    # a diverged generator's NaN logits still give tokens (its loss then reports the divergence)
    assert pick(torch.full((2, 70), float("nan")), 1.0).shape == (2,)
    assert pick(torch.zeros(0, 70), 1.0).shape == (0,)


def test_softmax_nll_against_float64_with_weighted_rows_tiny_targets_and_padding():
    """softmax_nll (models/softmax_nll.py) against a float64 log_softmax + gather: rows with their own upstream
    gradient (REINFORCE's rewards), targets whose probability underflows float32 (e^-150: their NLL from the
    log-softmax, not −log 0 = inf) and a padding word whose bias is -inf (never NaN), at T = 1 and T != 1."""
    from langgan_bench.kernels.softmax_nll import softmax_nll

    torch.manual_seed(0)
    h, w, b = torch.randn(7, 5), torch.randn(11, 5), torch.randn(11)
    b[0], b[3] = float("-inf"), -150.0  # padding; a word the rows cannot reach in float32
    target = torch.tensor([3, 1, 3, 5, 10, 2, 3])
    weights = torch.tensor([0.5, -1.0, 2.0, 0.0, 1.5, -0.25, 1.0], dtype=torch.float64)
    for t in (1.0, 0.7):
        args = [x.clone().requires_grad_() for x in (h, w, b)]
        nll = softmax_nll(*args, target, t)
        ref_args = [x.double().requires_grad_() for x in (h, w, b)]
        logits = (ref_args[0] @ ref_args[1].t() + ref_args[2]) / t
        ref = -torch.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
        torch.testing.assert_close(nll.double(), ref, rtol=1e-6, atol=1e-5)
        assert nll[0].item() > 100 / t  # ≈ 150 / T nats, finite
        grads = torch.autograd.grad((nll.double() * weights).sum(), args)
        ref_grads = torch.autograd.grad((ref * weights).sum(), ref_args)
        for a, r in zip(grads, ref_grads, strict=True):
            assert torch.isfinite(a).all()
            torch.testing.assert_close(a.double(), r, rtol=1e-5, atol=1e-6)


def test_fused_output_layer_matches_the_plain_log_softmax():
    """log_prob's fused output layer (models/softmax_nll.py) against log_softmax + gather, values and
    gradients (float32 rounding only), with and without EOS/padding, at T = 1 and T != 1."""
    from langgan_bench.harness.sweep import SweepGenerator
    from langgan_bench.models.networks.generator import log_prob_from_logits, nll_from_logits

    for eos, pad in ((None, None), (1, 0)):
        gen = make(eos=eos, pad=pad)
        x = torch.randint(2, 12, (9, 7))
        if eos is not None:
            x[:4, 3], x[:4, 4:] = eos, pad
        for t in (1.0, 0.6):
            fused, plain = gen.log_prob(x, t), log_prob_from_logits(gen, x, t)
            torch.testing.assert_close(fused, plain, rtol=0, atol=1e-5)
            g1 = torch.autograd.grad(fused.sum(), list(gen.parameters()))
            g2 = torch.autograd.grad(plain.sum(), list(gen.parameters()))
            for a, b in zip(g1, g2, strict=True):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
        temps = [0.5, 1.0, 2.0]
        many = gen.nll_many(x, temps, batch_size=4)
        for t, v in zip(temps, many, strict=True):
            assert v == pytest.approx(nll_from_logits(gen, x, t, batch_size=4), rel=1e-6)
            assert gen.nll(x, t, batch_size=4) == v  # one temperature or several: the same sum
        sweep = SweepGenerator(gen, x, [0.0, *temps])
        assert [sweep.nll(x, t) for t in temps] == [gen.nll(x, t) for t in temps]


def test_softmax_nll_training_forward_in_blocks_of_rows_gives_the_same_bits(monkeypatch):
    """On one thread the training forward computes logits and softmax a block of rows at a time
    (``TRAIN_BLOCK_BYTES``): with 16-row blocks the NLL and the gradients equal those of one block."""
    from langgan_bench.kernels import softmax_nll as module

    torch.manual_seed(0)
    h, w, b = torch.randn(70, 8), torch.randn(300, 8), torch.randn(300)
    target = torch.randint(0, 300, (70,))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = []
        for block_bytes in (1 << 30, 1):  # one block; 16 rows per block
            monkeypatch.setattr(module, "TRAIN_BLOCK_BYTES", block_bytes)
            hh, ww, bb = (x.clone().requires_grad_() for x in (h, w, b))
            nll = module.softmax_nll(hh, ww, bb, target, 0.7)
            (nll * torch.linspace(0.5, 1.5, 70)).sum().backward()
            results.append((nll.detach(), hh.grad, ww.grad, bb.grad))
    finally:
        torch.set_num_threads(threads)
    for one, blocked in zip(*results, strict=True):
        assert torch.equal(one, blocked)
