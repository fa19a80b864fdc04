"""One benchmark run: train a model on a dataset, sweep temperatures, score, write tidy rows.

Layout of a run (``<out>/runs/<run_id>/``): ``config.json`` (every resolved setting, seeds, device, git
commit), ``checkpoint.pt`` (training state for ``--resume``), ``generator.pt`` (the trained generator),
``samples/T<t>.txt`` (decoded samples per temperature), ``sweep.json`` (finished temperatures, for resume)
and ``rows.csv`` (the result rows; written last, atomically, so its presence means the run is complete).

The run id is derived from everything that changes the numbers (model, its resolved config, dataset content
hash, profile sizes, seed, device type), so ``--resume`` finds the run again from the same command line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import json
import os
import platform
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from langgan_bench import __version__
from langgan_bench.config import RunConfig, apply_overrides, config_hash, git_commit, resolve_device
from langgan_bench.datasets import load_dataset
from langgan_bench.datasets.base import Dataset
from langgan_bench.errors import UserError
from langgan_bench.metrics import METRICS, MetricValue
from langgan_bench.models import MODELS, Diverged, Model, TrainContext, TrainSummary
from langgan_bench.profiles import PROFILES, Profile
from langgan_bench.results import ROWS_FILE, RUNS_DIR, ResultRow, atomic_write_json, atomic_write_text, write_rows
from langgan_bench.sweep import ORACLE_MODEL, SweepGenerator, evaluate, oracle_reference, sample_seed


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    run_dir: Path
    status: str  # "complete" or "diverged"
    rows: list[ResultRow]
    files: list[Path]


def ensure_writable(folder: Path) -> Path:
    """Create ``folder`` if needed and prove it can be written, or fail with one line."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise UserError(f"results folder {folder} is not writable: {e.strerror or e}") from None
    return folder


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """One process per run folder at a time (a second identical run fails fast instead of interleaving)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"run {run_dir.name} is already in progress in another process") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _temp_name(t: float) -> str:
    return f"T{t:g}"


def run(cfg: RunConfig, log: Callable[[str], None] | None = None) -> RunOutcome:
    """Run one model on one dataset end to end (see the module docstring for what lands where)."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    profile = PROFILES.get(cfg.profile)
    model_cls = MODELS.get(cfg.model)
    temperatures = cfg.temperatures or profile.temperatures
    out = ensure_writable(Path(cfg.out))
    device = resolve_device(cfg.device)
    full = load_dataset(cfg.dataset, cfg.data_dir)
    dataset = full.limited(profile.train_limit, profile.valid_limit, profile.test_limit)
    model_config = apply_overrides(model_cls.config_for(profile.name), cfg.overrides)

    identity = {
        "model": cfg.model,
        "model_config": asdict(model_config),
        "dataset": dataset.ident,
        "sizes": [len(dataset.train), len(dataset.valid), len(dataset.test)],
        "profile": {k: v for k, v in asdict(profile).items() if k not in ("description", "temperatures")},
        "seed": cfg.seed,
        "device": device.type,
        "version": __version__,
    }
    run_id = f"{cfg.dataset}-{cfg.model}-{cfg.profile}-s{cfg.seed}-{config_hash(identity)}"
    resolved = ResolvedRun(
        cfg, run_id, out / RUNS_DIR / run_id, profile, model_cls, model_config, dataset, device, temperatures
    )
    created = not resolved.run_dir.exists()
    try:
        with run_lock(resolved.run_dir):
            return _run_locked(resolved, log)
    except UserError:
        if created:
            shutil.rmtree(resolved.run_dir, ignore_errors=True)  # nothing half-written
        raise


@dataclass(frozen=True)
class ResolvedRun:
    """A RunConfig with every name looked up and every default filled in."""

    cfg: RunConfig
    run_id: str
    run_dir: Path
    profile: Profile
    model_cls: type[Model]
    model_config: Any
    dataset: Dataset
    device: torch.device
    temperatures: tuple[float, ...]


def _run_locked(r: ResolvedRun, log: Callable[[str], None]) -> RunOutcome:
    cfg, run_id, run_dir, profile, dataset, device = r.cfg, r.run_id, r.run_dir, r.profile, r.dataset, r.device
    model_config, temperatures = r.model_config, r.temperatures
    paths = {
        "config": run_dir / "config.json",
        "checkpoint": run_dir / "checkpoint.pt",
        "generator": run_dir / "generator.pt",
        "sweep": run_dir / "sweep.json",
        "rows": run_dir / ROWS_FILE,
        "samples": run_dir / "samples",
    }
    if not cfg.resume:
        for name in ("checkpoint", "generator", "sweep", "rows"):
            paths[name].unlink(missing_ok=True)
        shutil.rmtree(paths["samples"], ignore_errors=True)
    elif not paths["checkpoint"].exists():
        log(f"--resume: no checkpoint for run {run_id} yet; starting it")

    record: dict[str, Any] = {
        "run_id": run_id,
        "status": "running",
        "command": sys.argv,
        "run": asdict(cfg),
        "temperatures": list(temperatures),
        "profile": asdict(profile),
        "model_config": asdict(model_config),
        "dataset": dataset.info(),
        "device": str(device),
        "seeds": {"run": cfg.seed, "samples": {_temp_name(t): sample_seed(cfg.seed, t) for t in temperatures}},
        "git_commit": git_commit(),
        "version": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        "started": _now(),
    }
    atomic_write_json(paths["config"], record)

    torch.manual_seed(cfg.seed)
    model = r.model_cls(model_config, dataset, device)
    ctx = TrainContext(
        device=device,
        seed=cfg.seed,
        checkpoint_path=paths["checkpoint"],
        checkpoint_every_s=cfg.checkpoint_every_s,
        resume=cfg.resume,
        log=log,
    )
    metrics = [METRICS.get(name) for name in METRICS.names()]
    timestamp = _now()
    # overridden settings are a different model as far as tables are concerned
    label = cfg.model + (f"[{','.join(cfg.overrides)}]" if cfg.overrides else "")

    def row(model_name: str, t: float, v: MetricValue) -> ResultRow:
        return ResultRow(
            run_id,
            dataset.name,
            model_name,
            cfg.seed,
            profile.name,
            t,
            v.metric,
            v.value,
            v.signature,
            v.n_samples,
            record["git_commit"],
            __version__,
            timestamp,
        )

    try:
        summary: TrainSummary = model.fit(dataset, ctx)
    except Diverged as e:
        log(f"{cfg.model} {e}; recording the run as diverged")
        record.update(status="diverged", diverged={"step": e.step, "reason": e.reason}, finished=_now())
        atomic_write_json(paths["config"], record)
        rows = [
            row(label, float("nan"), MetricValue("diverged_at_step", float(e.step), f"diverged|reason:{e.reason}", 0))
        ]
        write_rows(paths["rows"], rows)
        return RunOutcome(run_id, run_dir, "diverged", rows, [paths["config"], paths["rows"]])
    gen = model.generator
    torch.save(
        {
            "model": cfg.model,
            "model_config": asdict(model_config),
            "dataset": dataset.ident,
            "state_dict": gen.state_dict(),
        },
        paths["generator"],
    )
    record["training"] = dataclasses.asdict(summary)

    done: dict[str, list[dict[str, Any]]] = {}
    if cfg.resume and paths["sweep"].is_file():
        done = json.loads(paths["sweep"].read_text())
    rows: list[ResultRow] = []
    sample_files = []
    pending = [t for t in temperatures if _temp_name(t) not in done]
    gen = SweepGenerator(gen, dataset.test, pending)  # NLL_test of every pending T in one pass over the test split
    for t in temperatures:
        key, sample_file = _temp_name(t), paths["samples"] / f"{_temp_name(t)}.txt"
        if key not in done or not sample_file.is_file():
            log(f"sweep T={t:g}: sampling {profile.eval_samples} sequences and scoring")
            texts, values = evaluate(gen, dataset, profile, t, cfg.seed, metrics, device.type)
            atomic_write_text(sample_file, "".join(s + "\n" for s in texts))
            done[key] = [asdict(v) for v in values]
            atomic_write_json(paths["sweep"], done)
        rows += [row(label, t, MetricValue(**v)) for v in done[key]]
        sample_files.append(sample_file)
    rows += [row(ORACLE_MODEL, 1.0, v) for v in oracle_reference(dataset, profile, metrics)]

    write_rows(paths["rows"], rows)
    record.update(status="complete", finished=_now())
    atomic_write_json(paths["config"], record)
    files = [paths["config"], paths["rows"], paths["generator"], paths["checkpoint"], *sample_files]
    return RunOutcome(run_id, run_dir, "complete", rows, files)
