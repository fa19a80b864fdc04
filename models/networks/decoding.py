"""The one place a decoder is applied to a generator (``decode``), and the density of the decoders that have
one (``decoder_nll``). The decoders, their knobs and their ranges are named in ``core/decoders.py``.

Every generator gets every decoder through the shared contract: ``temperature`` is the generator's own
``sample`` (its numbers are those of the temperature sweep before decoders existed); ``gen_reject`` and
``disc_reject`` draw with ``sample`` at T = 1 and score with ``log_prob`` or a discriminator; ``top_k``,
``top_p`` and ``beam`` draw token by token through ``step(prev, state) -> (logits, state)`` and
``keep_rows(state, rows)`` (``Stepper``), which the shared LSTM generator and LeakGAN's goal-conditioned one both
have, so a plug-in model built on either gets them too. Every draw comes from a ``torch.Generator`` seeded by
the caller, in batches of a fixed size, so the same seed gives the same sentences on any device memory.

- ``top_k`` / ``top_p``: at every step the logits are truncated (``kernels/sampling.py``: ``truncate_top_k``,
  ``truncate_top_p``) and one token is drawn from the renormalised rest (T = 1), in the loop every temperature
  draws with (``generator.sample_loop``).
- ``beam``: stochastic beam search as in "Language GANs Falling Short" (``common/eval_decode.py``): per search,
  ``width`` beams, at first one; at every step each live beam proposes ``width`` continuations drawn with
  replacement from its next-token distribution (a token drawn twice counts once), every proposal is scored by
  the joint log-likelihood of its sentence so far, and the ``width`` best of all proposals are kept; a beam
  that has ended carries on unchanged (padding, its score kept). The sentence is the best beam at the end.
  With ``stochastic=False`` the proposals are each beam's ``width`` most probable tokens: deterministic beam
  search (width 1: greedy decoding).
- ``gen_reject`` / ``disc_reject``: candidates drawn at T = 1 in batches, each kept when its score exceeds the
  threshold (the mean token log-probability under the generator; the discriminator's D(x)), until ``n`` are
  kept or ``REJECTION_DRAWS``·n candidates were drawn (or, sooner, once the acceptance so far cannot
  plausibly reach n within that budget); the acceptance rate is returned with the sentences.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from langgan_bench.core.config import derive_seed
from langgan_bench.core.decoders import DECODERS, REJECTION_DRAWS, TEMPERATURE
from langgan_bench.core.errors import UserError
from langgan_bench.datasets.base import sequence_mask, trim_padding
from langgan_bench.kernels.sampling import (
    draw_many,
    pick,
    truncate_top_k,
    truncate_top_p,
    truncated_target_log_probs,
)
from langgan_bench.models.networks.generator import SAMPLE_BATCH, Generator, evaluating, sample_loop

#: (N, L) token ids -> (N,) the score a rejection decoder compares with its threshold
Scorer = Callable[[torch.Tensor], torch.Tensor]
#: Rows scored at once by ``mean_log_prob`` and ``decoder_nll`` (bounds memory where a generator's log_prob
#: materialises its logits, as LeakGAN's does; not results)
SCORE_ROWS = 250


class Stepper(Protocol):
    """What the token-level decoders (top_k, top_p, beam) need of a generator, beside its ids and sizes
    (``vocab_size``, ``max_len``, ``bos_id``, ``eos_id``, ``pad_id``, ``device``)."""

    def step(self, prev: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Previous token ids (B,) -> next-token logits (B, V) and the new state (None: the start)."""
        ...

    def keep_rows(self, state: Any, keep: torch.Tensor) -> Any:
        """The state of the rows ``keep``: a boolean mask, or row indices (repeats allowed)."""
        ...


@dataclass(frozen=True)
class Decoded:
    """A decoder's sentences (on the CPU) and how many candidates it drew for them: a rejection decoder
    draws more than it keeps; the others keep every draw. ``samples`` holds fewer than asked for only when a
    rejection decoder ran out of draws (``REJECTION_DRAWS``)."""

    samples: torch.Tensor
    draws: int
    accepted: int

    @property
    def acceptance(self) -> float:
        return self.accepted / self.draws if self.draws else math.nan


def decode(generator: Generator, decoder: str, knob: float, n: int, seed: int, scorer: Scorer | None = None) -> Decoded:
    """``n`` sentences of ``generator`` by ``decoder`` at ``knob``, every draw from ``seed``. ``disc_reject``
    needs its discriminator's D(x) as ``scorer`` (``training/rejection.py`` trains it)."""
    knob = DECODERS.get(decoder).check(knob)
    if decoder == TEMPERATURE:
        return Decoded(generator.sample(n, knob, seed), n, n)
    if decoder in ("gen_reject", "disc_reject"):
        if decoder == "gen_reject":
            scorer = lambda x: mean_log_prob(generator, x)  # noqa: E731
        elif scorer is None:
            raise ValueError("disc_reject needs its discriminator's D(x) as scorer")
        return reject(generator, n, knob, seed, scorer)
    model = stepper(generator, decoder)
    with torch.no_grad(), _eval(model):
        if decoder == "beam":
            samples = beam_search(model, n, int(knob), seed)
        else:
            samples = sample_truncated(model, n, truncation(decoder, knob), seed)
    return Decoded(samples, n, n)


def stepper(generator: Any, decoder: str) -> Stepper:
    """``generator`` if it can be stepped token by token, else a one-line UserError naming what it lacks."""
    missing = [m for m in ("step", "keep_rows") if not callable(getattr(generator, m, None))]
    missing += [
        a for a in ("vocab_size", "max_len", "bos_id", "eos_id", "pad_id", "device") if not hasattr(generator, a)
    ]
    if missing:
        raise UserError(
            f"decoder {decoder} draws token by token, and this generator ({type(generator).__name__}) has no "
            f"{', '.join(missing)} (the stepping contract: docs/adding_a_model.md)"
        )
    return generator


def _eval(model: Any) -> Any:
    """Evaluation mode (no dropout) for the decoding: the model's, or the module a wrapper holds as its
    ``generator`` (the sweep's)."""
    module = model if isinstance(model, nn.Module) else getattr(model, "generator", None)
    return evaluating(module) if isinstance(module, nn.Module) else nullcontext()


def truncation(decoder: str, knob: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """The logits' truncation of ``top_k`` (k) or ``top_p`` (p)."""
    if decoder == "top_k":
        return lambda logits: truncate_top_k(logits, int(knob))
    if decoder == "top_p":
        return lambda logits: truncate_top_p(logits, knob)
    raise ValueError(f"decoder {decoder} truncates no logits")


# --- top-k and nucleus sampling ------------------------------------------------------------------------------


def sample_truncated(
    model: Stepper, n: int, truncate: Callable[[torch.Tensor], torch.Tensor], seed: int
) -> torch.Tensor:
    """``n`` sentences drawn token by token from the renormalised truncated distribution (T = 1), in batches
    of ``SAMPLE_BATCH`` with one uniform per row and step (the temperature's loop, ``sample_loop``)."""
    gen = torch.Generator(device=model.device).manual_seed(seed)

    def draw(prev: torch.Tensor, state: Any, u: torch.Tensor | None) -> tuple[torch.Tensor, Any]:
        logits, state = model.step(prev, state)
        return pick(truncate(logits), 1.0, None, u), state

    out = [sample_loop(model, min(SAMPLE_BATCH, n - i), draw, gen) for i in range(0, n, SAMPLE_BATCH)]  # type: ignore[arg-type]
    return torch.cat(out).cpu() if out else torch.zeros(0, model.max_len, dtype=torch.long)


# --- stochastic beam search ----------------------------------------------------------------------------------


def beam_search(model: Stepper, n: int, width: int, seed: int, stochastic: bool = True) -> torch.Tensor:
    """``n`` sentences, each the best beam of its own search of ``width`` beams (see the module docstring).
    Searches run ``SAMPLE_BATCH // width`` at a time (about ``SAMPLE_BATCH`` rows stepped at once)."""
    if width < 1:
        raise ValueError(f"beam width {width}: must be at least 1")
    gen = torch.Generator(device=model.device).manual_seed(seed) if stochastic else None
    per = max(1, SAMPLE_BATCH // width)
    out = [_beam_batch(model, min(per, n - i), width, gen) for i in range(0, n, per)]
    return torch.cat(out).cpu() if out else torch.zeros(0, model.max_len, dtype=torch.long)


def _beam_batch(model: Stepper, m: int, b: int, gen: torch.Generator | None) -> torch.Tensor:
    """``m`` searches of width ``b`` at once, as m·b rows (search i's beams are rows i·b .. i·b + b − 1)."""
    dev, length, eos = model.device, model.max_len, model.eos_id
    pad = model.pad_id if model.pad_id is not None else 0
    rows = m * b
    score = torch.full((m, b), -math.inf, dtype=torch.float64, device=dev)
    score[:, 0] = 0.0  # one live beam per search at the start (its proposals are the first b words)
    tokens = torch.full((m, b, length), pad, dtype=torch.long, device=dev)
    done = torch.zeros((m, b), dtype=torch.bool, device=dev)
    prev = torch.full((rows,), model.bos_id, dtype=torch.long, device=dev)
    first = torch.arange(m, device=dev).unsqueeze(1) * b  # each search's first row
    earlier = torch.ones(b, b, dtype=torch.bool, device=dev).tril(-1)  # [j, i]: proposal i comes before j
    state = None
    for t in range(length):
        logits, state = model.step(prev, state)
        lp = torch.log_softmax(logits.float(), dim=-1)
        if gen is not None:
            prop = draw_many(logits, torch.rand((rows, b), generator=gen, dtype=torch.float64, device=dev))
        else:
            prop = lp.topk(min(b, lp.shape[-1]), dim=-1).indices
            if prop.shape[1] < b:  # fewer words than beams: the missing proposals repeat one (and count once)
                prop = torch.cat([prop, prop[:, :1].expand(-1, b - prop.shape[1])], dim=1)
        cand = lp.gather(1, prop).double()
        dup = ((prop.unsqueeze(2) == prop.unsqueeze(1)) & earlier).any(dim=2)  # drawn before by the same beam
        cand = cand.masked_fill(dup, -math.inf)
        ended = done.view(rows, 1)
        if bool(ended.any()):  # an ended beam continues with padding alone, its score unchanged
            prop = torch.where(ended, pad, prop)
            keep_one = torch.full_like(cand, -math.inf)
            keep_one[:, 0] = 0.0
            cand = torch.where(ended, keep_one, cand)
        total = (score.view(rows, 1) + cand).view(m, b * b)
        best = total.topk(b, dim=1)  # sorted: the best beam first
        parent = torch.div(best.indices, b, rounding_mode="floor")
        tok = prop.view(m, b * b).gather(1, best.indices)
        score = best.values
        tokens = tokens.gather(1, parent.unsqueeze(2).expand(-1, -1, length))
        tokens[:, :, t] = tok
        done = done.gather(1, parent)
        if eos is not None:
            done = done | (tok == eos)
        state = model.keep_rows(state, (parent + first).view(-1))
        prev = tok.view(-1)
        if eos is not None and bool((done | torch.isinf(score)).all()):
            break  # every live beam has ended: the rest is padding
    return tokens[:, 0]


# --- rejection -----------------------------------------------------------------------------------------------


@torch.no_grad()
def mean_log_prob(generator: Generator, tokens: torch.Tensor) -> torch.Tensor:
    """Each sentence's mean token log-probability (T = 1) under ``generator`` (N,), padding excluded: the
    score of ``gen_reject``."""
    eos = getattr(generator, "eos_id", None)
    out = []
    with _eval(generator):
        for chunk in tokens.split(SCORE_ROWS):
            lp = generator.log_prob(chunk.to(_device(generator)), 1.0).double().cpu()
            out.append(lp.sum(dim=1) / sequence_mask(chunk, eos).sum(dim=1).clamp(min=1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


def _device(generator: Any) -> torch.device:
    return getattr(generator, "device", torch.device("cpu"))


def reject(generator: Generator, n: int, threshold: float, seed: int, scorer: Scorer) -> Decoded:
    """``n`` sentences of ``generator`` (T = 1) whose ``scorer`` exceeds ``threshold``: candidates drawn in
    batches of ``SAMPLE_BATCH`` (batch i from a seed derived from ``seed`` and i), the first n kept in the
    order drawn; at most ``REJECTION_DRAWS``·n candidates, fewer when the budget cannot be met
    (``_hopeless``: a threshold beyond the model's reach costs one batch, not the whole budget)."""
    kept: list[torch.Tensor] = []
    accepted = draws = 0
    budget = REJECTION_DRAWS * n
    batch = 0
    while accepted < n and draws < budget:
        x = generator.sample(SAMPLE_BATCH, 1.0, derive_seed(seed, "candidates", batch)).cpu()
        ok = scorer(x).cpu() > threshold
        kept.append(x[ok])
        accepted += int(ok.sum())
        draws += len(x)
        batch += 1
        if accepted < n and _hopeless(accepted, draws, n, budget):
            break
    samples = torch.cat(kept)[:n] if kept else torch.zeros(0, 0, dtype=torch.long)
    return Decoded(samples, draws, accepted)


def _hopeless(accepted: int, draws: int, n: int, budget: int) -> bool:
    """Whether the draws left in the budget cannot plausibly make up the ``n`` sentences: even at the acceptance
    rate's upper bound (three standard errors and 3 / draws above the rate so far) they fall short."""
    rate = accepted / draws
    upper = rate + 3 * math.sqrt(rate * (1 - rate) / draws) + 3 / draws
    return accepted + upper * max(budget - draws, 0) < n


# --- the density of the truncating decoders ------------------------------------------------------------------


def truncated_log_probs(
    logits: torch.Tensor, targets: torch.Tensor, decoder: str, knobs: Sequence[float]
) -> torch.Tensor:
    """log q(target) (N, len(knobs)) under each knob's renormalised truncation of softmax(logits (N, V)),
    −inf where the target is outside the kept set; float64 (``kernels/sampling.truncated_target_log_probs``)."""
    if decoder not in TRUNCATING:
        raise ValueError(f"decoder {decoder} has no truncated density")
    return truncated_target_log_probs(logits, targets, [(decoder, k) for k in knobs])


#: The decoders whose density is a truncation of the softmax (their NLL_test: ``decoder_nll``)
TRUNCATING = ("top_k", "top_p")


def decoder_nll(
    generator: Any, tokens: torch.Tensor, decoder: str, knobs: Sequence[float]
) -> list[tuple[float, float]]:
    """(mean per-token NLL in nats, fraction of tokens outside the kept set) of ``tokens`` under each knob of a
    truncating decoder (``top_k``, ``top_p``): ``decoders_nll`` of those points."""
    return decoders_nll(generator, tokens, [(decoder, k) for k in knobs])


@torch.no_grad()
def decoders_nll(
    generator: Any, tokens: torch.Tensor, points: Sequence[tuple[str, float]]
) -> list[tuple[float, float]]:
    """(mean per-token NLL in nats, fraction of tokens outside the kept set) of ``tokens`` at each point
    (decoder, knob) of the truncating decoders, padding excluded, from one pass over ``tokens``; the NLL is
    +inf as soon as one token is outside (its probability is 0). Teacher-forced through ``step``: the very
    logits the sampler draws from. Temperature's NLL is the generator's own ``nll``; the other decoders
    define no density."""
    for decoder, _ in points:
        if decoder not in TRUNCATING:
            raise ValueError(f"decoder {decoder} has no truncated density")
    model = stepper(generator, points[0][0] if points else "top_k")
    eos = model.eos_id
    total = torch.zeros(len(points), dtype=torch.float64)
    outside = torch.zeros(len(points), dtype=torch.long)
    count = 0
    order = torch.argsort(sequence_mask(tokens, eos).sum(dim=1), stable=True)
    with _eval(model):
        for idx in order.split(SCORE_ROWS):
            chunk = trim_padding(tokens[idx], model.pad_id)
            mask = sequence_mask(chunk, eos)
            chunk = chunk.to(model.device)
            prev = torch.full((len(chunk),), model.bos_id, dtype=torch.long, device=model.device)
            state = None
            for t in range(chunk.shape[1]):
                logits, state = model.step(prev, state)
                lq = truncated_target_log_probs(logits, chunk[:, t], list(points)).cpu()[mask[:, t]]
                total += lq.masked_fill(torch.isinf(lq), 0.0).sum(dim=0)
                outside += torch.isinf(lq).sum(dim=0)
                prev = chunk[:, t]
            count += int(mask.sum())
    return [
        (math.inf if int(o) else -float(s) / max(count, 1), int(o) / max(count, 1))
        for s, o in zip(total, outside, strict=True)
    ]
