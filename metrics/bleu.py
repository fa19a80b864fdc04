"""BLEU and Self-BLEU, exactly NLTK's sentence BLEU, fast.

For each hypothesis, BLEU-n is ``nltk.translate.bleu_score.sentence_bleu(references, hypothesis,
weights=(1/n,)*n, smoothing_function=SmoothingFunction().method1)`` with the *whole* reference set, averaged
over hypotheses. NLTK loops over every reference for every hypothesis; that formula only needs, per n-gram,
the largest count in any one reference (clipping) and the reference length closest to the hypothesis's (ties
go to the shorter one). Self-BLEU scores every sentence against all the *other* sentences (leave-one-out; a
sentence is never its own reference): the leave-one-out largest count of an n-gram is its overall largest,
unless this sentence is the only one holding it, in which case it is the second-largest; the leave-one-out
lengths drop this sentence's length only if no other sentence has it.

Everything is counted in numpy arrays, none of it per n-gram in Python: words are numbered once, an n-gram's
number is made from its (n-1)-gram prefix's number and its last word (``np.unique``, so equal n-grams get
equal numbers and there is no hashing, hence no collision), and the counts per (sentence, n-gram) come from
one sort per order. The arithmetic is NLTK's (its precisions m/d, method1's ``0.1 / d`` for zero matches,
``bp * exp(Σ w log p)``, 0 without a unigram match) in float64 over all sentences at once; numpy's log/exp and
a plain sum of the ≤ 5 terms instead of ``math.fsum`` leave differences from NLTK of ~1e-16 (≤ 1e-9 in the
tests, 2e-16 on COCO in ``make perf``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from langgan_bench.metrics.base import EvalInputs, MetricValue, signature

EPSILON = 0.1  # NLTK SmoothingFunction().method1's epsilon
DEFAULT_ORDERS = (2, 3, 4, 5)

Sentence = Sequence[str]


def _check(sentences: Sequence[Sentence], what: str) -> None:
    if isinstance(sentences, str) or (len(sentences) and isinstance(sentences[0], str)):
        raise TypeError(f"{what} must be a list of token lists, e.g. [['a', 'cat'], ['a', 'dog']]")


def _encode(*groups: Sequence[Sentence]) -> tuple[np.ndarray, np.ndarray]:
    """Every sentence of ``groups`` (in order) as word numbers, concatenated, and the sentences' lengths."""
    ids: dict[str, int] = {}
    flat = [ids.setdefault(tok, len(ids)) for sentences in groups for sent in sentences for tok in sent]
    lengths = [len(sent) for sentences in groups for sent in sentences]
    return np.asarray(flat, dtype=np.int64), np.asarray(lengths, dtype=np.int64)


def _pair_counts(tokens: np.ndarray, lengths: np.ndarray, max_order: int) -> list[tuple[np.ndarray, ...]]:
    """For each order n = 1..max_order: (n-gram number, sentence, count) of every distinct n-gram of every
    sentence, sorted by n-gram number (then sentence)."""
    n_sent = len(lengths)
    sent = np.repeat(np.arange(n_sent, dtype=np.int64), lengths)
    left = np.repeat(lengths, lengths) - (np.arange(len(tokens)) - np.repeat(np.cumsum(lengths) - lengths, lengths))
    words = int(tokens.max()) + 1 if len(tokens) else 1
    prefix = tokens  # number of the (n-1)-gram starting at each position (valid where left >= n - 1)
    out = []
    for n in range(1, max_order + 1):
        at = np.flatnonzero(left >= n)  # positions where an n-gram starts
        key = tokens[at] if n == 1 else prefix[at] * words + tokens[at + n - 1]
        number = np.unique(key, return_inverse=True)[1]
        pairs, counts = np.unique(number * n_sent + sent[at], return_counts=True)
        out.append((pairs // n_sent, pairs % n_sent, counts))
        prefix = np.zeros_like(tokens)
        prefix[at] = number
    return out


def _group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]) if len(sorted_keys) else sorted_keys


def _closest(lengths: np.ndarray, hyp_len: np.ndarray) -> np.ndarray:
    """NLTK's closest_ref_length for each hypothesis: minimise (|r - h|, r) over sorted distinct ``lengths``."""
    i = np.searchsorted(lengths, hyp_len)
    lo, hi = lengths[np.maximum(i - 1, 0)], lengths[np.minimum(i, len(lengths) - 1)]
    return np.where(np.abs(hi - hyp_len) < np.abs(lo - hyp_len), hi, lo)


def _mean_scores(
    matches: np.ndarray, hyp_len: np.ndarray, ref_len: np.ndarray, orders: Sequence[int]
) -> dict[int, float]:
    """NLTK's sentence_bleu arithmetic for every sentence, from clipped matches (sentences, max order), averaged."""
    totals = np.maximum(hyp_len[:, None] - np.arange(matches.shape[1])[None, :], 0)
    d = np.maximum(totals, 1).astype(np.float64)
    logs = np.log(np.where(matches > 0, matches / d, EPSILON / d))
    h, r = hyp_len.astype(np.float64), ref_len.astype(np.float64)
    bp = np.exp(1 - r / np.maximum(h, 1.0), where=h <= r, out=np.ones_like(h))
    scored = matches[:, 0] > 0  # no unigram match: NLTK returns 0 whatever the smoothing
    out = {}
    for n in orders:
        s = bp * np.exp((logs[:, :n] * (1 / n)).sum(axis=1))
        out[n] = math.fsum(s[scored].tolist()) / len(s)
    return out


def bleu(
    *, hypotheses: Sequence[Sentence], references: Sequence[Sentence], orders: Sequence[int] = DEFAULT_ORDERS
) -> dict[int, float]:
    """Mean sentence BLEU-n of ``hypotheses`` against the whole ``references`` set, for each n in ``orders``.

    Equal to averaging ``nltk.translate.bleu_score.sentence_bleu(references, h, weights=(1/n,)*n,
    smoothing_function=SmoothingFunction().method1)`` over the hypotheses.
    """
    _check(hypotheses, "hypotheses")
    _check(references, "references")
    if not hypotheses:
        raise ValueError("BLEU needs at least one hypothesis")
    if not references:
        raise ValueError("BLEU needs at least one reference sentence")
    max_order, n_ref, n_hyp = max(orders), len(references), len(hypotheses)
    tokens, lengths = _encode(references, hypotheses)
    matches = np.zeros((n_hyp, max_order), dtype=np.int64)
    for n, (gram, sent, count) in enumerate(_pair_counts(tokens, lengths, max_order)):
        is_ref = sent < n_ref
        ref_gram = gram[is_ref]
        starts = _group_starts(ref_gram)
        largest = np.zeros(int(gram.max()) + 1 if len(gram) else 0, dtype=np.int64)
        if len(starts):
            largest[ref_gram[starts]] = np.maximum.reduceat(count[is_ref], starts)  # clipping counts
        hyp = ~is_ref
        clipped = np.minimum(count[hyp], largest[gram[hyp]])
        matches[:, n] = np.bincount(sent[hyp] - n_ref, weights=clipped, minlength=n_hyp).round().astype(np.int64)
    hyp_len = lengths[n_ref:]
    return _mean_scores(matches, hyp_len, _closest(np.unique(lengths[:n_ref]), hyp_len), orders)


def self_bleu(*, hypotheses: Sequence[Sentence], orders: Sequence[int] = DEFAULT_ORDERS) -> dict[int, float]:
    """Mean leave-one-out sentence BLEU-n: each hypothesis against all the *other* hypotheses.

    Equal to averaging ``sentence_bleu(hypotheses[:i] + hypotheses[i+1:], hypotheses[i], ...)`` over i.
    """
    _check(hypotheses, "hypotheses")
    if len(hypotheses) < 2:
        raise ValueError("Self-BLEU needs at least two sentences (each is scored against the others)")
    max_order, n_hyp = max(orders), len(hypotheses)
    tokens, lengths = _encode(hypotheses)
    matches = np.zeros((n_hyp, max_order), dtype=np.int64)
    for n, (gram, sent, count) in enumerate(_pair_counts(tokens, lengths, max_order)):
        starts = _group_starts(gram)
        if not len(starts):
            continue
        group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(gram)]))
        best = np.maximum.reduceat(count, starts)[group]  # the n-gram's largest count in one sentence
        holds_best = count == best
        holders = np.add.reduceat(holds_best.astype(np.int64), starts)[group]
        second = np.maximum.reduceat(np.where(holds_best, 0, count), starts)[group]
        others = np.where(holds_best & (holders == 1), second, best)  # the largest count among the others
        matches[:, n] = np.bincount(sent, weights=np.minimum(count, others), minlength=n_hyp).round().astype(np.int64)
    # the others' lengths: all of them, less this sentence's length if no other sentence has it
    distinct, how_many = np.unique(lengths, return_counts=True)
    i = np.searchsorted(distinct, lengths)
    below = np.where(i > 0, lengths - distinct[np.maximum(i - 1, 0)], np.iinfo(np.int64).max)
    above = np.where(
        i + 1 < len(distinct), distinct[np.minimum(i + 1, len(distinct) - 1)] - lengths, np.iinfo(np.int64).max
    )
    nearest_other = np.where(above < below, lengths + above, lengths - below)  # ties go to the shorter one
    ref_len = np.where(how_many[i] > 1, lengths, nearest_other)
    return _mean_scores(matches, lengths, ref_len, orders)


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


def evaluate_bleu(x: EvalInputs) -> list[MetricValue]:
    return bleu_values(x.tokens, x.dataset.reference_tokens(), f"{x.dataset.ident}:test", x.dataset.tokenizer)


def evaluate_self_bleu(x: EvalInputs) -> list[MetricValue]:
    return self_bleu_values(x.tokens, x.dataset.tokenizer)
