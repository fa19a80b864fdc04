"""Sampling and scoring at a softmax temperature: every model's draws and its log-probabilities at T go
through here (``pick``, ``log_probs``), or through the fused output layer (``softmax_nll.py``), which applies
T the same way. The other decoders' token-level kernels are here too: top-k and nucleus truncation
(``truncate_top_k``, ``truncate_top_p``) and a beam's several proposals per row (``draw_many``); the decoders
themselves are applied in one place, ``models/networks/decoding.py``.

T > 0 divides the logits by T; T = 0 means greedy decoding (argmax), which has no density, so scoring at
T = 0 is refused rather than silently approximated. Every temperature is checked by the one rule of
``core.config.check_temperature`` (0, or a finite number in [0.001, 1000]).

Draws are an inverse CDF over the softmax, one float64 uniform per row (``uniforms``), in two levels
(``inverse_cdf``); ``inverse_cdf_reference`` is the one-level draw it equals (but within float32 rounding of
a boundary). Why two levels: a float64 running sum over all V words is a sequential scan, most of a draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from langgan_bench.core.config import check_temperature
from langgan_bench.kernels import cpu, ops


def scoring_temperature(temperature: float) -> float:
    """``temperature`` checked for scoring: T = 0 (greedy decoding) has no density, so it is refused."""
    t = check_temperature(temperature)
    if t == 0.0:
        raise ValueError("T = 0 is greedy decoding: it has no log-probabilities to score with")
    return t


def log_probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """log softmax(logits / T) over the last axis; T must be > 0."""
    t = scoring_temperature(temperature)
    return torch.log_softmax(logits / t if t != 1.0 else logits, dim=-1)


def truncate_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    """``logits`` (..., V) with −inf outside each row's top k: every token whose logit is at least the row's
    k-th largest is kept, so tokens tied at the boundary are all kept (the kept set never depends on the
    order of equal logits) and a row may keep more than k. Drawing from the result is renormalised top-k
    sampling; k = 1 is greedy decoding (but where the best logits tie)."""
    _check_k(k)
    if k >= logits.shape[-1]:
        return logits
    return logits.masked_fill(logits < kth_largest(logits, k), float("-inf"))


def kth_largest(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Each row's k-th largest logit (..., 1) (k >= V: the smallest): top-k keeps the tokens at or above it.
    On a CPU numpy's selection (O(V) a row; torch's topk sorts the k it returns), elsewhere torch's topk."""
    v = logits.shape[-1]
    k = min(k, v)
    if logits.device.type == "cpu":
        picked = np.partition(logits.detach().numpy(), v - k, axis=-1)[..., v - k : v - k + 1]
        return torch.from_numpy(np.ascontiguousarray(picked))
    return logits.topk(k, dim=-1).values[..., -1:]


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"top_k = {k}: k must be at least 1")


#: a nucleus' mass "reaches" p when it is within this of p (float64 sums of rounded probabilities)
REACHED = 1e-12


def truncate_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    """``logits`` (..., V) with −inf outside each row's nucleus (Holtzman et al., 2020): the smallest set of
    most probable tokens whose probability reaches ``p`` (float64 sums, ``REACHED``), with every token tied
    with the least probable of them (so the set never depends on the order of equal probabilities). p = 1
    keeps every token."""
    _check_p(p)
    if p == 1.0:
        return logits
    v = logits.shape[-1]
    flat = logits.reshape(-1, v)
    cuts = [_nucleus_cut(*_sorted_mass(flat[rows])[:2], p) for rows in _blocks(flat)]
    return logits.masked_fill(logits < torch.cat(cuts).view(*logits.shape[:-1], 1), float("-inf"))


def truncated_target_log_probs(
    logits: torch.Tensor, targets: torch.Tensor, truncations: list[tuple[str, float]]
) -> torch.Tensor:
    """log q(target) (N, len(truncations)), float64, under each truncation's renormalisation of
    softmax(``logits`` (N, V)): ("top_k", k) or ("top_p", p), the kept sets of ``truncate_top_k`` and
    ``truncate_top_p``; −inf where the target is outside the kept set. It is log p(target) − log(mass kept),
    the mass read off the running sum of the sorted probabilities: one sort a row for every truncation, a
    block of rows at a time on a CPU."""
    for kind, knob in truncations:
        if kind == "top_k":
            _check_k(int(knob))
        elif kind == "top_p":
            _check_p(knob)
        else:
            raise ValueError(f"{kind}: not a truncation (top_k or top_p)")
    v = logits.shape[-1]
    out = []
    for rows in _blocks(logits):
        ordered, cum, lse = _sorted_mass(logits[rows])
        target = logits[rows].gather(1, targets[rows].unsqueeze(1))
        target_lp = target.double() - lse
        cols = []
        for kind, knob in truncations:
            cut = ordered[:, min(int(knob), v) - 1 :][:, :1] if kind == "top_k" else _nucleus_cut(ordered, cum, knob)
            kept = (ordered >= cut).sum(dim=-1, keepdim=True)  # the kept set is a prefix of the sorted row
            mass = cum.gather(-1, kept - 1)
            cols.append(torch.where(target >= cut, target_lp - torch.log(mass), -math.inf))
        out.append(torch.cat(cols, dim=1))
    return torch.cat(out) if out else torch.zeros(0, len(truncations), dtype=torch.float64)


def _sorted_mass(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A block's rows sorted from the largest logit (``sorted_descending``), the float64 running sums of their
    probabilities in that order, and each row's log normaliser (N, 1)."""
    ordered = sorted_descending(logits)
    top = ordered[:, :1].double()
    e = torch.exp(ordered.double() - top)
    z = e.sum(dim=-1, keepdim=True)
    return ordered, torch.cumsum(e, dim=-1).div_(z), top + torch.log(z)


def _nucleus_cut(ordered: torch.Tensor, cum: torch.Tensor, p: float) -> torch.Tensor:
    """The logit of the nucleus' least probable token (N, 1) (−inf at p = 1: every token): the nucleus' last
    token is the first whose preceding mass is still below p."""
    if p == 1.0:
        return torch.full_like(ordered[:, :1], float("-inf"))
    last = (cum[:, :-1] < p - REACHED).sum(dim=-1, keepdim=True)
    return ordered.gather(-1, last)


def sorted_descending(logits: torch.Tensor) -> torch.Tensor:
    """Each row of ``logits`` (..., V) sorted from largest to smallest (values only). On a CPU numpy's sort
    (vectorised, several times torch's there), elsewhere torch's: the same values."""
    if logits.device.type == "cpu":
        ordered = np.sort(logits.detach().numpy(), axis=-1)[..., ::-1]
        return torch.from_numpy(np.ascontiguousarray(ordered))
    return logits.sort(dim=-1, descending=True).values


#: CPU: rows whose truncation (a sort, float64 exponentials and running sums: ~24 bytes a word) is worked out
#: at a time, so the block stays in a core's share of the L3 cache
TRUNCATE_BLOCK_BYTES = cpu.block_bytes("l3", 1 / 6)


def _blocks(x: torch.Tensor) -> list[slice]:
    """Row blocks of ``x`` (N, V): cache-sized on a CPU, one block elsewhere."""
    n = len(x)
    rows = max(16, TRUNCATE_BLOCK_BYTES // (24 * x.shape[-1])) if x.device.type == "cpu" else max(n, 1)
    return [slice(a, a + rows) for a in range(0, n, rows)]


def _check_p(p: float) -> None:
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p = {p}: p must lie in (0, 1]")


#: Words per block of the two-level inverse CDF in ``pick`` (≈ √V for V = 5,000; padded with zero mass).
BLOCK = 64


def pick(
    logits: torch.Tensor, temperature: float, generator: torch.Generator | None = None, u: torch.Tensor | None = None
) -> torch.Tensor:
    """One token per row of ``logits`` (..., V): argmax at T = 0, else a draw from softmax(logits / T).
    ``u`` (N, 1), float64 in [0, 1): the rows' uniforms, drawn here from ``generator`` when not given.

    The probabilities are torch's softmax in float32 (the logits' own precision; its exponential is within
    2 ulp, faster than ``exp_``'s 1 ulp), drawn by ``inverse_cdf``: each word keeps a relative error of ~1e-7,
    as from the float32 logits themselves. Zero-probability tokens (masked logits) are never drawn.
    """
    t = check_temperature(temperature)
    if t == 0.0:
        return logits.argmax(dim=-1)
    shape, v = logits.shape[:-1], logits.shape[-1]
    z = logits.reshape(-1, v).float()
    if t == 1.0:
        p = torch.softmax(z, dim=-1)
    else:  # the scaled logits are this function's own: their softmax in place
        p = torch.mul(z, 1.0 / t)
        ops.softmax_into(p, p)
    u = uniforms(len(z), generator, z.device) if u is None else u
    return inverse_cdf(p, u).clamp_(max=v - 1).view(shape)  # (the clamp: see inverse_cdf)


#: CPU: rows whose logits are computed and drawn from at a time while sampling (``pick_blocks``), so each
#: block's logits, exponentials and sums stay in a core's share of the L3 cache
PICK_BLOCK_BYTES = cpu.block_bytes("l3", 1 / 6)


def pick_blocks(
    logits: Callable[[int, int], torch.Tensor], n: int, vocab_size: int, temperature: float, u: torch.Tensor | None,
    device: torch.device,
) -> torch.Tensor:  # fmt: skip
    """``pick`` of rows 0..n-1 whose logits ``logits(a, b)`` (rows a..b-1) are computed a block of rows
    at a time on a CPU running one thread (one block elsewhere), with their uniforms ``u`` (n, 1) (None at
    T = 0). The draws are those of one ``pick`` over all rows: each row's logits and draw depend on that
    row alone. Why: the block's logits are still cached when they are drawn from; that was measured faster
    on one thread (each of ``make bench``'s workers), not on more."""
    one_thread = device.type == "cpu" and torch.get_num_threads() == 1
    rows = max(16, PICK_BLOCK_BYTES // (4 * vocab_size)) if one_thread else max(n, 1)
    if n <= rows:
        return pick(logits(0, n), temperature, None, u)
    block = lambda a: pick(logits(a, a + rows), temperature, None, None if u is None else u[a : a + rows])  # noqa: E731
    return torch.cat([block(a) for a in range(0, n, rows)])  # each block's logits made and drawn from in turn


def uniforms(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """The (n, 1) float64 uniforms ``pick`` draws for n rows."""
    return torch.rand((n, 1), generator=generator, dtype=torch.float64, device=device)


def inverse_cdf(weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The index (N,) where each row's uniform ``u`` (N, 1) in [0, 1) falls in the CDF of the row's
    non-negative ``weights`` (N, V) (unnormalised, float32): a block of ``BLOCK`` words (the last one
    shorter when ``BLOCK`` does not divide V) by the float64 running sum of the block sums, then a word by
    the float64 running sum inside that block, the uniform's place within the block's mass rescaled onto
    that sum (so the block's float32 sum, rounded, never cuts off its last words)."""
    v = weights.shape[1]
    full = v // BLOCK
    sums = [weights[:, : full * BLOCK].unflatten(1, (full, BLOCK)).sum(dim=-1)]
    if v % BLOCK:
        sums.append(weights[:, full * BLOCK :].sum(dim=-1, keepdim=True))
    block_sums = torch.cat(sums, dim=1) if len(sums) > 1 else sums[0]
    cdf = torch.cumsum(block_sums, dim=-1, dtype=torch.float64)
    target = _below(u * cdf[:, -1:], cdf[:, -1:])
    # the first block whose running sum passes the target (the clamps only act on non-finite rows, a diverged
    # generator's: they still get a token, and the training loss then reports the divergence)
    block = torch.searchsorted(cdf, target, right=True).clamp_(max=cdf.shape[1] - 1)
    before = torch.where(block > 0, cdf.gather(1, (block - 1).clamp(min=0)), 0.0)
    frac = (target - before) / block_sums.gather(1, block)
    cols = block * BLOCK + torch.arange(BLOCK, device=weights.device)  # (N, BLOCK): the block's words
    inside = weights.gather(1, cols.clamp(max=v - 1)).masked_fill_(cols >= v, 0.0)  # no mass past the last
    inner = torch.cumsum(inside, dim=-1, dtype=torch.float64)
    word = torch.searchsorted(inner, _below(frac * inner[:, -1:], inner[:, -1:]), right=True).clamp_(max=BLOCK - 1)
    return (block * BLOCK + word)[:, 0]


def inverse_cdf_reference(weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The draw ``inverse_cdf`` must equal (but where ``u`` lies within float32 rounding of a boundary): one
    float64 running sum over each whole row, searched once."""
    cdf = torch.cumsum(weights.double(), dim=-1)
    return torch.searchsorted(cdf, u * cdf[:, -1:], right=True)[:, 0]


def draw_many(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Draws with replacement from each row of softmax(``logits``) (N, V), one per column of the uniforms
    ``u`` (N, m) in [0, 1): the float64 inverse CDF of ``inverse_cdf_reference``, the row's running sum made
    once for its m draws (the proposals of a stochastic beam). Zero-probability tokens are never drawn."""
    p = torch.softmax(logits.float(), dim=-1)
    cdf = torch.cumsum(p, dim=-1, dtype=torch.float64)
    target = _below(u.double() * cdf[:, -1:], cdf[:, -1:])
    return torch.searchsorted(cdf, target, right=True).clamp_(max=logits.shape[-1] - 1)


def _below(x: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """``x`` kept strictly below ``total``, so that a search always lands on an entry of positive mass
    (a uniform just below 1 can round ``u · total`` up to the total)."""
    return torch.minimum(x, torch.nextafter(total, torch.zeros_like(total)))
