"""n-gram statistics of a sample set: distinct-n, unique-n, n-gram entropy, and MS-Jaccard against the test split.

- **distinct-n** (Li et al., 2016): distinct n-grams / all n-grams over the sample set (higher = more diverse);
- **unique-n**: the number of distinct n-grams (its numerator, which grows with the sample size);
- **entropy-n** (Zhang et al., 2018): the entropy, in nats, of the sample set's n-gram frequency distribution;
- **ms_jaccard-n** (Alihosseini et al., 2019): for each order k, the samples' and the references' n-gram
  counts, each divided by its number of sentences, give J_k = Σ min / Σ max over all k-grams (a multiset
  Jaccard index); MS-Jaccard-n is the geometric mean of J_1 .. J_n (higher = closer to the data in both
  quality and diversity).

Every n-gram stays inside one sentence. These are pure functions of token lists, on the dataset's own tokens.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from langgan_bench.metrics.base import EvalInputs, MetricValue, per_sample_set, signature

Sentences = Sequence[Sequence[str]]
ORDERS = (1, 2, 3, 4)
MS_JACCARD_ORDERS = (2, 3, 4, 5)


def ngram_counts(sentences: Sentences, n: int) -> Counter[tuple[str, ...]]:
    """Every n-gram of every sentence, counted in the order they occur (a sentence shorter than n has none)."""
    counts: Counter[tuple[str, ...]] = Counter()
    # a sentence zipped with its n - 1 shifted copies: the i-th tuple is the n-gram starting at word i
    grams = (zip(*(s[i:] for i in range(n)), strict=False) for s in sentences)
    counts.update(itertools.chain.from_iterable(grams))
    return counts


def distinct_n(sentences: Sentences, n: int) -> float:
    """Distinct n-grams over all n-grams (0 when there is none)."""
    return distinct_of(ngram_counts(sentences, n))


def unique_n(sentences: Sentences, n: int) -> int:
    """The number of distinct n-grams."""
    return len(ngram_counts(sentences, n))


def ngram_entropy(sentences: Sentences, n: int) -> float:
    """-Σ p log p over the n-gram frequency distribution, in nats (0 when there is no n-gram)."""
    return entropy_of(ngram_counts(sentences, n))


def distinct_of(counts: Counter) -> float:
    """``distinct_n`` from the n-gram counts."""
    total = sum(counts.values())
    return len(counts) / total if total else 0.0


def entropy_of(counts: Counter) -> float:
    """``ngram_entropy`` from the n-gram counts."""
    total = sum(counts.values())
    return math.fsum(c / total * math.log(total / c) for c in counts.values()) if total else 0.0


def sample_counts(x: EvalInputs, n: int) -> Counter[tuple[str, ...]]:
    """The n-gram counts of ``x``'s samples, counted once for this sample set whichever metric asks first
    (distinct, unique, entropy and MS-Jaccard read the same tables)."""
    return per_sample_set(x, ("ngrams", n), lambda: ngram_counts(x.tokens, n))


class ReferenceCounts(NamedTuple):
    """The references' k-gram counts for k = 1, 2, ..., their number of sentences, and for each k the exact
    sum of their per-sentence frequencies as non-overlapping float partials (``exact_partials``)."""

    counts: tuple[Counter, ...]
    n: int
    partials: tuple[tuple[float, ...], ...]

    @classmethod
    def of(cls, references: Sentences, top: int) -> ReferenceCounts:
        counts = tuple(ngram_counts(references, k) for k in range(1, top + 1))
        n = len(references)
        return cls(counts, n, tuple(tuple(exact_partials(c / n for c in t.values())) for t in counts))


def exact_partials(values: Iterable[float]) -> list[float]:
    """Floats whose exact sum is the exact sum of ``values`` (Shewchuk's non-overlapping partials, the state
    ``math.fsum`` keeps): a large sum carried into later ``fsum`` calls at no loss."""
    partials: list[float] = []
    for x in values:
        i = 0
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo:
                partials[i] = lo
                i += 1
            x = hi
        partials[i:] = [x]
    return partials


def _jaccard(a: Counter, b: Counter, n_a: int, n_b: int, b_partials: Sequence[float]) -> float:
    """Multiset Jaccard index of two count tables, each normalised by its number of sentences (1 for two
    empty tables: they are the same multiset).

    Σ min runs over the k-grams both tables hold; Σ max over the union is Σ_b + Σ over a's k-grams of
    (max - b's share), with Σ_b given exactly by ``b_partials``. Each sum is one ``math.fsum`` of the same
    terms a walk over the whole union adds, so the index is exact and does not depend on the order of the
    k-grams, at the cost of the samples' k-grams alone, not of the references' far larger table."""
    mins: list[float] = []
    highs: list[float] = list(b_partials)
    for g, c in a.items():
        x = c / n_a
        d = b.get(g)
        if d is None:
            highs.append(x)
        else:
            y = d / n_b
            mins.append(min(x, y))
            highs += (max(x, y), -y)
    high = math.fsum(highs)
    return math.fsum(mins) / high if high else 1.0


def ms_jaccard(
    samples: Sentences, references: Sentences, orders: Iterable[int] = MS_JACCARD_ORDERS
) -> dict[int, float]:
    """MS-Jaccard-n for each n in ``orders``: the geometric mean of the multiset Jaccard indices J_1 .. J_n."""
    orders = sorted(orders)
    return ms_jaccard_from_counts(samples, ReferenceCounts.of(references, orders[-1]), orders)


def ms_jaccard_from_counts(
    samples: Sentences, refs: ReferenceCounts, orders: Iterable[int], counts: Callable[[int], Counter] | None = None
) -> dict[int, float]:
    """``ms_jaccard`` with the references' k-gram counts (k = 1, 2, ...) computed once beforehand, and the
    samples' k-gram counts from ``counts(k)`` where given (else counted here)."""
    orders = sorted(orders)
    if not samples or not refs.n:
        return dict.fromkeys(orders, 0.0)
    count = counts or functools.partial(ngram_counts, samples)
    j = [
        _jaccard(count(k), refs.counts[k - 1], len(samples), refs.n, refs.partials[k - 1])
        for k in range(1, orders[-1] + 1)
    ]
    return {n: 0.0 if min(j[:n]) == 0 else math.exp(sum(math.log(x) for x in j[:n]) / n) for n in orders}


@functools.lru_cache(maxsize=4)
def _reference_counts(ident: str, references: tuple[tuple[str, ...], ...], top: int) -> ReferenceCounts:
    """The test split's k-gram counts, once per dataset (the same for every model and temperature)."""
    return ReferenceCounts.of(references, top)


def _values(name: str, values: dict[int, float], n_samples: int, **settings: object) -> list[MetricValue]:
    return [
        MetricValue(f"{name}-{n}", float(v), signature(name, n=n, **settings), n_samples) for n, v in values.items()
    ]


def evaluate_distinct(x: EvalInputs) -> list[MetricValue]:
    values = {n: distinct_of(sample_counts(x, n)) for n in ORDERS}
    return _values("distinct", values, len(x.tokens), hyps=len(x.tokens), tok=x.dataset.tokenizer)


def evaluate_unique(x: EvalInputs) -> list[MetricValue]:
    values = {n: float(len(sample_counts(x, n))) for n in ORDERS}
    return _values("unique", values, len(x.tokens), hyps=len(x.tokens), tok=x.dataset.tokenizer)


def evaluate_entropy(x: EvalInputs) -> list[MetricValue]:
    values = {n: entropy_of(sample_counts(x, n)) for n in ORDERS}
    return _values("entropy", values, len(x.tokens), hyps=len(x.tokens), tok=x.dataset.tokenizer, unit="nats")


def evaluate_ms_jaccard(x: EvalInputs) -> list[MetricValue]:
    refs = x.dataset.reference_tokens()
    counts = _reference_counts(x.dataset.ident, tuple(map(tuple, refs)), max(MS_JACCARD_ORDERS))
    values = ms_jaccard_from_counts(x.tokens, counts, MS_JACCARD_ORDERS, functools.partial(sample_counts, x))
    return _values(
        "ms_jaccard", values, len(x.tokens), hyps=len(x.tokens), refs=f"{x.dataset.ident}:test:{len(refs)}",
        norm="per-sentence", tok=x.dataset.tokenizer,
    )  # fmt: skip
