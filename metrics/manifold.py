"""Precision, recall, density and coverage of a sample set's embeddings against the data's (k-NN manifolds).

Each set's manifold is the union of balls around its points, each reaching the point's k-th nearest neighbour
in its own set (Kynkäänniemi et al., NeurIPS 2019). **precision**: the share of samples inside the data's
manifold (quality); **recall**: the share of data points inside the samples' manifold (diversity / coverage);
**density** (Naeem et al., ICML 2020): how many data balls hold a sample, over k, averaged over samples (1 for
samples like the data, above 1 where samples crowd into dense regions); **coverage**: the share of data
points whose ball holds at least one sample. Euclidean distances, as the ``prdc`` package computes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from langgan_bench.metrics.base import EvalInputs, MetricValue, signature
from langgan_bench.metrics.embeddings import ENCODER, reference_embeddings, sample_embeddings


@dataclass(frozen=True)
class PRDC:
    precision: float
    recall: float
    density: float
    coverage: float


def pairwise_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``x`` and ``y`` (scikit-learn's, as the reference uses)."""
    from sklearn.metrics import pairwise_distances as sk_distances

    return sk_distances(x, y, metric="euclidean")


def kth_neighbour_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Each point's distance to its k-th nearest neighbour in its own set (itself, at 0, not counted)."""
    d = pairwise_distances(features, features)
    return np.partition(d, k, axis=1)[:, k]


def prdc(real: np.ndarray, fake: np.ndarray, k: int) -> PRDC:
    """Precision, recall, density and coverage of ``fake`` against ``real`` (rows are embeddings)."""
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision/recall need more than k = {k} points a side (got {len(real)}, {len(fake)})")
    real_r, fake_r = kth_neighbour_radii(real, k), kth_neighbour_radii(fake, k)
    d = pairwise_distances(real, fake)  # (real, fake)
    inside_real = d < real_r[:, None]  # sample j inside data point i's ball
    return PRDC(
        precision=float(inside_real.any(axis=0).mean()),
        recall=float((d < fake_r[None, :]).any(axis=1).mean()),
        density=float((1.0 / k) * inside_real.sum(axis=0).mean()),
        coverage=float((d.min(axis=1) < real_r).mean()),
    )


#: Neighbours of the k-NN balls (Naeem et al.'s default).
K = 5


def evaluate_prdc(x: EvalInputs) -> list[MetricValue]:
    samples = sample_embeddings(x, x.profile.fed_samples)
    n = len(samples)
    real = reference_embeddings(x.dataset, n, x.device)
    got = prdc(real, samples, K)
    sig = dict(refs=f"{x.dataset.ident}:test:{n}", hyps=n, k=K, enc=ENCODER, dist="euclidean",
               tok=x.dataset.tokenizer)  # fmt: skip
    return [MetricValue(name, getattr(got, name), signature(name, **sig), n) for name in PRDC.__dataclass_fields__]
