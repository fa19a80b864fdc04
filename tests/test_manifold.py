"""Precision, recall, density and coverage against the ``prdc`` package's reference implementation."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from langgan_bench.metrics.manifold import PRDC, prdc


def reference(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    # imported here (it brings scikit-learn), not while every xdist worker collects this module
    prdc_reference = pytest.importorskip("prdc")
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the set sizes
        return prdc_reference.compute_prdc(real_features=real, fake_features=fake, nearest_k=k)


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("shift", [0.0, 0.5, 3.0])
def test_equal_to_the_reference(k, shift):
    rng = np.random.default_rng(k)
    real = rng.normal(size=(300, 16))
    fake = rng.normal(size=(200, 16)) * 0.7 + shift
    got, want = prdc(real, fake, k), reference(real, fake, k)
    assert got == PRDC(**{key: float(v) for key, v in want.items()})


def test_analytic_cases():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 8))
    # every sample is a data point: all inside; each ball (strictly inside its k-th neighbour) holds the point
    # and its k - 1 nearest, so the balls hold k samples each on average: density 1
    same = prdc(real, real, 5)
    assert same == PRDC(1.0, 1.0, 1.0, 1.0)
    far = prdc(real, real + 100.0, 5)  # a distant cloud: nothing inside either manifold
    assert far == PRDC(0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="more than k = 5"):
        prdc(real[:5], real, 5)
