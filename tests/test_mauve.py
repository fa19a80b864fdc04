"""MAUVE on precomputed features: equal to a direct ``mauve-text`` call, 1 for a set against itself, lower for
a shifted distribution."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from langgan_bench.metrics.mauve import MauveSettings, mauve_of

SETTINGS = MauveSettings(num_buckets=8, kmeans_redo=2, kmeans_max_iter=100, seeds=(1, 2))


def test_equal_to_a_direct_call_and_averaged_over_seeds():
    import mauve  # here, not at the top: every xdist worker collects this module, one runs it (transformers' import)

    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(400, 12)), rng.normal(size=(400, 12)) + 0.3
    got = mauve_of(real, fake, SETTINGS)
    direct = []
    for seed in SETTINGS.seeds:
        with contextlib.redirect_stdout(io.StringIO()):
            out = mauve.compute_mauve(
                p_features=real, q_features=fake, num_buckets=8, kmeans_explained_var=0.9, kmeans_num_redo=2,
                kmeans_max_iter=100, mauve_scaling_factor=5.0, seed=seed,
            )  # fmt: skip
        direct.append((out.mauve, out.mauve_star))
    assert got.per_seed == tuple(direct)
    assert got.mauve == np.mean([d[0] for d in direct]) and got.mauve_star == np.mean([d[1] for d in direct])


def test_a_set_against_itself_is_one_and_a_shifted_one_is_lower():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(400, 12))
    assert mauve_of(real, real, SETTINGS).mauve == pytest.approx(1.0, abs=1e-6)
    near, far = mauve_of(real, real + 0.2, SETTINGS), mauve_of(real, real + 2.0, SETTINGS)
    assert 1.0 > near.mauve > far.mauve and far.mauve < 0.2


def test_on_real_sentences_the_data_against_itself_is_near_one_and_shuffled_tokens_clearly_lower(data_dir):
    from langgan_bench.datasets import load_dataset
    from langgan_bench.metrics.embeddings import embed

    test = load_dataset("coco", data_dir).reference_tokens()
    n = 250  # sentences a set: three sets through the real encoder, the test's cost
    a, b = [" ".join(t) for t in test[:n]], [" ".join(t) for t in test[n : 2 * n]]
    # the corruption: the second half's tokens shuffled across its sentences (each keeps its length)
    words = list(np.random.default_rng(0).permutation([w for t in test[n : 2 * n] for w in t]))
    shuffled, start = [], 0
    for t in test[n : 2 * n]:
        shuffled.append(" ".join(words[start : start + len(t)]))
        start += len(t)
    ea, eb, es = embed(a), embed(b), embed(shuffled)
    settings = MauveSettings(seeds=(1, 2, 3), kmeans_redo=1)
    same, other, corrupt = mauve_of(ea, ea, settings), mauve_of(ea, eb, settings), mauve_of(ea, es, settings)
    assert same.mauve == pytest.approx(1.0, abs=1e-6)
    assert other.mauve > 0.8 and corrupt.mauve < other.mauve - 0.3, (other, corrupt)
