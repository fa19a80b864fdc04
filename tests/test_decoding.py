"""The decoders (models/networks/decoding.py) against exact computations on tiny models: each sampler's draws
against its truncated, renormalised distribution (every frequency within 5 binomial standard errors, a fixed
seed, so the test is deterministic), the nucleus boundary and ties by hand, beam search against brute-force
enumeration, the rejection decoders' acceptance against their threshold, the decoders that must agree with
greedy decoding, determinism, and NLL_test of the truncating decoders against a direct computation."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from langgan_bench import testing
from langgan_bench.core.config import derive_seed
from langgan_bench.core.decoders import DECODERS, REJECTION_DRAWS, parse_decoders
from langgan_bench.core.errors import UserError
from langgan_bench.datasets.base import sequence_mask
from langgan_bench.kernels.sampling import truncate_top_k, truncate_top_p
from langgan_bench.models import MODELS
from langgan_bench.models.networks.decoding import (
    beam_search,
    decode,
    decoder_nll,
    decoders_nll,
    mean_log_prob,
    truncated_log_probs,
)
from langgan_bench.models.networks.generator import GeneratorConfig, LSTMGenerator
from langgan_bench.models.training.rejection import REJECTION_DISCRIMINATORS, train_rejection_discriminator

CPU = torch.device("cpu")
DS = testing.toy_dataset(200)


def lstm(vocab: int, length: int, eos: int | None = None, pad: int | None = None, seed: int = 0) -> LSTMGenerator:
    """A tiny LSTM generator with peaked random weights (so truncation and beams have something to do)."""
    torch.manual_seed(seed)
    gen = LSTMGenerator(vocab, length, GeneratorConfig(emb_dim=8, hidden_dim=16), eos_id=eos, pad_id=pad)
    with torch.no_grad():
        gen.out.weight.mul_(6.0)
    return gen.eval()


def within(freq: torch.Tensor, target: torch.Tensor, n: int, sigmas: float = 5.0) -> bool:
    """Every frequency within ``sigmas`` binomial standard errors of its probability; zero mass never drawn."""
    se = torch.sqrt(target * (1 - target) / n)
    return bool(torch.all((freq - target).abs() <= sigmas * se + 1e-12)) and bool(torch.all(freq[target == 0] == 0))


def conditionals(gen: LSTMGenerator) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits of the first token (V,) and of the second given the first (V, V), as ``step`` gives them."""
    v = gen.vocab_size
    with torch.no_grad():
        first, state = gen.step(torch.full((v,), gen.bos_id), None)
        second, _ = gen.step(torch.arange(v), state)
    return first[0], second


def frequencies(samples: torch.Tensor, v: int) -> torch.Tensor:
    """Frequencies of the (first, second) token pairs, as a (V·V,) vector."""
    return torch.bincount(samples[:, 0] * v + samples[:, 1], minlength=v * v).double() / len(samples)


# --- top-k and nucleus -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("decoder", "knob"), [("top_k", 2), ("top_k", 4), ("top_p", 0.6), ("top_p", 0.9)])
def test_truncated_samplers_follow_the_exact_renormalised_distribution(decoder, knob):
    v, n = 5, 40_000
    gen = lstm(v, 2)
    first, second = conditionals(gen)
    cut = (lambda x: truncate_top_k(x, knob)) if decoder == "top_k" else (lambda x: truncate_top_p(x, knob))
    q1 = torch.softmax(cut(first.unsqueeze(0)).double(), -1)[0]
    q2 = torch.softmax(cut(second).double(), -1)
    joint = (q1.unsqueeze(1) * q2).flatten()
    out = decode(gen, decoder, knob, n, seed=11)
    assert out.samples.shape == (n, 2) and out.draws == out.accepted == n
    assert (joint == 0).any()  # the truncation cut something: the test says something
    assert within(frequencies(out.samples, v), joint, n)


class Table:
    """A first-order Markov "generator" written by hand: row i of ``probs`` is p(next | previous token i), the
    last row p(first token); the stepping contract only, no network."""

    def __init__(self, probs: list[list[float]], max_len: int = 1) -> None:
        self.logits = torch.log(torch.tensor(probs, dtype=torch.float32))
        self.vocab_size, self.max_len = self.logits.shape[1], max_len
        self.bos_id, self.eos_id, self.pad_id, self.device = self.logits.shape[0] - 1, None, None, CPU

    def step(self, prev: torch.Tensor, state: object) -> tuple[torch.Tensor, object]:
        return self.logits[prev], state

    def keep_rows(self, state: object, keep: torch.Tensor) -> object:
        return state

    def sample(self, n: int, temperature: float = 1.0, seed: int = 0) -> torch.Tensor:
        raise NotImplementedError


@pytest.mark.parametrize(
    ("first", "decoder", "knob", "expected"),
    [
        ([0.5, 0.3, 0.2], "top_p", 0.5, [1.0, 0.0, 0.0]),  # the first token alone reaches p
        ([0.5, 0.3, 0.2], "top_p", 0.8, [0.625, 0.375, 0.0]),  # 0.5 + 0.3 reaches 0.8 exactly: the smallest set
        ([0.5, 0.3, 0.2], "top_p", 0.81, [0.5, 0.3, 0.2]),
        ([0.5, 0.25, 0.25], "top_p", 0.55, [0.5, 0.25, 0.25]),  # tied with the nucleus' last token: kept
        ([0.5, 0.25, 0.25], "top_k", 2, [0.5, 0.25, 0.25]),  # tied with the k-th: kept
        ([0.1, 0.6, 0.3], "top_k", 1, [0.0, 1.0, 0.0]),
    ],
)
def test_nucleus_and_top_k_boundaries_and_ties_by_hand(first, decoder, knob, expected):
    n = 20_000
    table = Table([first, first, first, first])
    out = decode(table, decoder, knob, n, seed=3).samples[:, 0]  # type: ignore[arg-type]
    freq = torch.bincount(out, minlength=3).double() / n
    assert within(freq, torch.tensor(expected, dtype=torch.float64), n)


# --- beam search ---------------------------------------------------------------------------------------------------


def all_sequences(v: int, length: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(v), repeat=length)))


def reference_beam(gen: LSTMGenerator, width: int) -> list[int]:
    """Deterministic beam search written out: the width best of all one-token extensions of the kept prefixes,
    each prefix scored by the model from scratch."""
    beams: list[tuple[tuple[int, ...], float]] = [((), 0.0)]
    for _ in range(gen.max_len):
        cands = []
        for prefix, score in beams:
            with torch.no_grad():
                state, prev = None, torch.tensor([gen.bos_id])
                for tok in (*prefix, None):
                    logits, state = gen.step(prev, state)
                    if tok is not None:
                        prev = torch.tensor([tok])
            lp = torch.log_softmax(logits[0].float(), -1).double()
            cands += [((*prefix, w), score + float(lp[w])) for w in range(gen.vocab_size)]
        beams = sorted(cands, key=lambda c: -c[1])[:width]
    return list(beams[0][0])


def test_deterministic_beam_search_against_brute_force():
    gen = lstm(3, 3, seed=24)  # a model where greedy, width 2 and the most likely sentence all differ
    seqs = all_sequences(3, 3)
    joint = gen.log_prob(seqs).sum(1)
    best = seqs[int(joint.argmax())].tolist()
    exhaustive = beam_search(gen, 2, width=9, seed=0, stochastic=False)  # 9 prefixes of length 2: none dropped
    assert exhaustive.tolist() == [best, best]
    for width in (1, 2):
        assert beam_search(gen, 1, width, seed=0, stochastic=False)[0].tolist() == reference_beam(gen, width)
    assert len({str(reference_beam(gen, 1)), str(reference_beam(gen, 2)), str(best)}) == 3  # the test says something


def test_exhaustive_beam_with_eos_finds_the_most_likely_complete_sentence():
    gen = lstm(4, 3, eos=1, pad=0, seed=2)  # words 2, 3; EOS 1; padding 0 is never generated
    sentences = []
    for length in (1, 2, 3):
        for body in itertools.product((2, 3), repeat=length - 1):
            sentences.append([*body, 1] + [0] * (3 - length))
        if length == 3:
            sentences += [list(w) for w in itertools.product((2, 3), repeat=3)]  # ran to max_len without EOS
    toks = torch.tensor(sentences)
    joint = gen.log_prob(toks).double().sum(1)
    out = beam_search(gen, 1, width=27, seed=0, stochastic=False)[0]
    assert out.tolist() == sentences[int(joint.argmax())]


def test_stochastic_beam_of_width_one_is_ancestral_sampling():
    v, n = 3, 30_000
    gen = lstm(v, 3, seed=3)
    seqs = all_sequences(v, 3)
    p = gen.log_prob(seqs).double().sum(1).exp()
    out = decode(gen, "beam", 1, n, seed=5).samples
    codes = out[:, 0] * 9 + out[:, 1] * 3 + out[:, 2]
    assert within(torch.bincount(codes, minlength=27).double() / n, p, n)


def exact_beam_of_two(gen: LSTMGenerator) -> torch.Tensor:
    """The exact output distribution of stochastic beam search of width 2 over 2 tokens, by enumerating every
    outcome of its proposals: two draws with replacement per live beam (a token drawn twice counts once), the
    two best kept, the best sentence returned."""
    v = gen.vocab_size
    first, second = conditionals(gen)
    lp1 = torch.log_softmax(first.float(), -1).double()
    lp2 = torch.log_softmax(second.float(), -1).double()
    p1, p2 = lp1.exp(), lp2.exp()
    out = torch.zeros(v * v, dtype=torch.float64)
    for a, b in itertools.product(range(v), repeat=2):
        kept = sorted({a, b}, key=lambda w: -float(lp1[w]))[:2]
        for draws in itertools.product(itertools.product(range(v), repeat=2), repeat=len(kept)):
            prob = p1[a] * p1[b]
            cands = []
            for x1, (c, d) in zip(kept, draws, strict=True):
                prob = prob * p2[x1, c] * p2[x1, d]
                cands += [(float(lp1[x1] + lp2[x1, w]), x1 * v + w) for w in {c, d}]
            out[max(cands)[1]] += prob
    return out


def test_stochastic_beam_of_width_two_against_the_enumerated_distribution():
    v, n = 3, 30_000
    gen = lstm(v, 2, seed=4)
    exact = exact_beam_of_two(gen)
    assert float(exact.sum()) == pytest.approx(1.0)
    out = decode(gen, "beam", 2, n, seed=8).samples
    assert within(frequencies(out, v), exact, n)
    # not ancestral sampling: the beam moves mass onto the likelier sentences
    ancestral = (torch.softmax(conditionals(gen)[0].double(), -1).unsqueeze(1) * torch.softmax(
        conditionals(gen)[1].double(), -1)).flatten()  # fmt: skip
    assert float((exact - ancestral).abs().max()) > 0.05


# --- greedy, determinism, every generator ----------------------------------------------------------------------


def leakgan_generator():
    model = testing.build(MODELS.get("leakgan"), DS)
    return model.generator.eval()


@pytest.mark.parametrize("which", ["lstm", "leakgan"])
def test_greedy_equals_top_k_one_and_beam_one_without_noise(which):
    gen = lstm(len(DS.vocab), DS.max_len, eos=1, pad=0, seed=5) if which == "lstm" else leakgan_generator()
    greedy = gen.sample(64, 0.0, seed=1)
    assert torch.equal(decode(gen, "top_k", 1, 64, seed=2).samples, greedy)
    assert torch.equal(beam_search(gen, 64, 1, seed=3, stochastic=False), greedy)
    assert len({tuple(s) for s in greedy.tolist()}) == 1


def scorer_of(gen):
    """A deterministic D(x) stand-in for disc_reject: the share of the sentence's tokens that are not EOS."""
    return lambda x: (x > 1).double().sum(1) / x.shape[1]


GRID = [("temperature", 0.8), ("top_k", 3), ("top_p", 0.8), ("beam", 2), ("gen_reject", -3.0), ("disc_reject", 0.3)]


@pytest.mark.parametrize("which", ["lstm", "leakgan", "plugin"])
@pytest.mark.parametrize(("decoder", "knob"), GRID)
def test_every_decoder_on_every_generator_is_seeded_and_valid(which, decoder, knob):
    if which == "plugin":
        from tests.plugin_model import PluginMLE

        gen = testing.build(PluginMLE, DS).generator.eval()
    else:
        gen = lstm(len(DS.vocab), DS.max_len, eos=1, pad=0, seed=6) if which == "lstm" else leakgan_generator()
    scorer = scorer_of(gen) if decoder == "disc_reject" else None
    a = decode(gen, decoder, knob, 40, seed=7, scorer=scorer)
    b = decode(gen, decoder, knob, 40, seed=7, scorer=scorer)
    c = decode(gen, decoder, knob, 40, seed=8, scorer=scorer)
    assert torch.equal(a.samples, b.samples) and (a.draws, a.accepted) == (b.draws, b.accepted)
    assert not torch.equal(a.samples, c.samples)
    assert_valid(a.samples, 40)


def assert_valid(s: torch.Tensor, n: int) -> None:
    assert s.shape == (n, DS.max_len) and ((s >= 0) & (s < len(DS.vocab))).all()
    mask = sequence_mask(s, 1)
    assert (s[mask] != 0).all() and (s[~mask] == 0).all()


def test_batches_do_not_change_the_draws():
    gen = lstm(len(DS.vocab), DS.max_len, eos=1, pad=0, seed=6)
    for decoder, knob, batch in (("top_p", 0.8, 1000), ("beam", 3, 333)):  # a beam batch: 1000 // 3 searches
        many = decode(gen, decoder, knob, 3 * batch + 1, seed=4).samples
        assert torch.equal(decode(gen, decoder, knob, 2 * batch, seed=4).samples, many[: 2 * batch])


class SampleOnly:
    """A generator with the Generator contract alone (no step): the rejection decoders work, the token-level
    ones say what is missing."""

    def __init__(self, gen: LSTMGenerator) -> None:
        self.gen, self.eos_id = gen, gen.eos_id

    def sample(self, n: int, temperature: float = 1.0, seed: int = 0) -> torch.Tensor:
        return self.gen.sample(n, temperature, seed)

    def log_prob(self, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        return self.gen.log_prob(tokens, temperature)


def test_a_generator_without_step_gets_the_rejection_decoders_and_a_clear_refusal():
    gen = SampleOnly(lstm(len(DS.vocab), DS.max_len, eos=1, pad=0))
    assert decode(gen, "gen_reject", -3.0, 20, seed=1).samples.shape == (20, DS.max_len)  # type: ignore[arg-type]
    with pytest.raises(UserError, match=r"decoder top_p draws token by token.*no step, keep_rows"):
        decode(gen, "top_p", 0.9, 20, seed=1)  # type: ignore[arg-type]


# --- rejection --------------------------------------------------------------------------------------------------


def test_generator_rejection_keeps_exactly_the_candidates_above_the_threshold():
    gen = lstm(len(DS.vocab), DS.max_len, eos=1, pad=0, seed=7)
    n, seed = 300, 9
    candidates = gen.sample(1000, 1.0, derive_seed(seed, "candidates", 0))
    scores = mean_log_prob(gen, candidates)
    threshold = float(scores.median())
    out = decode(gen, "gen_reject", threshold, n, seed)
    above = scores > threshold
    assert out.draws == 1000 and out.accepted == int(above.sum()) and out.acceptance == pytest.approx(0.5, abs=0.01)
    assert torch.equal(out.samples, candidates[above][:n])  # the first n kept, in the order drawn
    # the score is the mean token log-probability, padding excluded
    lp = gen.log_prob(out.samples)
    direct = lp.double().sum(1) / sequence_mask(out.samples, 1).sum(1)
    assert torch.allclose(direct, mean_log_prob(gen, out.samples)) and bool((direct > threshold).all())
    # a threshold nothing passes: an honest empty result after one batch (the budget could not be met)
    none = decode(gen, "gen_reject", 0.0, 500, seed)
    assert none.accepted == 0 and len(none.samples) == 0 and none.draws == 1000 < REJECTION_DRAWS * 500
    # a low acceptance that can still meet the budget goes on; one that cannot stops after a batch
    slow, hopeless = (float(scores.quantile(q)) for q in (0.88, 0.95))
    out = decode(gen, "gen_reject", slow, 500, seed)
    assert len(out.samples) == 500 and 3000 <= out.draws <= REJECTION_DRAWS * 500
    out = decode(gen, "gen_reject", hopeless, 500, seed)
    assert out.draws == 1000 and 0 < len(out.samples) < 500 and out.acceptance == pytest.approx(0.05, abs=0.002)


def test_discriminator_rejection_acceptance_falls_with_the_threshold():
    gen = lstm(len(DS.vocab), DS.max_len, eos=1, pad=0, seed=8)  # untrained: easy to tell from the toy grammar
    disc = train_rejection_discriminator(gen, DS, REJECTION_DISCRIMINATORS["tiny"], seed=0, device=CPU)
    with torch.no_grad():
        d_real, d_fake = disc.prob_real(DS.test).mean(), disc.prob_real(gen.sample(200, 1.0, 3)).mean()
    assert d_real > 0.5 > d_fake
    runs = {t: decode(gen, "disc_reject", t, 100, seed=4, scorer=disc.prob_real) for t in (0.05, 0.2, 0.5)}
    rates = [runs[t].acceptance for t in sorted(runs)]
    assert rates[0] >= rates[1] >= rates[2] and rates[0] > rates[2]
    for t, out in runs.items():
        assert len(out.samples) == 0 or bool((disc.prob_real(out.samples) > t).all())
    again = train_rejection_discriminator(gen, DS, REJECTION_DISCRIMINATORS["tiny"], seed=0, device=CPU)
    assert all(torch.equal(a, b) for a, b in zip(disc.state_dict().values(), again.state_dict().values(), strict=True))


# --- NLL_test of the truncating decoders ---------------------------------------------------------------------------


def direct_truncated_nll(gen: LSTMGenerator, toks: torch.Tensor, decoder: str, knob: float) -> tuple[float, float]:
    """The mean NLL of ``toks`` under the truncated, renormalised teacher-forced distributions, written out."""
    with torch.no_grad():
        logits = gen(toks)  # (B, L, V), teacher-forced
    cut = truncate_top_p(logits, knob) if decoder == "top_p" else truncate_top_k(logits, int(knob))
    lp = torch.log_softmax(cut.double(), -1).gather(-1, toks.unsqueeze(-1)).squeeze(-1)
    mask = sequence_mask(toks, gen.eos_id)
    out = float((torch.isinf(lp) & mask).sum()) / float(mask.sum())
    return -float(lp[mask].sum()) / float(mask.sum()), out


def test_nll_test_at_top_p_against_a_direct_computation():
    gen = lstm(len(DS.vocab), DS.max_len, eos=1, pad=0, seed=9)
    greedyish = decode(gen, "top_p", 0.3, 200, seed=1).samples  # inside every nucleus of p >= 0.3: finite
    drawn = gen.sample(200, 1.0, seed=2)  # some tokens outside the nucleus: infinite, and how many says so
    for toks in (greedyish, drawn):
        got = decoder_nll(gen, toks, "top_p", [0.3, 0.7, 1.0])
        for (nll, outside), p in zip(got, (0.3, 0.7, 1.0), strict=True):
            want, want_out = direct_truncated_nll(gen, toks, "top_p", p)
            assert outside == pytest.approx(want_out, abs=1e-12)
            assert (math.isinf(nll) and math.isinf(want)) or nll == pytest.approx(want, rel=1e-5)
    assert math.isfinite(decoder_nll(gen, greedyish, "top_p", [0.3])[0][0])
    nll, outside = decoder_nll(gen, drawn, "top_p", [0.7])[0]
    assert math.isinf(nll) and 0 < outside < 1
    # p = 1 and k = V keep every token: the model's own NLL at T = 1
    assert decoder_nll(gen, drawn, "top_p", [1.0])[0][0] == pytest.approx(gen.nll(drawn), rel=1e-5)
    assert decoder_nll(gen, drawn, "top_k", [len(DS.vocab)])[0][0] == pytest.approx(gen.nll(drawn), rel=1e-5)
    want = direct_truncated_nll(gen, drawn, "top_k", 3)
    assert decoder_nll(gen, drawn, "top_k", [3])[0][1] == pytest.approx(want[1], abs=1e-12)
    # every truncating point from one pass: the same values as one decoder at a time
    mixed = decoders_nll(gen, greedyish, [("top_k", 3), ("top_p", 0.3), ("top_p", 0.7)])
    assert mixed == decoder_nll(gen, greedyish, "top_k", [3]) + decoder_nll(gen, greedyish, "top_p", [0.3, 0.7])


def test_truncated_log_probs_equal_the_truncated_log_softmax():
    torch.manual_seed(0)
    logits = torch.randn(50, 30) * 3
    targets = torch.randint(30, (50,))
    for decoder, knobs, cut in (
        ("top_p", [0.2, 0.9, 1.0], truncate_top_p),
        ("top_k", [1, 7, 30], lambda x, k: truncate_top_k(x, int(k))),
    ):
        got = truncated_log_probs(logits, targets, decoder, knobs)
        for i, k in enumerate(knobs):
            want = torch.log_softmax(cut(logits, k).double(), -1).gather(1, targets.unsqueeze(1))[:, 0]
            assert torch.equal(torch.isinf(got[:, i]), torch.isinf(want))
            fin = torch.isfinite(want)
            torch.testing.assert_close(got[fin, i], want[fin], rtol=0, atol=1e-12)


# --- the grid's parsing ----------------------------------------------------------------------------------------


def test_parse_decoders():
    assert parse_decoders(["top_p=0.9,0.5", "beam"]) == (("top_p", (0.5, 0.9)), ("beam", ()))
    assert parse_decoders(["top_k=5;top_k=50,5"]) == (("top_k", (5.0, 50.0)),)
    assert parse_decoders(["none"]) == ()
    assert DECODERS.get("top_k").is_greedy(1.0) and not DECODERS.get("top_p").is_greedy(1.0)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("top_p=1.5", "top_p p 1.5 must lie in (0, 1]"),
        ("top_k=2.5", "top_k k 2.5 must be a whole number"),
        ("top_k=0", "must be at least 1"),
        ("beam=100", "beam width 100 must be a whole number in 1..64"),
        ("gen_reject=1", "must be <= 0"),
        ("disc_reject=1", "must lie in [0, 1)"),
        ("top_q=0.5", "unknown decoder 'top_q' (did you mean 'top_p'?)"),
        ("temperature=1", "--temperatures"),
        ("top_p=x", "top_p p 'x' is not a number"),
        ("top_p=nan", "is not a finite number"),
        ("top_p=", "no p after '='"),
        ("none;top_p", "give it alone"),
    ],
)
def test_bad_decoder_grids_are_one_line_errors(text, why):
    with pytest.raises(UserError) as e:
        parse_decoders([text])
    assert why in str(e.value) and "\n" not in str(e.value)


def test_decoders_draw_in_evaluation_mode_also_through_a_wrapper():
    from langgan_bench.harness.sweep import SweepGenerator

    torch.manual_seed(0)
    gen = LSTMGenerator(len(DS.vocab), DS.max_len, GeneratorConfig(8, 16, dropout=0.5), eos_id=1, pad_id=0)
    gen.train()  # as a model is after its fit: dropout on
    wrapped = SweepGenerator(gen, DS.test, [1.0], (("top_p", (0.8,)),))
    for decoder, knob in (("top_p", 0.8), ("beam", 2), ("gen_reject", -3.0)):
        a = decode(wrapped, decoder, knob, 30, seed=1).samples
        torch.manual_seed(123)  # the global generator (dropout's) must not matter
        assert torch.equal(a, decode(wrapped, decoder, knob, 30, seed=1).samples) and gen.training
    assert wrapped.decoder_nll(DS.test, "top_p", 0.8) == decoder_nll(gen, DS.test, "top_p", [0.8])[0]


def test_the_public_contract_checks_catch_a_generator_without_step():
    from types import SimpleNamespace

    good = SimpleNamespace(generator=lstm(len(DS.vocab), DS.max_len, eos=1, pad=0))
    testing.check_decoders(good, DS)  # type: ignore[arg-type]
    bad = SimpleNamespace(generator=SampleOnly(good.generator))
    with pytest.raises(AssertionError, match="decoder top_k: decoder top_k draws token by token"):
        testing.check_decoders(bad, DS)  # type: ignore[arg-type]
