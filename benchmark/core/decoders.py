"""Decoders: the ways of drawing sentences from one trained generator, each a named method with one knob that
is swept like the temperature ("Language GANs Falling Short", section 5; Holtzman et al. 2020 for nucleus).

This module says what each decoder is called, what its knob means and which values it takes, how a point
(decoder, knob) is named in files and tables, and parses ``--decoders``. It imports no torch: the command line
checks a grid before anything is built, and the analysis reads these facts too. The one place that applies a
decoder to a generator is ``models/networks/decoding.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from langgan_bench.core.errors import UserError
from langgan_bench.core.registry import Registry

#: A temperature is 0 (greedy) or in [MIN_TEMPERATURE, MAX_TEMPERATURE]: below 1e-3 sampling is greedy in
#: practice and logits / T overflows float32 for ordinary logits (1e-300 gave NaN NLLs); above 1e3 every
#: softmax is uniform to float32 precision, and -inf / T of masked logits would become NaN at T = inf.
MIN_TEMPERATURE = 1e-3
MAX_TEMPERATURE = 1e3


class TemperatureError(UserError, ValueError):
    """A temperature outside the range that gives meaningful numbers; a ValueError too, for code that calls
    the kernels directly."""


def check_temperature(t: float, text: str | None = None) -> float:
    """``t`` if it is 0 (greedy decoding) or a finite number in [MIN_TEMPERATURE, MAX_TEMPERATURE], else a
    one-line TemperatureError. The one temperature check: the CLI's parsing and the kernels that apply a
    temperature (``kernels/sampling.py``) both call it, so no path accepts a value the other refuses."""
    shown = text if text is not None else f"{t:g}"
    if not (t == 0 or MIN_TEMPERATURE <= t <= MAX_TEMPERATURE):  # NaN fails both
        raise TemperatureError(
            f"temperature {shown} must be 0 (greedy decoding) or a finite number in "
            f"[{MIN_TEMPERATURE:g}, {MAX_TEMPERATURE:g}]"
        )
    return float(t)


TEMPERATURE = "temperature"
#: A grid of decoders beside the temperature: (decoder, knobs) pairs, each decoder once, knobs sorted.
DecoderGrid = tuple[tuple[str, tuple[float, ...]], ...]
#: A rejection decoder draws at most this many candidates per sentence it must return; a threshold that keeps
#: fewer is recorded with its acceptance rate and no sample metrics (never scored on fewer sentences).
REJECTION_DRAWS = 10
#: The widest beam accepted: each step ranks width² candidates per search.
MAX_BEAM = 64


@dataclass(frozen=True)
class DecoderSpec:
    """A decoder's facts: its knob's name and range, whether it defines a density (so NLL_test), which knob
    values are greedy decoding (every sample the same sentence: left out of verdicts), and a description."""

    name: str
    knob: str
    description: str
    density: bool
    integer: bool = False
    problem: Callable[[float], str | None] = lambda v: None  # why a knob value is refused (None: accepted)
    greedy_at: tuple[float, ...] = ()

    def check(self, value: float, text: str | None = None) -> float:
        """``value`` if it is a valid knob, else a one-line UserError naming the decoder and its range."""
        shown = text if text is not None else f"{value:g}"
        why = "is not a finite number" if not math.isfinite(value) else self.problem(value)
        if why is None and self.integer and value != int(value):
            why = "must be a whole number"
        if why is not None:
            raise UserError(f"{self.name} {self.knob} {shown} {why}")
        return float(value)

    def is_greedy(self, value: float) -> bool:
        return value in self.greedy_at


def _temperature_problem(t: float) -> str | None:
    try:
        check_temperature(t)
    except ValueError:
        return "must be 0 (greedy decoding) or a finite number in [0.001, 1000]"
    return None


DECODERS: Registry[DecoderSpec] = Registry("decoder")
for _spec in (
    DecoderSpec(
        TEMPERATURE,
        "T",
        "softmax(logits / T); T = 0 is greedy decoding",
        density=True,
        problem=_temperature_problem,
        greedy_at=(0.0,),
    ),
    DecoderSpec(
        "top_k",
        "k",
        "the k most probable tokens at each step, renormalised (tokens tied with the k-th are kept too)",
        density=True,
        integer=True,
        problem=lambda k: None if k >= 1 else "must be at least 1",
        greedy_at=(1.0,),
    ),
    DecoderSpec(
        "top_p",
        "p",
        "nucleus: the smallest set of most probable tokens whose probability reaches p, renormalised",
        density=True,
        problem=lambda p: None if 0 < p <= 1 else "must lie in (0, 1]",
    ),
    DecoderSpec(
        "beam",
        "width",
        "stochastic beam search: each beam proposes width sampled continuations, the width best by joint "
        "log-likelihood are kept; the best beam is the sentence",
        density=False,
        integer=True,
        problem=lambda w: None if 1 <= w <= MAX_BEAM else f"must be a whole number in 1..{MAX_BEAM}",
    ),
    DecoderSpec(
        "gen_reject",
        "threshold",
        "generator rejection: a sample (T = 1) is kept when its mean token log-probability under the "
        "generator exceeds the threshold (nats)",
        density=False,
        problem=lambda v: None if v <= 0 else "must be <= 0 (a mean log-probability)",
    ),
    DecoderSpec(
        "disc_reject",
        "threshold",
        "discriminator rejection: a sample (T = 1) is kept when a discriminator trained to tell the model's "
        "samples from real training sentences scores it above the threshold",
        density=False,
        problem=lambda v: None if 0 <= v < 1 else "must lie in [0, 1)",
    ),
):
    DECODERS.add(_spec.name, _spec)


def point_key(decoder: str, knob: float) -> str:
    """A point's name in files (``samples/<key>.txt``, ``sweep.json``): ``T0.5`` for a temperature, as before
    decoders existed, else ``top_p=0.9``."""
    return f"T{knob:g}" if decoder == TEMPERATURE else f"{decoder}={knob:g}"


def point_label(decoder: str, knob: float) -> str:
    """A point's name in tables: ``0.5`` for a temperature, else ``top_p=0.9``."""
    if math.isnan(knob):
        return "-"
    return f"{knob:g}" if decoder == TEMPERATURE else f"{decoder}={knob:g}"


def is_greedy(decoder: str, knob: float) -> bool:
    """Whether the point is greedy decoding (T = 0, top_k 1): every sample the same sentence."""
    return decoder in DECODERS and DECODERS.get(decoder).is_greedy(knob)


def has_density(decoder: str) -> bool:
    """Whether the decoder defines a distribution a test sentence can be scored by (NLL_test)."""
    return DECODERS.get(decoder).density


EXAMPLE = "e.g. --decoders top_p=0.5,0.8,0.95 (a bare name takes the profile's grid; none: temperature only)"


def parse_decoders(texts: Sequence[str]) -> tuple[tuple[str, tuple[float, ...]], ...]:
    """``--decoders`` values (repeatable, or ``;``-separated) -> ((decoder, knobs), ...) in order of first
    mention; empty knobs mean the profile's grid; ``none`` alone means no decoder beside the temperature.
    Anything else is a one-line UserError."""
    parts = [p.strip() for text in texts for p in text.split(";") if p.strip()]
    if not parts:
        raise UserError(f"--decoders needs a value, {EXAMPLE}")
    if parts == ["none"]:
        return ()
    grid: dict[str, set[float]] = {}
    for part in parts:
        name, eq, values = (s.strip() for s in part.partition("="))
        if name == "none":
            raise UserError("--decoders none means no decoder beside the temperature: give it alone")
        if name == TEMPERATURE:
            raise UserError("the temperature's grid is --temperatures; --decoders names the other decoders")
        spec = DECODERS.get(name)
        knobs = grid.setdefault(name, set())
        if eq and not values.strip(", "):
            raise UserError(f"--decoders {part!r}: no {spec.knob} after '=', {EXAMPLE}")
        for raw in (v.strip() for v in values.split(",")):
            if not raw:
                continue
            try:
                value = float(raw)
            except ValueError:
                raise UserError(f"{name} {spec.knob} {raw!r} is not a number ({EXAMPLE})") from None
            knobs.add(spec.check(value, raw))
    return tuple((name, tuple(sorted(knobs))) for name, knobs in grid.items())


def check_grid(grid: DecoderGrid, empty_ok: bool = False) -> DecoderGrid:
    """Every name and knob of a grid checked (``empty_ok``: a decoder without knobs, which takes the profile's
    grid, is allowed); one-line UserError."""
    for name, knobs in grid:
        if name == TEMPERATURE:
            raise UserError("the temperature's grid is --temperatures; --decoders names the other decoders")
        spec = DECODERS.get(name)
        if not knobs and not empty_ok:
            raise UserError(f"decoder {name}: its grid is empty")
        for k in knobs:
            spec.check(k)
    return grid
