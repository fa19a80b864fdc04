"""Metrics, registered by name: pure functions over samples and references that return value + signature.

Each metric's entry says what it measures, its direction, where it applies, and where its adapter (and, for
the judge LM, its preparation) lives; the adapter's module is imported at the first ``compute``, so listing
metrics and reading their directions (``analysis/report.py``) import no torch. The metric functions
themselves are in their modules: ``bleu.bleu`` and ``bleu.self_bleu``, ``fed.fed``, ``lm.lm_score`` and
``lm.reverse_lm_score``, ``nll.nll_oracle`` and ``nll.nll_test``, ``mauve.mauve_of``, ``manifold.prdc``, and
``ngrams.distinct_n``, ``ngrams.unique_n``, ``ngrams.ngram_entropy`` and ``ngrams.ms_jaccard``.
"""

from __future__ import annotations

from langgan_bench.metrics.base import METRICS, EvalInputs, MetricSpec, MetricValue, signature

_HERE = __name__
for _spec in (
    MetricSpec(
        "nll_oracle",
        f"{_HERE}.nll:evaluate_nll_oracle",
        kind="quality",
        lower_is_better=True,
        greedy=True,
        requires=("oracle",),
        description="oracle's per-token NLL of the model's samples (nats)",
    ),
    MetricSpec(
        "nll_test",
        f"{_HERE}.nll:evaluate_nll_test",
        kind="diversity",
        lower_is_better=True,
        greedy=False,
        requires=("generator",),
        description="model's per-token NLL of the held-out test split at temperature T (nats); at top_k / top_p "
        "under the renormalised truncation (inf when a test token is outside: nll_test_outside is their share)",
        values=("nll_test_outside",),
    ),
    MetricSpec(
        "bleu",
        f"{_HERE}.bleu:evaluate_bleu",
        kind="quality",
        lower_is_better=False,
        greedy=True,
        requires=("text",),
        description="mean sentence BLEU-2..5 of the samples against the whole test split (NLTK, method1)",
    ),
    MetricSpec(
        "self_bleu",
        f"{_HERE}.bleu:evaluate_self_bleu",
        kind="diversity",
        lower_is_better=True,
        greedy=True,
        requires=("text",),
        description="mean leave-one-out sentence BLEU-2..5 of each sample against the other samples",
    ),
    MetricSpec(
        "fed",
        f"{_HERE}.fed:evaluate_fed",
        kind="quality",
        lower_is_better=True,
        greedy=True,
        requires=("text",),
        description="Fréchet distance of all-MiniLM-L6-v2 embeddings: N samples vs N test sentences",
    ),
    MetricSpec(
        "lm_score",
        f"{_HERE}.lm:evaluate_lm_score",
        kind="quality",
        lower_is_better=True,
        greedy=True,
        requires=("text",),
        description="per-token NLL of the samples under a judge LM trained on the real train split",
        prepare=f"{_HERE}.lm:prepare_judge",
    ),
    MetricSpec(
        "reverse_lm_score",
        f"{_HERE}.lm:evaluate_reverse_lm_score",
        kind="diversity",
        lower_is_better=True,
        greedy=True,
        requires=("text",),
        description="per-token NLL of the real test split under an LM trained on the samples",
    ),
    MetricSpec(
        "mauve",
        f"{_HERE}.mauve:evaluate_mauve",
        kind="quality",
        lower_is_better=False,
        greedy=False,
        requires=("text",),
        description="MAUVE (and smoothed mauve_star) of the samples' embeddings against the test split's "
        "(mauve-text; 1 = the same distribution)",
        values=("mauve_star",),
    ),
    MetricSpec(
        "prdc",
        f"{_HERE}.manifold:evaluate_prdc",
        kind="quality",
        lower_is_better=False,
        greedy=True,
        requires=("text",),
        description="precision (samples on the data's k-NN manifold), recall (data on the samples'), density "
        "and coverage of the embeddings, k = 5",
        values=("precision", "recall", "density", "coverage"),
    ),
    MetricSpec(
        "distinct",
        f"{_HERE}.ngrams:evaluate_distinct",
        kind="diversity",
        lower_is_better=False,
        greedy=True,
        requires=(),
        description="distinct n-grams / all n-grams of the samples, n = 1..4",
    ),
    MetricSpec(
        "unique",
        f"{_HERE}.ngrams:evaluate_unique",
        kind="diversity",
        lower_is_better=False,
        greedy=True,
        requires=(),
        description="the number of distinct n-grams of the samples, n = 1..4 (grows with the sample size)",
    ),
    MetricSpec(
        "entropy",
        f"{_HERE}.ngrams:evaluate_entropy",
        kind="diversity",
        lower_is_better=False,
        greedy=True,
        requires=(),
        description="entropy (nats) of the samples' n-gram frequencies, n = 1..4",
    ),
    MetricSpec(
        "ms_jaccard",
        f"{_HERE}.ngrams:evaluate_ms_jaccard",
        kind="quality",
        lower_is_better=False,
        greedy=True,
        requires=(),
        description="geometric mean of the multiset Jaccard indices of 1..n-gram frequencies against the test "
        "split, n = 2..5",
    ),
):
    METRICS.add(_spec.name, _spec)

__all__ = ["METRICS", "EvalInputs", "MetricSpec", "MetricValue", "signature"]
