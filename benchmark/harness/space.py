"""The free-space check before a run: refuse at the start, with the estimate, rather than fail hours in.

The estimate is an upper bound of what one run writes, from the model it built and the profile's sizes:
checkpoints (weights and Adam's two moments of every network, plus the best epoch's generator; the last and
the one before it exist together while a new one is written), the trained generator, the decoded samples of
every point of the sweep (temperatures and decoders), the small run files, and the caches it may fill
(pre-trained generator, judge LM, FED statistics, synthetic splits). ``--no-space-check`` skips it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgan_bench.core.errors import UserError

MIB = 2**20
#: Room for config.json, sweep.json, rows.csv and the reserve that lets a failed run record why.
RUN_FILES_BYTES = 1 * MIB
#: The FED reference statistics: mean and covariance of 384-dimensional embeddings in float64, a few entries.
FED_CACHE_BYTES = 4 * 384 * 384 * 8
#: Headroom over the estimate (file system blocks, zip headers of torch files).
MARGIN = 1.25


@dataclass(frozen=True)
class SpaceEstimate:
    """Bytes a run writes under the results folder and under the cache, with the parts named."""

    results: dict[str, int]
    cache: dict[str, int]

    @property
    def results_bytes(self) -> int:
        return int(sum(self.results.values()) * MARGIN)

    @property
    def cache_bytes(self) -> int:
        return int(sum(self.cache.values()) * MARGIN)

    def describe(self, parts: dict[str, int]) -> str:
        return ", ".join(f"{name} {_mib(n)}" for name, n in parts.items() if n)


def _mib(n: float) -> str:
    return f"{n / MIB:.1f} MiB"


def parameter_bytes(obj: Any) -> tuple[int, int]:
    """(bytes of every network's parameters, bytes of the generator's) reachable from a model's attributes."""
    from torch import nn

    seen: set[int] = set()
    total = 0
    modules = [v for v in vars(obj).values() if isinstance(v, nn.Module)]
    for module in modules:
        for p in module.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                total += p.numel() * p.element_size()
    gen = getattr(obj, "generator", None)
    gen_bytes = sum(p.numel() * p.element_size() for p in gen.parameters()) if isinstance(gen, nn.Module) else 0
    return max(total, gen_bytes), gen_bytes


def estimate(model: Any, dataset: Any, profile: Any, points: Sequence[object]) -> SpaceEstimate:
    """What one run of ``model`` on ``dataset`` with ``profile`` writes (an upper bound, see the module)."""
    weights, gen = parameter_bytes(model)
    checkpoint = 3 * weights + gen  # weights, Adam's two moments, the best epoch's generator
    widest = max((len(t.encode("utf-8")) for t in dataset.vocab.tokens), default=8)
    samples = len(points) * profile.eval_samples * (dataset.max_len + 1) * (widest + 1)
    synthetic = 0
    if dataset.is_synthetic:
        synthetic = 8 * dataset.max_len * (len(dataset.train) + len(dataset.valid) + len(dataset.test))
    return SpaceEstimate(
        results={"checkpoints": 2 * checkpoint, "generator": gen, "samples": samples, "run files": RUN_FILES_BYTES},
        cache={"pre-trained generator": gen, "judge LM": 0 if dataset.is_synthetic else 3 * gen,
               "FED statistics": 0 if dataset.is_synthetic else FED_CACHE_BYTES, "synthetic splits": synthetic},
    )  # fmt: skip


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (a folder not made yet lives on its parent's file system)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(_existing(path)).free


def check_space(est: SpaceEstimate, results_dir: Path, cache: Path) -> None:
    """A one-line UserError when the results or cache folder's file system cannot take what the run writes."""
    places = [(results_dir, est.results_bytes, est.results), (cache, est.cache_bytes, est.cache)]
    devices: dict[int, list[tuple[Path, int, dict[str, int]]]] = {}
    for folder, need, parts in places:
        devices.setdefault(os.stat(_existing(folder)).st_dev, []).append((folder, need, parts))
    for group in devices.values():  # folders on one file system share its free space
        need = sum(n for _, n, _ in group)
        free = free_bytes(group[0][0])
        if need > free:
            where = " and ".join(f"{f} ({est.describe(parts)})" for f, _, parts in group)
            raise UserError(
                f"not enough free space: this run writes about {_mib(need)} into {where}, and only {_mib(free)} "
                "is free there; free some space, or pass --no-space-check"
            )
