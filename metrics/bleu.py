"""BLEU and Self-BLEU, exactly NLTK's sentence BLEU, fast.

For each hypothesis, BLEU-n is ``nltk.translate.bleu_score.sentence_bleu(references, hypothesis,
weights=(1/n,)*n, smoothing_function=SmoothingFunction().method1)`` with the *whole* reference set, averaged
over hypotheses. NLTK loops over every reference for every hypothesis; here the reference side is reduced
once to what that formula actually uses, so each hypothesis costs time proportional to its own length:

- clipping only needs, per n-gram, the maximum count over the references (``max_counts``);
- the brevity penalty only needs the closest reference length (ties go to the shorter one), found by
  bisection in the sorted distinct reference lengths.

Self-BLEU scores every sentence against all the *other* sentences (leave-one-out; a sentence is never its
own reference). The leave-one-out maximum count of an n-gram is its overall maximum, unless this sentence
is the only one holding that maximum, in which case it is the second-largest count; the leave-one-out
length set drops this sentence's length only if no other sentence has it.

The arithmetic replicates NLTK's step by step (``Fraction`` precisions converted exactly, method1's
``0.1 / denominator`` for zero matches, ``math.fsum`` of ``w * log(p)``, ``bp * exp``), so the results equal
NLTK's to the last bit in practice and to 1e-9 in the tests.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from langgan_bench.metrics.base import EvalInputs, MetricValue, register_metric, signature

EPSILON = 0.1  # NLTK SmoothingFunction().method1's epsilon
DEFAULT_ORDERS = (2, 3, 4, 5)

Sentence = Sequence[str]


def _ngrams(ids: Sequence[int], n: int) -> list[tuple[int, ...]]:
    return [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]


@dataclass(frozen=True)
class ReferenceStats:
    """What sentence BLEU needs from a reference set: max n-gram counts and the reference lengths."""

    max_order: int
    max_counts: tuple[dict[tuple[int, ...], int], ...]  # per order 1..max_order
    lengths: tuple[int, ...]  # sorted distinct lengths
    n_references: int


class _Vocab:
    """Interns tokens as ints so n-grams hash as small int tuples."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def encode(self, sentence: Sentence) -> list[int]:
        ids = self.ids
        return [ids.setdefault(tok, len(ids)) for tok in sentence]


def _check(sentences: Sequence[Sentence], what: str) -> None:
    if isinstance(sentences, str) or (len(sentences) and isinstance(sentences[0], str)):
        raise TypeError(f"{what} must be a list of token lists, e.g. [['a', 'cat'], ['a', 'dog']]")


def reference_stats(references: Sequence[Sentence], max_order: int, vocab: _Vocab | None = None) -> ReferenceStats:
    """Reduce ``references`` to per-order maximum n-gram counts and their sorted distinct lengths."""
    _check(references, "references")
    if not references:
        raise ValueError("BLEU needs at least one reference sentence")
    vocab = vocab or _Vocab()
    max_counts: list[dict[tuple[int, ...], int]] = [{} for _ in range(max_order)]
    for ref in references:
        ids = vocab.encode(ref)
        for n in range(1, min(max_order, len(ids)) + 1):
            table = max_counts[n - 1]
            for gram, c in Counter(_ngrams(ids, n)).items():
                if c > table.get(gram, 0):
                    table[gram] = c
    lengths = tuple(sorted({len(r) for r in references}))
    return ReferenceStats(max_order, tuple(max_counts), lengths, len(references))


def _closest_length(lengths: Sequence[int], hyp_len: int) -> int:
    """NLTK's closest_ref_length: minimise (|r - h|, r) over the reference lengths."""
    i = bisect.bisect_left(lengths, hyp_len)
    candidates = lengths[max(i - 1, 0) : i + 1]
    return min(candidates, key=lambda r: (abs(r - hyp_len), r))


def _sentence_scores(
    matches: Sequence[int], totals: Sequence[int], hyp_len: int, ref_len: int, orders: Sequence[int]
) -> dict[int, float]:
    """NLTK's sentence_bleu arithmetic for each order, from clipped matches and n-gram totals per order."""
    if matches[0] == 0:  # no unigram match: NLTK returns 0 whatever the smoothing
        return dict.fromkeys(orders, 0.0)
    # brevity penalty (hyp_len > 0 here, since there is a unigram match)
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    logs = []
    for m, t in zip(matches, totals, strict=True):
        denominator = max(1, t)
        p = m / denominator if m else EPSILON / denominator  # Fraction(m, d) -> float is m / d, exactly
        logs.append(math.log(p))
    out = {}
    for n in orders:
        w = 1 / n
        out[n] = bp * math.exp(math.fsum(w * lp for lp in logs[:n]))
    return out


def bleu(
    *, hypotheses: Sequence[Sentence], references: Sequence[Sentence], orders: Sequence[int] = DEFAULT_ORDERS
) -> dict[int, float]:
    """Mean sentence BLEU-n of ``hypotheses`` against the whole ``references`` set, for each n in ``orders``.

    Equal to averaging ``nltk.translate.bleu_score.sentence_bleu(references, h, weights=(1/n,)*n,
    smoothing_function=SmoothingFunction().method1)`` over the hypotheses.
    """
    _check(hypotheses, "hypotheses")
    if not hypotheses:
        raise ValueError("BLEU needs at least one hypothesis")
    max_order = max(orders)
    vocab = _Vocab()
    stats = reference_stats(references, max_order, vocab)
    sums = dict.fromkeys(orders, 0.0)
    for hyp in hypotheses:
        ids = vocab.encode(hyp)
        matches, totals = [], []
        for n in range(1, max_order + 1):
            table = stats.max_counts[n - 1]
            counts = Counter(_ngrams(ids, n))
            matches.append(sum(min(c, table.get(g, 0)) for g, c in counts.items()))
            totals.append(max(len(ids) - n + 1, 0))
        for n, s in _sentence_scores(
            matches, totals, len(ids), _closest_length(stats.lengths, len(ids)), orders
        ).items():
            sums[n] += s
    return {n: sums[n] / len(hypotheses) for n in orders}


def self_bleu(*, hypotheses: Sequence[Sentence], orders: Sequence[int] = DEFAULT_ORDERS) -> dict[int, float]:
    """Mean leave-one-out sentence BLEU-n: each hypothesis against all the *other* hypotheses.

    Equal to averaging ``sentence_bleu(hypotheses[:i] + hypotheses[i+1:], hypotheses[i], ...)`` over i.
    """
    _check(hypotheses, "hypotheses")
    if len(hypotheses) < 2:
        raise ValueError("Self-BLEU needs at least two sentences (each is scored against the others)")
    max_order = max(orders)
    vocab = _Vocab()
    encoded = [vocab.encode(h) for h in hypotheses]
    counts = [[Counter(_ngrams(ids, n)) for n in range(1, max_order + 1)] for ids in encoded]
    # per n-gram: (largest count, how many sentences have it, second-largest count)
    top: list[dict[tuple[int, ...], list[int]]] = [{} for _ in range(max_order)]
    for sent in counts:
        for n in range(max_order):
            table = top[n]
            for g, c in sent[n].items():
                entry = table.get(g)
                if entry is None:
                    table[g] = [c, 1, 0]
                elif c > entry[0]:
                    entry[2], entry[0], entry[1] = entry[0], c, 1
                elif c == entry[0]:
                    entry[1] += 1
                elif c > entry[2]:
                    entry[2] = c
    length_count = Counter(len(ids) for ids in encoded)
    lengths = sorted(length_count)
    sums = dict.fromkeys(orders, 0.0)
    for ids, sent in zip(encoded, counts, strict=True):
        matches, totals = [], []
        for n in range(max_order):
            table = top[n]
            m = 0
            for g, c in sent[n].items():
                best, holders, second = table[g]
                others = second if (c == best and holders == 1) else best
                m += min(c, others)
            matches.append(m)
            totals.append(max(len(ids) - n, 0))
        h = len(ids)
        # drop this sentence's length from the others' lengths only if no other sentence has it
        rest = [r for r in lengths if r != h] if length_count[h] == 1 else lengths
        for n, s in _sentence_scores(matches, totals, h, _closest_length(rest, h), orders).items():
            sums[n] += s
    return {n: sums[n] / len(hypotheses) for n in orders}


def bleu_values(
    hypotheses: Sequence[Sentence],
    references: Sequence[Sentence],
    refs_id: str,
    tokenizer: str,
    orders: Sequence[int] = DEFAULT_ORDERS,
) -> list[MetricValue]:
    """BLEU-n rows with signatures (``refs_id`` names the reference set, e.g. ``coco@hash:test``)."""
    scores = bleu(hypotheses=hypotheses, references=references, orders=orders)
    return [
        MetricValue(
            f"bleu-{n}",
            s,
            signature(
                "bleu",
                n=n,
                refs=f"{refs_id}:{len(references)}",
                hyps=len(hypotheses),
                smooth="m1",
                tok=tokenizer,
                case="mixed",
            ),
            len(hypotheses),
        )
        for n, s in scores.items()
    ]


def self_bleu_values(
    hypotheses: Sequence[Sentence], tokenizer: str, orders: Sequence[int] = DEFAULT_ORDERS
) -> list[MetricValue]:
    """Self-BLEU-n rows with signatures."""
    scores = self_bleu(hypotheses=hypotheses, orders=orders)
    return [
        MetricValue(
            f"self_bleu-{n}",
            s,
            signature(
                "self_bleu", n=n, hyps=len(hypotheses), refs="leave-one-out", smooth="m1", tok=tokenizer, case="mixed"
            ),
            len(hypotheses),
        )
        for n, s in scores.items()
    ]


@register_metric(
    "bleu",
    kind="quality",
    lower_is_better=False,
    greedy=True,
    requires=("text",),
    description="mean sentence BLEU-2..5 of the samples against the whole test split (NLTK, method1)",
)
def _bleu(x: EvalInputs) -> list[MetricValue]:
    return bleu_values(x.tokens, x.dataset.reference_tokens(), f"{x.dataset.ident}:test", x.dataset.tokenizer)


@register_metric(
    "self_bleu",
    kind="diversity",
    lower_is_better=True,
    greedy=True,
    requires=("text",),
    description="mean leave-one-out sentence BLEU-2..5 of each sample against the other samples",
)
def _self_bleu(x: EvalInputs) -> list[MetricValue]:
    return self_bleu_values(x.tokens, x.dataset.tokenizer)
