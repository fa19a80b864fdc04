"""distinct-n, unique-n, n-gram entropy and MS-Jaccard against hand-computed cases and analytic ones, and
MS-Jaccard's index against the plain walk over the union of both tables."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langgan_bench.metrics.ngrams import (
    ReferenceCounts,
    distinct_n,
    exact_partials,
    ms_jaccard,
    ms_jaccard_from_counts,
    ngram_counts,
    ngram_entropy,
    unique_n,
)
from langgan_bench.metrics.ngrams import _jaccard as jaccard

S = [["a", "b", "a"], ["a", "b"]]
R = [["a", "b"], ["c"]]


def test_distinct_unique_and_entropy_by_hand():
    # unigrams a b a | a b: 5 in all, 2 distinct, p(a) = 3/5; bigrams ab ba | ab; one trigram; no 4-gram
    assert [distinct_n(S, n) for n in (1, 2, 3, 4)] == [2 / 5, 2 / 3, 1.0, 0.0]
    assert [unique_n(S, n) for n in (1, 2, 3, 4)] == [2, 2, 1, 0]
    h1 = -(3 / 5 * math.log(3 / 5) + 2 / 5 * math.log(2 / 5))
    h2 = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert ngram_entropy(S, 1) == pytest.approx(h1, abs=1e-15) and ngram_entropy(S, 2) == pytest.approx(h2, abs=1e-15)
    assert ngram_entropy(S, 3) == 0.0 and ngram_entropy(S, 4) == 0.0
    assert ngram_counts(S, 2) == Counter({("a", "b"): 2, ("b", "a"): 1})  # never across two sentences


def test_ms_jaccard_by_hand():
    # k = 1: samples a 3/2, b 2/2; references a 1/2, b 1/2, c 1/2: Σmin = 1, Σmax = 3 -> J1 = 1/3
    # k = 2: samples ab 2/2, ba 1/2; references ab 1/2: Σmin = 1/2, Σmax = 3/2 -> J2 = 1/3
    # k = 3: the references have no trigram -> J3 = 0
    got = ms_jaccard(S, R, orders=(1, 2, 3))
    assert got[1] == pytest.approx(1 / 3) and got[2] == pytest.approx(1 / 3) and got[3] == 0.0


def test_ms_jaccard_of_a_set_with_itself_is_one_and_counts_are_per_sentence():
    assert ms_jaccard(S, S, orders=(2, 3, 4, 5)) == pytest.approx({2: 1.0, 3: 1.0, 4: 1.0, 5: 1.0})
    assert ms_jaccard(S, S * 3, orders=(2, 3)) == pytest.approx({2: 1.0, 3: 1.0})  # the same distribution
    assert ms_jaccard([], R) == dict.fromkeys((2, 3, 4, 5), 0.0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.sampled_from("abcd"), min_size=0, max_size=6), min_size=1, max_size=8))
def test_bounds_and_the_repeated_set(sentences):
    for n in (1, 2, 3):
        assert 0.0 <= distinct_n(sentences, n) <= 1.0
        total = sum(ngram_counts(sentences, n).values())
        # the entropy is at most log of the number of distinct n-grams; a repeated set has the same entropy
        assert ngram_entropy(sentences, n) <= math.log(max(unique_n(sentences, n), 1)) + 1e-12
        assert ngram_entropy(sentences * 2, n) == pytest.approx(ngram_entropy(sentences, n), abs=1e-12)
        if total:
            assert distinct_n(sentences * 2, n) == pytest.approx(distinct_n(sentences, n) / 2)
    assert all(0.0 <= v <= 1.0 + 1e-12 for v in ms_jaccard(sentences, R).values())


def jaccard_over_the_union(a: Counter, b: Counter, n_a: int, n_b: int) -> float:
    """The definition as written: Σ min / Σ max over every k-gram of either table (the reference)."""
    pairs = [(a.get(g, 0) / n_a, b.get(g, 0) / n_b) for g in a.keys() | b.keys()]
    high = math.fsum(max(x, y) for x, y in pairs)
    return math.fsum(min(x, y) for x, y in pairs) / high if high else 1.0


def _table(counts: dict[int, int]) -> Counter:
    return Counter({str(g): c for g, c in counts.items()})


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.integers(0, 30), st.integers(1, 9), max_size=20),
    st.dictionaries(st.integers(0, 30), st.integers(1, 9), max_size=20),
    st.integers(1, 7),
    st.integers(1, 11),
)
def test_the_index_over_the_samples_kgrams_equals_the_walk_over_the_union_bitwise(a, b, n_a, n_b):
    a, b = _table(a), _table(b)
    got = jaccard(a, b, n_a, n_b, exact_partials(c / n_b for c in b.values()))
    assert got == jaccard_over_the_union(a, b, n_a, n_b)


def test_ms_jaccard_on_real_sentences_equals_the_walk_over_the_union_bitwise(data_dir):
    from langgan_bench.datasets import load_dataset

    ds = load_dataset("coco", data_dir)
    refs = ds.reference_tokens()
    train = [ds.decode(s).split() for s in ds.train[:500]]
    table = ReferenceCounts.of(refs, 5)
    for samples in (train, refs[:300], [s[::-1] for s in train]):
        got = ms_jaccard_from_counts(samples, table, (1, 2, 3, 4, 5))  # the references counted once
        j = [
            jaccard_over_the_union(ngram_counts(samples, k), table.counts[k - 1], len(samples), len(refs))
            for k in range(1, 6)
        ]
        assert got[1] == j[0] > 0
        for n in (2, 3, 4, 5):
            assert got[n] == (0.0 if min(j[:n]) == 0 else math.exp(sum(math.log(x) for x in j[:n]) / n))
    # exact_partials: their exact sum is the sum of what they replace (here checked through fsum)
    values = [c / len(refs) for c in table.counts[2].values()]
    assert math.fsum(exact_partials(values)) == math.fsum(values) and len(exact_partials(values)) < 8


def test_the_metrics_count_each_order_once_per_sample_set_and_give_the_pure_functions_values(monkeypatch):
    from langgan_bench.core.profiles import PROFILES
    from langgan_bench.metrics import base, ngrams
    from langgan_bench.testing import toy_dataset

    ds = toy_dataset(60)
    samples = ds.train[:40]
    x = base.EvalInputs(ds, PROFILES.get("tiny"), samples, [ds.decode(s).split() for s in samples])
    counted = []
    real = ngrams.ngram_counts
    monkeypatch.setattr(ngrams, "ngram_counts", lambda s, n: counted.append((s is x.tokens, n)) or real(s, n))
    scorers = (ngrams.evaluate_distinct, ngrams.evaluate_unique, ngrams.evaluate_entropy, ngrams.evaluate_ms_jaccard)
    got = {v.metric: v.value for f in scorers for v in f(x)}
    assert sorted(n for mine, n in counted if mine) == [1, 2, 3, 4, 5]  # the samples' tables, once each
    monkeypatch.setattr(ngrams, "ngram_counts", real)
    for n in ngrams.ORDERS:
        assert got[f"distinct-{n}"] == distinct_n(x.tokens, n)
        assert got[f"unique-{n}"] == unique_n(x.tokens, n)
        assert got[f"entropy-{n}"] == ngram_entropy(x.tokens, n)
    for n, v in ms_jaccard(x.tokens, ds.reference_tokens()).items():
        assert got[f"ms_jaccard-{n}"] == v
