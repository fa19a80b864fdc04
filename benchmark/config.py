"""Run configuration: CLI -> frozen dataclass -> code. Nothing reads global state for a setting."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from langgan_bench.errors import UserError


@dataclass(frozen=True)
class RunConfig:
    """Everything ``langgan-bench run`` was asked to do."""

    model: str
    dataset: str
    profile: str = "small"
    seed: int = 0
    temperatures: tuple[float, ...] | None = None  # None: the profile's grid
    device: str = "auto"
    out: str = "results"
    resume: bool = False
    data_dir: str | None = None
    checkpoint_every_s: float = 180.0  # does not change any number
    overrides: tuple[str, ...] = ()  # "training.lr=0.001" applied to the model's profile config


def parse_temperatures(text: str) -> tuple[float, ...]:
    """ "0,0.5,1" -> (0.0, 0.5, 1.0); rejects anything that is not a finite number >= 0."""
    temps = []
    for part in text.split(","):
        part = part.strip()
        try:
            t = float(part)
        except ValueError:
            raise UserError(f"temperature {part!r} is not a number (expected e.g. --temperatures 0,0.5,1.0)") from None
        if not math.isfinite(t) or t < 0:
            raise UserError(f"temperature {part} must be a finite number >= 0 (0 means greedy decoding)")
        temps.append(t)
    if not temps:
        raise UserError("--temperatures needs at least one value")
    return tuple(sorted(set(temps)))


def resolve_device(name: str) -> torch.device:
    """auto -> CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name} was asked for, but no CUDA device is available (try --device auto)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r} (use auto, cpu or cuda)") from None


def apply_overrides(config: Any, overrides: tuple[str, ...]) -> Any:
    """Return ``config`` with ``key.sub=value`` overrides applied (values typed like the defaults)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise UserError(f"--set {item!r}: expected KEY=VALUE, e.g. training.lr=0.001")
        config = _replace_path(config, key.strip().split("."), raw.strip(), key)
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
    return dataclasses.replace(obj, **{head: _coerce(raw, current, full)})


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
    except ValueError:
        raise UserError(f"--set {full}: {raw!r} is not a valid {type(like).__name__}") from None
    return raw


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
