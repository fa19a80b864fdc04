"""MAUVE (Pillutla et al., NeurIPS 2021) on precomputed sentence embeddings, through the ``mauve-text`` package.

Both sets' embeddings are reduced by PCA and clustered together by k-means; MAUVE is the area under the
divergence curve of the two cluster histograms (1: the same distribution), ``mauve_star`` its smoothed
variant (Pillutla et al., JMLR 2023; added in ``mauve-text`` 0.4). The clustering is random: the value is the
mean over the k-means seeds given, each a full ``compute_mauve`` call. Known deviation from the paper's
setting: the features are the harness's all-MiniLM-L6-v2 embeddings (the ones FED uses), not GPT-2 large's,
so the numbers compare within this harness, not with published MAUVE values. Small sample sets are biased
towards optimism (the author asks for a few thousand a side).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from langgan_bench.metrics.base import EvalInputs, MetricValue, signature
from langgan_bench.metrics.embeddings import ENCODER, reference_embeddings, sample_embeddings


@dataclass(frozen=True)
class MauveSettings:
    """Every setting of ``compute_mauve`` that changes the number (all in the signature)."""

    num_buckets: int | str = "auto"  # "auto": one cluster per 10 points
    explained_variance: float = 0.9  # PCA before k-means
    kmeans_redo: int = 5
    kmeans_max_iter: int = 500
    scaling: float = 5.0  # the constant c of the divergence curve
    seeds: tuple[int, ...] = (25,)  # k-means seeds, averaged

    def signature_parts(self) -> dict[str, object]:
        return {
            "buckets": self.num_buckets,
            "pca": self.explained_variance,
            "redo": self.kmeans_redo,
            "iter": self.kmeans_max_iter,
            "c": self.scaling,
            "seeds": "+".join(map(str, self.seeds)),
        }


@contextlib.contextmanager
def _quiet_fds() -> Iterator[None]:
    """stdout and stderr silenced for the block at the file-descriptor level too: faiss's k-means warns from
    C++ ("please provide at least ... training points"), past Python's own streams."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


@dataclass(frozen=True)
class Mauve:
    mauve: float
    mauve_star: float
    per_seed: tuple[tuple[float, float], ...]  # (mauve, mauve_star) of each k-means seed


def mauve_of(real: np.ndarray, samples: np.ndarray, settings: MauveSettings = MauveSettings()) -> Mauve:
    """MAUVE of ``samples`` against ``real`` (rows are embeddings), averaged over the settings' seeds."""
    import mauve

    runs: list[tuple[float, float]] = []
    for seed in settings.seeds:
        with _quiet_fds():
            out = mauve.compute_mauve(
                p_features=real,
                q_features=samples,
                num_buckets=settings.num_buckets,
                kmeans_explained_var=settings.explained_variance,
                kmeans_num_redo=settings.kmeans_redo,
                kmeans_max_iter=settings.kmeans_max_iter,
                mauve_scaling_factor=settings.scaling,
                seed=seed,
                verbose=False,
            )
        runs.append((float(out.mauve), float(out.mauve_star)))
    m: Sequence[float] = [r[0] for r in runs]
    s: Sequence[float] = [r[1] for r in runs]
    return Mauve(float(np.mean(m)), float(np.mean(s)), tuple(runs))


#: The settings per profile: one k-means run per seed (the mean over three seeds is steadier than the best
#: of several runs of one seed, for the same work), one cluster per 10 points of the smaller side.
SETTINGS = MauveSettings(kmeans_redo=1, seeds=(1, 2, 3))


def evaluate_mauve(x: EvalInputs) -> list[MetricValue]:
    samples = sample_embeddings(x, x.profile.fed_samples)
    n = len(samples)
    real = reference_embeddings(x.dataset, n, x.device)
    m = mauve_of(real, samples, SETTINGS)
    sig = dict(refs=f"{x.dataset.ident}:test:{n}", hyps=n, enc=ENCODER, **SETTINGS.signature_parts(),
               tok=x.dataset.tokenizer)  # fmt: skip
    return [
        MetricValue("mauve", m.mauve, signature("mauve", **sig), n),
        MetricValue("mauve_star", m.mauve_star, signature("mauve_star", **sig), n),
    ]
