"""BLEU / Self-BLEU equal NLTK's sentence_bleu (method1) on any input, with the whole reference set."""

import functools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langgan_bench import __version__
from langgan_bench.metrics.bleu import bleu, bleu_values, self_bleu, self_bleu_values

ORDERS = (2, 3, 4, 5)


@functools.cache
def _nltk():
    """NLTK's sentence BLEU and its smoothing method1, the reference implementation: imported by the tests that
    use it, not at the top: its import is heavy, and every xdist worker imports every module to collect it."""
    from nltk.translate.bleu_score import SmoothingFunction
    from nltk.translate.bleu_score import sentence_bleu as nltk_sentence_bleu

    return nltk_sentence_bleu, SmoothingFunction().method1


def sentence_bleu(refs, hyp, n):
    score, smooth = _nltk()
    return score(refs, hyp, weights=(1 / n,) * n, smoothing_function=smooth)


def nltk_bleu(hyps, refs, orders=ORDERS):
    return {n: math.fsum(sentence_bleu(refs, h, n) for h in hyps) / len(hyps) for n in orders}


def nltk_self_bleu(hyps, orders=ORDERS):
    return {
        n: math.fsum(sentence_bleu(hyps[:i] + hyps[i + 1 :], h, n) for i, h in enumerate(hyps)) / len(hyps)
        for n in orders
    }


# few word types, so n-grams really match; lengths from 0 (empty) to longer than any reference
words = st.sampled_from(["a", "b", "c", "d", "the", "cat"])
sentence = st.lists(words, min_size=0, max_size=14)


@settings(max_examples=300, deadline=None)
@given(hyps=st.lists(sentence, min_size=1, max_size=6), refs=st.lists(sentence, min_size=1, max_size=6))
def test_bleu_equals_nltk(hyps, refs):
    ours, ref = bleu(hypotheses=hyps, references=refs), nltk_bleu(hyps, refs)
    assert all(abs(ours[n] - ref[n]) <= 1e-9 for n in ORDERS), (ours, ref)


@settings(max_examples=300, deadline=None)
@given(hyps=st.lists(sentence, min_size=2, max_size=7))
def test_self_bleu_equals_leave_one_out_nltk(hyps):
    ours, ref = self_bleu(hypotheses=hyps), nltk_self_bleu(hyps)
    assert all(abs(ours[n] - ref[n]) <= 1e-9 for n in ORDERS), (ours, ref)


@pytest.mark.parametrize(
    ("hyps", "refs"),
    [
        ([[]], [["a", "b"]]),  # empty hypothesis: 0
        ([["a"]], [["a"], ["b", "c"]]),  # one word
        ([["a", "b", "c", "d", "a", "b", "c", "d"]], [["a", "b"], ["c"]]),  # longer than every reference
        ([["x", "y"]], [["a", "b"]]),  # no unigram match at all: 0 whatever the smoothing
        ([["a", "b", "c"]], [["a", "b", "c", "d", "e"], ["a", "b"]]),  # tie in closest length -> shorter
        ([["a", "a", "a", "a"]], [["a", "a"], ["a"]]),  # clipping by the maximum reference count
    ],
)
def test_edge_cases_equal_nltk(hyps, refs):
    ours, ref = bleu(hypotheses=hyps, references=refs), nltk_bleu(hyps, refs)
    assert ours == pytest.approx(ref, abs=1e-12)


def test_analytic_values():
    s = ["a", "man", "rides", "a", "red", "bike", "."]
    assert self_bleu(hypotheses=[s, s, s]) == {n: pytest.approx(1.0) for n in ORDERS}
    assert bleu(hypotheses=[s], references=[["x"], s]) == {n: pytest.approx(1.0) for n in ORDERS}
    assert bleu(hypotheses=[[]], references=[s])[2] == 0.0
    # a sentence is never its own reference: unique sentences with no shared words score 0
    assert self_bleu(hypotheses=[["a", "b"], ["c", "d"]]) == dict.fromkeys(ORDERS, 0.0)


def test_the_whole_reference_set_is_used():
    """The only matching reference is the last of 10,001: truncating the references would miss it."""
    refs = [["w", str(i), "z"] for i in range(10_000)] + [["the", "cat", "sat", "down"]]
    hyp = [["the", "cat", "sat", "down"]]
    assert bleu(hypotheses=hyp, references=refs)[4] == pytest.approx(1.0)
    assert bleu(hypotheses=hyp, references=refs[:-1])[4] < 0.01


def test_input_errors():
    with pytest.raises(ValueError, match="at least one reference"):
        bleu(hypotheses=[["a"]], references=[])
    with pytest.raises(ValueError, match="at least two"):
        self_bleu(hypotheses=[["a"]])
    with pytest.raises(TypeError, match="list of token lists"):
        bleu(hypotheses=["a cat"], references=[["a", "cat"]])


def test_signatures():
    rows = bleu_values([["a", "b"]], [["a", "b"], ["c"]], "coco@abc:test", "13a")
    assert [r.metric for r in rows] == ["bleu-2", "bleu-3", "bleu-4", "bleu-5"]
    assert rows[3].signature == f"bleu|n:5|refs:coco@abc:test:2|hyps:1|smooth:m1|tok:13a|case:mixed|v:{__version__}"
    rows = self_bleu_values([["a"], ["a"]], "whitespace", orders=(2,))
    assert rows[0].signature == (
        f"self_bleu|n:2|hyps:2|refs:leave-one-out|smooth:m1|tok:whitespace|case:mixed|v:{__version__}"
    )
