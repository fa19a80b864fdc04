"""Top-k and nucleus (top-p) truncation: the kept sets by hand (boundaries and ties), and draws through
``pick`` against the exact renormalised distributions."""

from __future__ import annotations

import math

import pytest
import torch

from langgan_bench.kernels.sampling import pick, truncate_top_k, truncate_top_p, uniforms


def kept(logits: torch.Tensor) -> list[list[int]]:
    return [torch.nonzero(torch.isfinite(row)).flatten().tolist() for row in logits]


def logs(*rows: list[float]) -> torch.Tensor:
    return torch.log(torch.tensor(rows, dtype=torch.float64))


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.5, [[0], [0], [2]]),  # the first token alone reaches 0.5
        (0.55, [[0, 1], [0, 1, 2], [0, 1, 2]]),  # ties with the nucleus' last token are kept
        (0.8, [[0, 1], [0, 1, 2], [0, 1, 2]]),  # 0.5 + 0.3 reaches 0.8 exactly: the smallest such set
        (0.81, [[0, 1, 2], [0, 1, 2], [0, 1, 2]]),
        (1.0, [[0, 1, 2], [0, 1, 2], [0, 1, 2]]),
    ],
)
def test_nucleus_boundary_and_ties_by_hand(p, expected):
    rows = logs([0.5, 0.3, 0.2], [0.5, 0.25, 0.25], [0.25, 0.25, 0.5])
    assert kept(truncate_top_p(rows, p)) == expected


def test_top_k_keeps_ties_at_the_boundary():
    rows = logs([0.1, 0.4, 0.2, 0.3], [0.25, 0.25, 0.25, 0.25], [0.5, 0.2, 0.2, 0.1])
    assert kept(truncate_top_k(rows, 2)) == [[1, 3], [0, 1, 2, 3], [0, 1, 2]]
    assert kept(truncate_top_k(rows, 4)) == [[0, 1, 2, 3]] * 3
    assert kept(truncate_top_k(rows, 1)) == [[1], [0, 1, 2, 3], [0]]


@pytest.mark.parametrize("bad", [0, -3])
def test_top_k_refuses_k_below_one(bad):
    with pytest.raises(ValueError, match="at least 1"):
        truncate_top_k(torch.zeros(1, 3), bad)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, math.nan])
def test_top_p_refuses_p_outside_the_unit_interval(bad):
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        truncate_top_p(torch.zeros(1, 3), bad)


def exact(logits: torch.Tensor) -> torch.Tensor:
    """The renormalised distribution over the kept tokens, in float64."""
    return torch.softmax(logits.double(), dim=-1)


@pytest.mark.parametrize(
    ("truncate", "knob"), [(truncate_top_k, 5), (truncate_top_k, 1), (truncate_top_p, 0.6), (truncate_top_p, 0.9)]
)
def test_draws_follow_the_renormalised_distribution(truncate, knob):
    torch.manual_seed(0)
    v, n = 12, 200_000
    logits = torch.randn(1, v) * 2
    target = exact(truncate(logits, knob))[0]
    gen = torch.Generator().manual_seed(1)
    draws = pick(truncate(logits.float(), knob).expand(n, v), 1.0, None, uniforms(n, gen, torch.device("cpu")))
    freq = torch.bincount(draws, minlength=v).double() / n
    assert torch.all(freq[target == 0] == 0)  # nothing outside the kept set is ever drawn
    # each frequency within 5 binomial standard errors of its probability (a fixed seed: deterministic)
    se = torch.sqrt(target * (1 - target) / n)
    assert torch.all((freq - target).abs() <= 5 * se + 1e-12)


def test_top_k_one_is_greedy_and_truncation_is_deterministic():
    torch.manual_seed(3)
    logits = torch.randn(64, 50)
    gen = lambda: torch.Generator().manual_seed(7)  # noqa: E731
    u = lambda: uniforms(64, gen(), torch.device("cpu"))  # noqa: E731
    assert torch.equal(pick(truncate_top_k(logits, 1), 1.0, None, u()), pick(logits, 0.0))
    a = pick(truncate_top_p(logits, 0.7), 1.0, None, u())
    b = pick(truncate_top_p(logits, 0.7), 1.0, None, u())
    assert torch.equal(a, b)
