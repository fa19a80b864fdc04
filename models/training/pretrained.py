"""Pre-trained generators shared across runs: work done once per bench, not once per GAN.

SeqGAN, RankGAN, MaliGAN and RelGAN pre-train the same LSTM by MLE; with the same initial weights, data,
settings and seed they reach the same weights bit for bit (on a CPU). The template stores the result under a
key made of everything that determines it (``pretrain_key``) and the next run with that key loads it instead of
training: same weights, same history, same step count, so its rows equal a run that trained (tested).
Entries live in ``<cache>/pretrained/<key>.pt``, are read with ``weights_only=True`` and CRC-checked like every
file the tool reads back; a damaged entry is retrained with a one-line warning. A file lock makes a second
process that wants the same entry (a Dask worker on the next cell) wait for the first instead of repeating it.
Each run records the key and whether it trained or reused (``training.pretrained`` in its config.json).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from langgan_bench.core.cache import keep, load_or_build
from langgan_bench.core.errors import Damaged
from langgan_bench.core.storage import load_torch, save_torch
from langgan_bench.datasets.base import Dataset
from langgan_bench.models.networks.generator import LSTMGenerator
from langgan_bench.models.training.base import FUSED_ADAM_DEVICES
from langgan_bench.models.training.mle import MLETraining

FORMAT = 3  # bumped when what a key covers or an entry holds changes (3: the optimiser's kernel)


def _tensor_digest(h: Any, t: torch.Tensor) -> None:
    t = t.detach().cpu().contiguous()
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())  # the raw bytes, whatever the dtype


def pretrain_key(gen: LSTMGenerator, data: Dataset, training: MLETraining, seed: int, device: torch.device) -> str:
    """A digest of everything that determines the pre-trained weights: the generator's class, settings and
    *initial* weights, the training and validation sentences, the MLE settings, the seed (batch order and
    dropout masks), the device type and optimiser kernel, the number of CPU threads and the torch version."""
    h = hashlib.sha256()
    setting = {
        "format": FORMAT,
        "generator": f"{type(gen).__module__}.{type(gen).__qualname__}",
        "config": asdict(gen.cfg),
        "sizes": [gen.vocab_size, gen.max_len, gen.eos_id, gen.pad_id],
        "training": asdict(training),
        "seed": seed,
        "device": device.type,
        "adam": "fused" if device.type in FUSED_ADAM_DEVICES else "per-tensor",
        "threads": torch.get_num_threads(),  # a CPU's sums may be split by thread
        "torch": torch.__version__,
    }
    h.update(json.dumps(setting, sort_keys=True).encode())
    for name, t in sorted(gen.state_dict().items()):
        h.update(name.encode())
        _tensor_digest(h, t)
    for split in (data.train, data.valid):
        _tensor_digest(h, split)
    return h.hexdigest()[:32]


class PretrainedStore:
    """The folder of shared pre-trained generators (``<cache>/pretrained``)."""

    def __init__(self, folder: Path, log: Callable[[str], None]) -> None:
        self.folder, self.log = folder, log

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.pt"

    def load_or_train(self, key: str, train: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """Under an exclusive lock on ``key``: the stored entry and True, or ``train()``'s entry, stored, and
        False. Another process asking for the same key meanwhile waits, then reuses it."""
        trained = False

        def build() -> dict[str, Any]:
            nonlocal trained
            entry, trained = train(), True
            return entry

        def waiting() -> None:
            self.log(f"pre-training {key}: another process is training it; waiting to reuse its weights")

        path = self._path(key)
        entry = load_or_build(path, _load_entry, build, save_torch, then="pre-training again", waiting=waiting)
        return entry, not trained

    def put(self, key: str, entry: dict[str, Any]) -> None:
        """Store an entry trained outside ``load_or_train`` (a run resumed inside its pre-training)."""
        keep(entry, self._path(key), save_torch)


def _load_entry(path: Path) -> dict[str, Any]:
    entry = load_torch(path)
    if not (isinstance(entry, dict) and {"weights", "progress"} <= entry.keys()):
        raise Damaged(path, "not a pre-trained generator entry")
    return entry
