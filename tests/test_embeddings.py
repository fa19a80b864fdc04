"""One encoder pass per sample set and per reference set, shared by FED, MAUVE and precision/recall, with the
reference side cached on disk under a key that changes with the encoder."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from langgan_bench.core.profiles import PROFILES
from langgan_bench.datasets import load_dataset
from langgan_bench.metrics import METRICS, EvalInputs
from langgan_bench.metrics import embeddings as emb


def fake_embed(calls: list[int]):
    """A deterministic stand-in for the encoder: each sentence's vector from its hash (unit length)."""

    def embed(sentences: list[str], device: str = "cpu") -> np.ndarray:
        calls.append(len(sentences))
        seeds = [int(hashlib.sha256(s.encode()).hexdigest()[:8], 16) for s in sentences]
        x = np.stack([np.random.default_rng(s).normal(size=emb.DIM) for s in seeds])
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    return embed


@pytest.fixture
def coco(data_dir):
    p = PROFILES.get("tiny")
    return load_dataset("coco", data_dir).limited(p.train_limit, p.valid_limit, p.test_limit), p


def test_one_encoder_pass_per_sample_set_and_reference_set(coco, tmp_path, monkeypatch):
    ds, profile = coco
    calls: list[int] = []
    monkeypatch.setattr(emb, "embed", fake_embed(calls))
    monkeypatch.setenv("LANGGAN_CACHE", str(tmp_path))
    emb._references.cache_clear()
    tokens = ds.reference_tokens()[200:500]  # real sentences, not the references themselves
    x = EvalInputs(ds, profile, ds.test[:300], tokens)
    values = {v.metric: v for name in ("fed", "mauve", "prdc") for v in METRICS.get(name).compute(x)}
    assert {"fed", "mauve", "mauve_star", "precision", "recall", "density", "coverage"} <= set(values)
    n = profile.fed_samples
    assert calls == [n, n]  # the samples once, the references once, for the three metrics
    assert all(v.n_samples == n and f"test:{n}" in v.signature for v in values.values())
    # another sample set is embedded again; the references come from memory, then from the disk cache
    METRICS.get("fed").compute(EvalInputs(ds, profile, ds.test[:300], ds.reference_tokens()[500:800]))
    assert calls == [n, n, n]
    emb._references.cache_clear()
    METRICS.get("fed").compute(x)
    assert calls == [n, n, n] and len(list((tmp_path / "embeddings").glob("*.npz"))) == 1


def test_a_changed_encoder_never_reads_a_stale_entry(coco, tmp_path, monkeypatch):
    ds, _ = coco
    calls: list[int] = []
    monkeypatch.setattr(emb, "embed", fake_embed(calls))
    monkeypatch.setenv("LANGGAN_CACHE", str(tmp_path))
    emb._references.cache_clear()
    identity = emb.encoder_identity()
    assert identity.startswith("all-MiniLM-L6-v2;") and "sentence-transformers=" in identity and "torch=" in identity
    emb.reference_embeddings(ds, 50)
    monkeypatch.setattr(emb, "encoder_identity", lambda: "another-encoder;torch=9")
    emb._references.cache_clear()
    emb.reference_embeddings(ds, 50)
    assert calls == [50, 50] and len(list((tmp_path / "embeddings").glob("*.npz"))) == 2
    emb._references.cache_clear()
