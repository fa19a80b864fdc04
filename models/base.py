"""The Model contract and what the harness hands to ``fit``: the TrainContext.

A model is registered by name, has a frozen config dataclass with defaults per profile, trains from scratch
or resumes from the context's checkpoint in ``fit``, and exposes its Generator.
"""

from __future__ import annotations

import abc
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch

from langgan_bench.datasets.base import Dataset
from langgan_bench.models.generator import Generator, LSTMGenerator
from langgan_bench.registry import Registry

T = TypeVar("T")

#: Test hook: SIGKILL this process after this many training steps (simulates a crash at a known point).
ENV_KILL_AFTER_STEPS = "LANGGAN_KILL_AFTER_STEPS"
#: With the hook above: kill only if this file does not exist yet (and create it), so a retry survives.
ENV_KILL_ONCE_MARKER = "LANGGAN_KILL_ONCE_MARKER"


class Diverged(Exception):
    """Training produced a non-finite loss or collapsed; carries the step where it happened."""

    def __init__(self, step: int, reason: str) -> None:
        super().__init__(f"diverged at step {step}: {reason}")
        self.step, self.reason = step, reason


@dataclass
class TrainContext:
    """Device, seed, checkpoints and progress for one training run.

    ``save`` writes the checkpoint atomically together with the global RNG states; ``restore`` loads it
    back (when resuming) and restores those RNG states, so a resumed run continues bit-for-bit on CPU.
    """

    device: torch.device
    seed: int
    checkpoint_path: Path | None = None
    checkpoint_every_s: float = 180.0
    resume: bool = False
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr, flush=True))
    steps: int = 0
    _last_save: float = field(default_factory=time.monotonic)
    _kill_after: int | None = field(default_factory=lambda: _env_int(ENV_KILL_AFTER_STEPS))

    def restore(self) -> dict[str, Any] | None:
        if not (self.resume and self.checkpoint_path and self.checkpoint_path.is_file()):
            return None
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        rng = state.pop("_rng")
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.steps = state.pop("_steps")
        return state

    def save(self, state: dict[str, Any]) -> None:
        if self.checkpoint_path is None:
            return
        full = dict(
            state,
            _steps=self.steps,
            _rng={
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
        )
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(full, tmp)
        os.replace(tmp, self.checkpoint_path)
        self._last_save = time.monotonic()

    def step_done(self, make_state: Callable[[], dict[str, Any]]) -> None:
        """Call after every optimisation step: checkpoints when the cadence has elapsed."""
        self.steps += 1
        if time.monotonic() - self._last_save >= self.checkpoint_every_s:
            self.save(make_state())
        if self._kill_after is not None and self.steps >= self._kill_after:
            marker = os.environ.get(ENV_KILL_ONCE_MARKER)
            if marker:
                try:
                    Path(marker).touch(exist_ok=False)
                except FileExistsError:
                    return  # killed once already
            os.kill(os.getpid(), signal.SIGKILL)

    def progress(self, items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
        from tqdm.auto import tqdm

        # disable=None: a bar on a terminal, nothing in logs and tests
        yield from tqdm(items, desc=desc, total=total, leave=False, disable=None, file=sys.stderr)


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name)
    return int(raw) if raw else None


@dataclass(frozen=True)
class TrainSummary:
    """What a fit reports back; stored in the run's config.json."""

    epochs: int
    steps: int
    best_epoch: int
    best_valid_nll: float
    train_seconds: float
    history: list[dict[str, float]]


class Model(abc.ABC):
    """Base class of every registered model."""

    name: ClassVar[str]
    profiles: ClassVar[dict[str, Any]]  # profile name -> config dataclass instance

    def __init__(self, config: Any, dataset: Dataset, device: torch.device) -> None:
        self.config = config
        self.device = device

    @classmethod
    def config_for(cls, profile: str) -> Any:
        return cls.profiles[profile]

    @property
    @abc.abstractmethod
    def generator(self) -> Generator:
        """The trained generator (the thing that is sampled and scored)."""

    @abc.abstractmethod
    def fit(self, dataset: Dataset, ctx: TrainContext) -> TrainSummary:
        """Train on ``dataset`` (resuming from ``ctx`` when it holds a checkpoint)."""


MODELS: Registry[type[Model]] = Registry("model")


def make_generator(dataset: Dataset, cfg: Any, device: torch.device) -> LSTMGenerator:
    """The shared generator sized for ``dataset``."""
    v = dataset.vocab
    return LSTMGenerator(len(v), dataset.max_len, cfg, eos_id=v.eos_id, pad_id=v.pad_id).to(device)


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (run seed, purpose, epoch, temperature...)."""
    import hashlib

    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
