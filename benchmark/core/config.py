"""Run configuration: CLI -> frozen dataclass -> code. Nothing reads global state for a setting.

Every plain value is checked here, before anything is built or written, so bad input is one line and exit
code 2 (``UserError``); torch is imported only to resolve a device, so these checks cost no start-up time.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

# the temperature's rule lives with the decoders (core/decoders.py); these names are imported from here too
from langgan_bench.core.decoders import (  # noqa: F401
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    TemperatureError,
    check_grid,
    check_temperature,
)
from langgan_bench.core.errors import UserError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class RunConfig:
    """Everything ``langgan-bench run`` was asked to do."""

    model: str
    dataset: str
    profile: str = "small"
    seed: int = 0
    temperatures: tuple[float, ...] | None = None  # None: the profile's grid
    # the decoders beside the temperature, ((name, knobs), ...); empty knobs: the profile's grid; None: the
    # profile's default for the model (core/decoders.py, core/profiles.py)
    decoders: tuple[tuple[str, tuple[float, ...]], ...] | None = None
    device: str = "auto"
    out: str = "results"
    resume: bool = False
    data_dir: str | None = None
    checkpoint_every_s: float = 180.0  # does not change any number
    overrides: tuple[str, ...] = ()  # "training.lr=0.001" applied to the model's profile config
    space_check: bool = True  # refuse to start when the results or cache folder cannot take the run's files


#: Seeds go to torch.manual_seed and into derived 63-bit seeds: 0 .. 2**63 - 1.
MAX_SEED = 2**63 - 1


def check_seed(seed: int, what: str = "--seed") -> int:
    """``seed`` if it is in 0 .. 2**63 - 1, else a one-line UserError."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise UserError(f"{what} {seed}: a seed must be an integer in 0..{MAX_SEED} (2**63 - 1)")
    return seed


def parse_temperatures(text: str) -> tuple[float, ...]:
    """ "0,0.5,1" -> (0.0, 0.5, 1.0); rejects anything that is not 0 or a finite number in the range."""
    temps = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue  # "0,1," is 0 and 1; "," alone is refused below
        try:
            t = float(part)
        except ValueError:
            raise UserError(f"temperature {part!r} is not a number (expected e.g. --temperatures 0,0.5,1.0)") from None
        if t < 0:
            raise UserError(f"temperature {part} must be a finite number >= 0 (0 means greedy decoding)")
        temps.append(check_temperature(t, part))
    if not temps:
        raise UserError("--temperatures needs at least one value, e.g. --temperatures 0,1")
    return tuple(sorted(set(temps)))


def check_checkpoint_every(seconds: float) -> float:
    """A checkpoint cadence: finite and >= 0 (0 = after every training step)."""
    if not (math.isfinite(seconds) and seconds >= 0):
        raise UserError(f"--checkpoint-every {seconds}: must be a finite number of seconds >= 0 (0 = after every step)")
    return float(seconds)


def validate_run_config(cfg: RunConfig) -> None:
    """Every plain value of ``cfg`` in range (names are checked by their registries); one-line UserError."""
    check_seed(cfg.seed)
    for t in cfg.temperatures or ():
        check_temperature(t)
    if cfg.temperatures is not None and not cfg.temperatures:
        raise UserError("--temperatures needs at least one value, e.g. --temperatures 0,1")
    if cfg.decoders is not None:
        check_grid(cfg.decoders, empty_ok=True)
    check_checkpoint_every(cfg.checkpoint_every_s)
    for name, value in (("--model", cfg.model), ("--dataset", cfg.dataset), ("--profile", cfg.profile)):
        check_name(value, name)


def check_name(name: str, what: str) -> str:
    """A registry name that becomes part of a path: no separators, no ``..``, nothing unprintable."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\0") or not name.isprintable():
        raise UserError(f"{what} {name!r} is not a valid name (see `langgan-bench list`)")
    return name


def resolve_device(name: str) -> torch.device:
    """auto -> CUDA when present, else CPU; only cpu and existing CUDA devices are accepted."""
    import torch  # (here: the other checks of this module run before torch is needed)

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name} was asked for, but no CUDA device is available (try --device auto)")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise UserError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"--device {name}: there are {torch.cuda.device_count()} CUDA devices (0-based)")
    return device


# --- model settings -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bound:
    """An allowed range of a numeric setting (both ends optional, each open or closed)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def holds(self, v: float) -> bool:
        if not math.isfinite(v):
            return False
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return not (self.hi is not None and (v >= self.hi if self.hi_open else v > self.hi))

    def __str__(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        return "a finite number" if self.hi is None else f"{'<' if self.hi_open else '<='} {self.hi:g}"


POSITIVE = Bound(0, lo_open=True)
AT_LEAST_ONE = Bound(1)
NON_NEGATIVE = Bound(0)
FRACTION = Bound(0, 1, hi_open=True)  # [0, 1): a dropout rate or a momentum
UNIT = Bound(0, 1)  # [0, 1]: a discount, a decay, a mixing rate
FINITE = Bound()

#: Allowed ranges by setting name ("Class.name" first, for names that mean different things in two configs).
#: Integers not listed are sizes, counts or budgets (>= 1); floats not listed need only be finite.
SETTING_RANGES: dict[str, Bound] = {
    "lr": POSITIVE,
    "g_lr": POSITIVE,
    "d_lr": POSITIVE,
    "grad_clip": POSITIVE,
    "delta": POSITIVE,
    "dropout": FRACTION,
    "beta1": FRACTION,
    "gamma": UNIT,  # ScratchGAN's reward discount
    "Ranking.gamma": POSITIVE,  # RankGAN's inverse temperature of the rank softmax
    "baseline_decay": UNIT,
    "rollout_update": UNIT,
    "l2": NON_NEGATIVE,
    "l2_out": NON_NEGATIVE,
}
#: Tuples that are read pairwise (one CNN filter width per filter count) must have the same length.
PAIRED = (("filter_sizes", "num_filters"),)


def setting_range(owner: Any, name: str, value: Any) -> Bound | None:
    """The allowed range of ``owner.name`` (None: not a number, nothing to check)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    qualified = SETTING_RANGES.get(f"{type(owner).__name__}.{name}") or SETTING_RANGES.get(name)
    return qualified or (AT_LEAST_ONE if isinstance(value, int) else FINITE)


def validate_settings(config: Any, prefix: str = "") -> None:
    """Every setting of a (nested) model config dataclass in its range; else a UserError naming it."""
    for f in dataclasses.fields(config):
        value, key = getattr(config, f.name), f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            validate_settings(value, f"{key}.")
            continue
        for item in value if isinstance(value, tuple) else (value,):
            bound = setting_range(config, f.name, item)
            if bound is not None and not bound.holds(item):
                raise UserError(f"setting {key} = {_show(value)} is out of range: it must be {bound}")
    for a, b in PAIRED:
        if hasattr(config, a) and hasattr(config, b) and len(getattr(config, a)) != len(getattr(config, b)):
            raise UserError(f"settings {prefix}{a} and {prefix}{b} must have the same number of values")


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def apply_overrides(config: Any, overrides: tuple[str, ...]) -> Any:
    """Return ``config`` with ``key.sub=value`` overrides applied (values typed like the defaults, each
    checked against its range) and the whole result validated."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise UserError(f"--set {item!r}: expected KEY=VALUE, e.g. training.lr=0.001")
        config = _replace_path(config, key.strip().split("."), raw.strip(), key)
    validate_settings(config)
    return config


def _replace_path(obj: Any, path: list[str], raw: str, full: str) -> Any:
    names = [f.name for f in dataclasses.fields(obj)]
    head = path[0]
    if head not in names:
        close = difflib.get_close_matches(head, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UserError(f"--set {full}: unknown setting {head!r}{hint}; settings here: {', '.join(names)}")
    current = getattr(obj, head)
    if len(path) > 1:
        if not dataclasses.is_dataclass(current):
            raise UserError(f"--set {full}: {head!r} has no sub-settings")
        return dataclasses.replace(obj, **{head: _replace_path(current, path[1:], raw, full)})
    if dataclasses.is_dataclass(current):
        raise UserError(f"--set {full}: {head!r} is a group; set one of its fields, e.g. {head}.<name>=...")
    value = _coerce(raw, current, full)
    for item in value if isinstance(value, tuple) else (value,):
        bound = setting_range(obj, head, item)
        if bound is not None and not bound.holds(item):
            raise UserError(f"--set {full}={raw}: {full} must be {bound}")
    return dataclasses.replace(obj, **{head: value})


def _coerce(raw: str, like: Any, full: str) -> Any:
    try:
        if isinstance(like, bool):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return raw.lower() in ("true", "1")
        if isinstance(like, int):
            return int(raw)
        if isinstance(like, float):
            return float(raw)
        if isinstance(like, tuple):  # "1,2,3" for a tuple of numbers like the default's
            kind = type(like[0]) if like else int
            return tuple(kind(x) for x in raw.split(","))
    except ValueError:
        kind_name = f"comma-separated {type(like[0]).__name__ if like else 'int'}s" if isinstance(like, tuple) else None
        raise UserError(f"--set {full}: {raw!r} is not a valid {kind_name or type(like).__name__}") from None
    return raw


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (run seed, purpose, epoch, temperature...): the same on every
    machine and in every process, so nothing random depends on what ran before."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def config_hash(obj: Any) -> str:
    """A short stable hash of a JSON-able object (the settings that change a run's numbers)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def git_commit() -> str:
    """The commit of the code that runs, with ``-dirty`` if it has uncommitted changes; ``unknown`` outside git."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return sha.stdout.strip()[:12] + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
