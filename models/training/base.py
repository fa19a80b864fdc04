"""The Model contract and what the harness hands to ``fit``: the TrainContext.

A model is registered by name, has a frozen config dataclass with defaults per profile, trains from scratch
or resumes from the context's checkpoint in ``fit``, and exposes its Generator.
"""

from __future__ import annotations

import abc
import logging
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import torch
from torch import nn

from langgan_bench.core.errors import Damaged, UserError
from langgan_bench.core.files import remove_file
from langgan_bench.core.storage import load_torch, save_torch
from langgan_bench.datasets.base import Dataset
from langgan_bench.models.networks.generator import Generator, LSTMGenerator
from langgan_bench.models.training import optim
from langgan_bench.models.training.optim import Optimizer

if TYPE_CHECKING:
    from langgan_bench.models.training.pretrained import PretrainedStore

T = TypeVar("T")
LOG = logging.getLogger(__name__)


class Diverged(Exception):
    """Training produced a non-finite loss or collapsed; carries the step where it happened, and (set by the
    template on its way out) the history and phase times recorded up to then, so a diverged run's curves
    show what led to it."""

    def __init__(self, step: int, reason: str) -> None:
        super().__init__(f"diverged at step {step}: {reason}")
        self.step, self.reason = step, reason
        self.history: list[dict[str, Any]] = []
        self.phases: list[dict[str, Any]] = []


@dataclass
class TrainContext:
    """Device, seed, checkpoints and progress for one training run.

    ``save`` writes the checkpoint atomically together with the global RNG states, keeping the one before
    as ``<name>.prev.pt`` (a damaged last checkpoint then costs one interval, not the run); ``restore`` loads
    it back (when resuming) and restores those RNG states, so a resumed run continues bit-for-bit on CPU.
    Checkpoints hold tensors and plain containers only and are read with ``weights_only=True``: a crafted
    file runs nothing, and a damaged one is refused with one line (or replaced by the previous one).
    """

    device: torch.device
    seed: int
    checkpoint_path: Path | None = None
    checkpoint_every_s: float = 180.0
    resume: bool = False
    log: Callable[[str], None] = field(default=LOG.info)
    steps: int = 0
    _last_save: float = field(default_factory=time.monotonic)
    #: the checkpoint ``restore`` returned, until the model has taken its first step or saved: an error in
    #: between comes from a checkpoint that unpickled but does not fit the model (see ``loading_from``)
    loading_from: Path | None = None
    #: shared pre-trained generators (``models/pretrained.py``); None: every run pre-trains its own
    pretrained: PretrainedStore | None = None
    #: generated (and as many real) sentences of each probe of a GAN's training history (``template.py``); the
    #: harness passes its profile's ``probe_samples``
    probe_size: int = 256
    _preloaded: tuple[Path, dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def previous_path(self) -> Path | None:
        return None if self.checkpoint_path is None else self.checkpoint_path.with_suffix(".prev.pt")

    def preload(self) -> Path | None:
        """Load and check the checkpoint to resume from, without touching any state: the path it came from
        (the previous checkpoint when the last one is damaged), None if there is none or not resuming, and
        a one-line UserError when every checkpoint there is damaged. ``restore`` then uses it."""
        if self._preloaded is not None:
            return self._preloaded[0]
        if not (self.resume and self.checkpoint_path and self.previous_path):
            return None
        candidates = [p for p in (self.checkpoint_path, self.previous_path) if p.is_file()]
        damaged: list[Damaged] = []
        for path in candidates:
            try:
                self._preloaded = (path, _checked_checkpoint(path, load_torch(path)))
            except Damaged as e:
                damaged.append(e)
                continue
            for e in damaged:  # one line each; the run goes on from the previous checkpoint
                LOG.warning("%s; resuming from the previous checkpoint %s", e, path.name)
            return path
        if damaged:
            also = " (and so is the previous one)" if len(damaged) > 1 else ""
            raise UserError(f"{damaged[0]}{also}; rerun without --resume to restart this run")
        return None

    def restore(self) -> dict[str, Any] | None:
        """The checkpoint's model state (RNG states and step count restored), or None to start afresh."""
        if self.preload() is None or self._preloaded is None:
            return None
        path, state = self._preloaded
        self._preloaded = None
        rng = state.pop("_rng")
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.steps = int(state.pop("_steps"))
        self.loading_from = path
        return state

    def save(self, state: dict[str, Any]) -> None:
        if self.checkpoint_path is None or self.previous_path is None:
            return
        full = dict(
            state,
            _steps=self.steps,
            _rng={
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
        )
        # the one before the last goes first, so a save needs room for two checkpoints, not three; the last
        # becomes the previous only once the new one is written whole (a full disk leaves it in place)
        remove_file(self.previous_path)
        save_torch(full, self.checkpoint_path, create_parent=False, previous=self.previous_path)
        self._last_save = time.monotonic()
        self.loading_from = None

    def step_done(self, make_state: Callable[[], dict[str, Any]]) -> None:
        """Call after every optimisation step: checkpoints when the cadence has elapsed."""
        self.steps += 1
        self.loading_from = None
        if time.monotonic() - self._last_save >= self.checkpoint_every_s:
            self.save(make_state())

    def progress(self, items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
        from tqdm.auto import tqdm

        self.loading_from = None  # the model has taken its state back and starts a loop of steps
        # disable=None: a bar on a terminal, nothing in logs and tests
        yield from tqdm(items, desc=desc, total=total, leave=False, disable=None, file=sys.stderr)


def _checked_checkpoint(path: Path, state: Any) -> dict[str, Any]:
    """``state`` if it has the harness's own keys with the right types, else ``Damaged``."""
    rng = state.get("_rng") if isinstance(state, dict) else None
    if not (
        isinstance(rng, dict)
        and isinstance(rng.get("torch"), torch.Tensor)
        and rng["torch"].dtype == torch.uint8
        and rng["torch"].numel() == torch.get_rng_state().numel()
        and isinstance(state.get("_steps"), int)
        and state["_steps"] >= 0
    ):
        raise Damaged(path, "not a langgan-bench checkpoint")
    return state


FUSED_ADAM_DEVICES = ("cpu", "cuda")  # device types with torch's fused (single-kernel) Adam


def adam(params: Iterable[Any], lr: float, **kwargs: Any) -> Optimizer:
    """Adam, with the fused kernel on the devices that have one. Why: the default runs one small kernel per
    tensor and step, a tenth of a discriminator round for SeqGAN's CNN on a CPU (31 tensors). Same update in
    one pass; the numbers differ from the per-tensor loop at float32 rounding only. ``optim.Adam`` (torch's
    update without the dynamo import of ``torch.optim.Optimizer``) where torch has its functional Adam, else
    ``torch.optim.Adam``: the same numbers and ``state_dict`` either way."""
    params = list(params)
    first = params[0]["params"][0] if isinstance(params[0], dict) else params[0]
    fused = first.device.type in FUSED_ADAM_DEVICES
    make = optim.Adam if optim.FUNCTIONAL_ADAM else torch.optim.Adam
    return make(params, lr=lr, fused=fused, **kwargs)


def optimise(
    loss: torch.Tensor,
    optimizer: Optimizer,
    *,
    step: int,
    what: str,
    clip: float | None = None,
    clip_groups: Sequence[Iterable[torch.Tensor]] = (),
) -> float:
    """One update: check the loss is finite (else ``Diverged`` at ``step``), zero the gradients, backward,
    clip the gradient norm of each of ``clip_groups`` separately to ``clip``, step. Returns the loss value
    (the update's one synchronisation with the device)."""
    value = float(loss.detach())
    if not math.isfinite(value):
        raise Diverged(step, f"non-finite {what} {value}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip is not None:
        for group in clip_groups:
            nn.utils.clip_grad_norm_(group, clip)
    optimizer.step()
    return value


@dataclass(frozen=True)
class TrainSummary:
    """What a fit reports back; stored in the run's config.json."""

    epochs: int
    steps: int
    best_epoch: int
    best_valid_nll: float
    train_seconds: float
    history: list[dict[str, float]]
    #: MLE pre-training: its key and whether this run trained it or reused it (GANs that pre-train)
    pretrained: dict[str, Any] | None = None
    #: one record per phase, in order: ``phase`` (its label), ``kind``, ``seconds`` (wall time),
    #: ``first_step`` / ``last_step`` (the run's optimiser-step counter at its start and end)
    phases: list[dict[str, Any]] = field(default_factory=list)


class Model(abc.ABC):
    """Base class of every registered model."""

    name: ClassVar[str]
    profiles: ClassVar[dict[str, Any]]  # profile name -> config dataclass instance

    def __init__(self, config: Any, dataset: Dataset, device: torch.device) -> None:
        self.config = config
        self.device = device

    @classmethod
    def config_for(cls, profile: str) -> Any:
        try:
            return cls.profiles[profile]
        except KeyError:  # a model from outside the repo may define only some profiles
            known = ", ".join(sorted(cls.profiles))
            raise UserError(f"model {cls.name!r} has no profile {profile!r} (it has: {known})") from None

    @property
    @abc.abstractmethod
    def generator(self) -> Generator:
        """The trained generator (the thing that is sampled and scored)."""

    @abc.abstractmethod
    def fit(self, dataset: Dataset, ctx: TrainContext) -> TrainSummary:
        """Train on ``dataset`` (resuming from ``ctx`` when it holds a checkpoint)."""


def make_generator(dataset: Dataset, cfg: Any, device: torch.device) -> LSTMGenerator:
    """The shared generator sized for ``dataset``."""
    v = dataset.vocab
    return LSTMGenerator(len(v), dataset.max_len, cfg, eos_id=v.eos_id, pad_id=v.pad_id).to(device)
