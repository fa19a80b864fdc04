"""One benchmark run: train a model on a dataset, sweep temperatures and decoders, score, write tidy rows.

Layout of a run (``<out>/runs/<run_id>/``): ``config.json`` (every resolved setting, seeds, device, git
commit), ``checkpoint.pt`` (training state for ``--resume``), ``generator.pt`` (the trained generator),
``samples/T<t>.txt`` (decoded samples per temperature) and ``samples/<decoder>=<knob>.txt`` (per point of
another decoder), ``disc_reject.pt`` (``disc_reject``'s discriminator, when swept), ``sweep.json`` (finished
points, for resume) and ``rows.csv`` (the result rows; written last, atomically, so its presence means the run
is complete).

The run id is derived from everything that changes the numbers (model, its resolved config, dataset content
hash, profile sizes, seed, device type, torch's thread count, package version), so ``--resume`` finds the run
again from the same command line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import platform
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from langgan_bench.analysis.rows import ORACLE_MODEL, ROWS_FILE, RUNS_DIR, ResultRow, read_rows_file, write_rows
from langgan_bench.core.cache import cache_dir, file_lock
from langgan_bench.core.config import (
    RunConfig,
    apply_overrides,
    config_hash,
    git_commit,
    resolve_device,
    validate_run_config,
)
from langgan_bench.core.decoders import TEMPERATURE, DecoderGrid, check_grid, point_key
from langgan_bench.core.errors import Damaged, MachineFault, UserError, is_fault
from langgan_bench.core.files import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    ensure_writable,
    remove_file,
)
from langgan_bench.core.profiles import PROFILES, SWEEP_ONLY, Profile
from langgan_bench.core.storage import load_torch, save_torch
from langgan_bench.core.version import __version__
from langgan_bench.datasets import DATASETS, load_dataset
from langgan_bench.datasets.base import Dataset
from langgan_bench.harness.space import check_space, estimate
from langgan_bench.harness.sweep import Point, SweepGenerator, evaluate, oracle_reference, point_seed, rejection_scorer
from langgan_bench.kernels import cpu
from langgan_bench.metrics import METRICS, MetricValue
from langgan_bench.models import model_source, resolve_model
from langgan_bench.models.training.base import Diverged, Model, TrainContext, TrainSummary
from langgan_bench.models.training.pretrained import PretrainedStore

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    run_dir: Path
    status: str  # "complete" or "diverged"
    rows: list[ResultRow]
    files: list[Path]


def make_folders(folder: Path) -> list[Path]:
    """``ensure_writable(folder)``, returning the folders it created (outermost first) so that a run that
    fails can remove them again; on failure it removes them itself."""
    missing = []
    for parent in (folder, *folder.parents):
        if parent.exists():
            break
        missing.append(parent)
    missing.reverse()
    try:
        ensure_writable(folder)
    except UserError:
        remove_empty(missing)
        raise
    return missing


def remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (innermost first) that are empty; a folder someone else filled stays."""
    for folder in reversed(folders):
        with suppress(OSError):
            folder.rmdir()


@contextmanager
def run_lock(run_dir: Path) -> Iterator[bool]:
    """One process per run folder at a time (a second identical run fails fast instead of interleaving).

    Yields whether this process starts the run (no ``config.json`` yet), decided under the lock: a process
    that is refused never decides anything, so it can never remove a folder another process just created.
    """
    for _ in range(100):
        with ExitStack() as stack:
            try:
                f = stack.enter_context(file_lock(run_dir / ".lock", wait=False))
            except BlockingIOError:
                raise UserError(f"run {run_dir.name} is already in progress in another process") from None
            except OSError as e:
                raise UserError(f"results folder {run_dir} is not writable: {e.strerror or e}") from None
            try:
                same = os.stat(run_dir / ".lock").st_ino == os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # we locked a file that was removed in between: lock the current one
                continue
            yield not (run_dir / "config.json").exists()
            return
    raise UserError(f"run {run_dir.name}: could not take its lock (its folder keeps disappearing)")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _temp_name(t: float) -> str:
    return point_key(TEMPERATURE, t)


def run(cfg: RunConfig, log: Callable[[str], None] | None = None) -> RunOutcome:
    """Run one model on one dataset end to end (see the module docstring for what lands where).

    Every input is checked before anything is written: a bad name, setting, seed, temperature, decoder or
    interval is a one-line UserError and leaves no folder behind. Once the run's folder exists, a failure leaves the
    run resumable (status "interrupted" or "failed" in config.json) or removes what this call created.
    """
    log = log or LOG.info
    validate_run_config(cfg)
    profile = PROFILES.get(cfg.profile)
    model_cls = resolve_model(cfg.model)  # a registered name, or package.module:ClassName (see models/plugins.py)
    cfg = dataclasses.replace(cfg, model=model_cls.name)  # the run id, rows and logs use the class's name
    DATASETS.get(cfg.dataset)
    temperatures = cfg.temperatures or profile.temperatures_for(cfg.model)
    decoders = check_grid(profile.resolve_decoders(cfg.decoders, cfg.model))
    device = resolve_device(cfg.device)
    model_config = apply_overrides(model_cls.config_for(profile.name), cfg.overrides)
    full = load_dataset(cfg.dataset, cfg.data_dir)
    dataset = full.limited(profile.train_limit, profile.valid_limit, profile.test_limit)

    identity = {
        "model": cfg.model,
        "model_config": asdict(model_config),
        "dataset": dataset.ident,
        "sizes": [len(dataset.train), len(dataset.valid), len(dataset.test)],
        "profile": {k: v for k, v in asdict(profile).items() if k not in ("description", *SWEEP_ONLY)},
        "seed": cfg.seed,
        "device": device.type,
        "version": __version__,
        "threads": torch.get_num_threads(),  # a CPU's float sums are split by thread: other threads, other numbers
    }
    run_id = f"{cfg.dataset}-{cfg.model}-{cfg.profile}-s{cfg.seed}-{config_hash(identity)}"
    # the model is built before anything is written: settings that cannot work on this dataset (a CNN
    # filter wider than every sentence, a size too large to allocate) are refused here
    torch.manual_seed(cfg.seed)
    try:
        model = model_cls(model_config, dataset, device)
    except (ValueError, RuntimeError, MemoryError, OverflowError, TypeError) as e:  # (torch: a size past int64
        # is a TypeError whose message runs on with C++ frames: its first line says it)
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{cfg.model} cannot be built with these settings on {cfg.dataset}: {reason}") from None
    resolved = ResolvedRun(
        cfg, run_id, Path(cfg.out) / RUNS_DIR / run_id, profile, model_cls, model_config, dataset, device, temperatures,
        decoders,
    )  # fmt: skip
    if cfg.space_check:
        check_space(estimate(model, dataset, profile, resolved.points()), Path(cfg.out), cache_dir())
    made = make_folders(resolved.run_dir)
    try:
        with run_lock(resolved.run_dir) as fresh:
            return _run_locked(resolved, model, fresh, log)
    finally:
        remove_empty(made)  # only the empty ones: after a success or a refusal they are not


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
    decoders: DecoderGrid = ()  # beside the temperature

    def points(self) -> list[Point]:
        """Every (decoder, knob) of the sweep, in the order swept: the temperatures first."""
        return [(TEMPERATURE, t) for t in self.temperatures] + [(d, k) for d, ks in self.decoders for k in ks]

    def decoders_record(self) -> dict[str, list[float]]:
        return {name: list(knobs) for name, knobs in self.decoders}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def read_sweep(path: Path) -> dict[str, list[dict[str, Any]]]:
    """A run's ``sweep.json`` (finished temperatures and their metric values), checked; a one-line
    UserError if it is damaged."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
        for key, values in data.items():
            if not (isinstance(key, str) and isinstance(values, list)):
                raise ValueError(f"entry {key!r} is not a list")
            for v in values:
                try:
                    MetricValue.from_json(v)
                except ValueError as e:
                    raise ValueError(f"entry {key!r} {e}") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) else str(e).splitlines()[0][:120]
        raise UserError(f"{path} is damaged ({reason}); rerun without --resume to restart this run") from None
    return data


def read_generator_file(path: Path) -> dict[str, Any]:
    """A run's ``generator.pt`` (model name, config, dataset and the generator's weights), loaded with
    ``weights_only=True`` and checked; a one-line UserError if it is damaged."""
    try:
        data = load_torch(path)
    except Damaged as e:
        raise UserError(str(e)) from None
    if not (isinstance(data, dict) and {"model", "model_config", "dataset", "state_dict"} <= set(data)):
        raise UserError(f"{path} is damaged (not a langgan-bench generator file)")
    if not all(isinstance(v, torch.Tensor) for v in data["state_dict"].values()):
        raise UserError(f"{path} is damaged (its weights are not all tensors)")
    return data


def _finished(r: ResolvedRun, paths: dict[str, Path], log: Callable[[str], None]) -> RunOutcome | None:
    """The stored outcome of a run that already finished (its rows readable), or None."""
    record = _read_json(paths["config"])
    status = record.get("status") if isinstance(record, dict) else None
    if status not in ("complete", "diverged") or not paths["rows"].is_file():
        return None
    if status == "complete" and record.get("temperatures") != list(r.temperatures):
        return None  # asked for other temperatures: the sweep goes on from sweep.json
    if status == "complete" and record.get("decoders", {}) != r.decoders_record():
        return None  # asked for other decoders: likewise
    try:
        rows = read_rows_file(paths["rows"])
    except Exception:  # damaged rows are recomputed from sweep.json below
        return None
    if not rows or any(row.run_id != r.run_id for row in rows):
        return None
    log(f"run {r.run_id} already finished ({status}); reusing its rows (run without --resume to redo it)")
    files = [paths[k] for k in ("config", "rows", "generator", "checkpoint") if paths[k].is_file()]
    return RunOutcome(r.run_id, r.run_dir, status, rows, files + sorted(paths["samples"].glob("*.txt")))


def _run_locked(r: ResolvedRun, model: Model, fresh: bool, log: Callable[[str], None]) -> RunOutcome:
    cfg, run_id, run_dir, profile, dataset, device = r.cfg, r.run_id, r.run_dir, r.profile, r.dataset, r.device
    model_config, temperatures = r.model_config, r.temperatures
    paths = {
        "config": run_dir / "config.json",
        "checkpoint": run_dir / "checkpoint.pt",
        "generator": run_dir / "generator.pt",
        "sweep": run_dir / "sweep.json",
        "rows": run_dir / ROWS_FILE,
        "samples": run_dir / "samples",
        "reserve": run_dir / ".reserve",
        "disc_reject": run_dir / "disc_reject.pt",
    }
    ctx = TrainContext(
        device=device,
        seed=cfg.seed,
        checkpoint_path=paths["checkpoint"],
        checkpoint_every_s=cfg.checkpoint_every_s,
        resume=cfg.resume,
        log=log,
        pretrained=PretrainedStore(cache_dir() / "pretrained", log),
        probe_size=profile.probe_samples,
    )
    assert ctx.previous_path is not None
    paths["previous"] = ctx.previous_path
    # what a resume reads back is checked before anything is written: a finished run's record is reused,
    # never rewritten, and damaged state is refused while the folder is still as it was
    done: dict[str, list[dict[str, Any]]] = {}
    if cfg.resume:
        finished = _finished(r, paths, log)
        if finished is not None:
            return finished
        if paths["sweep"].is_file():
            done = read_sweep(paths["sweep"])
        if ctx.preload() is None:
            log(f"--resume: no checkpoint for run {run_id} yet; starting it")
    else:
        for name in ("checkpoint", "previous", "generator", "sweep", "rows", "disc_reject"):
            paths[name].unlink(missing_ok=True)
        shutil.rmtree(paths["samples"], ignore_errors=True)

    record: dict[str, Any] = {
        "run_id": run_id,
        "status": "running",
        "command": sys.argv,
        "run": asdict(cfg),
        "model_source": model_source(cfg.model),
        "temperatures": list(temperatures),
        "decoders": r.decoders_record(),
        "profile": asdict(profile),
        "model_config": asdict(model_config),
        "dataset": dataset.info(),
        "device": str(device),
        "seeds": {"run": cfg.seed, "samples": {point_key(d, k): point_seed(cfg.seed, d, k) for d, k in r.points()}},
        "git_commit": git_commit(),
        "version": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        "cpu": cpu.run_facts(),
        "started": _now(),
    }
    try:
        atomic_write_json(paths["config"], record, create_parent=False)
        # room for the record of a failure: a full disk frees it first, so the run never stays "running"
        atomic_write_bytes(paths["reserve"], bytes(RESERVE_BYTES), create_parent=False)
        paths["samples"].mkdir(exist_ok=True)
        outcome = _train_and_sweep(r, model, ctx, paths, record, done, log)
        remove_file(paths["reserve"])
        return outcome
    except BaseException as e:
        _record_failure(r, paths, record, fresh, e)
        if isinstance(e, MachineFault):
            raise e.with_hint(_fault_hint(r, paths)) from None
        if is_fault(e):  # a refusal outside the atomic writes (a folder, a lock file): the same one line
            fault = MachineFault.of(getattr(e, "filename", None) or run_dir, e)  # type: ignore[arg-type]
            raise fault.with_hint(_fault_hint(r, paths)) from None
        raise


#: Bytes kept free inside a run's folder while it runs (see ``_record_failure``).
RESERVE_BYTES = 64 * 1024


def _record_failure(
    r: ResolvedRun, paths: dict[str, Path], record: dict[str, Any], fresh: bool, e: BaseException
) -> None:
    """After a failure: remove a fresh run that left nothing worth resuming, else record why it stopped
    (never a stale "running"; --resume continues from the last checkpoint). A record that cannot be written
    (the file system refuses that too) is left as it is: the caller's one line says why."""
    interrupted = isinstance(e, KeyboardInterrupt)
    if fresh and not interrupted and not any(paths[k].is_file() for k in ("checkpoint", "previous")):
        shutil.rmtree(r.run_dir, ignore_errors=True)  # nothing worth resuming: leave nothing behind
        return
    if not r.run_dir.is_dir():
        return
    with suppress(OSError):
        paths["reserve"].unlink(missing_ok=True)
    error = "interrupted" if interrupted else f"{type(e).__name__}: {e}".splitlines()[0]
    record.update(status="interrupted" if interrupted else "failed", error=error, finished=_now())
    with suppress(MachineFault):
        atomic_write_json(paths["config"], record, create_parent=False)


def _fault_hint(r: ResolvedRun, paths: dict[str, Path]) -> str:
    """What a user can do after a machine fault, from what the run left behind."""
    if not r.run_dir.is_dir():
        return f"nothing of run {r.run_id} is left; once the cause is gone, run the same command again"
    record = _read_json(paths["config"])
    status = record.get("status") if isinstance(record, dict) else None
    said = f"run {r.run_id} is recorded as {status}" if status != "running" else f"run {r.run_id} stopped"
    return f"{said}; once the cause is gone, continue with the same command and --resume"


def _fit(model: Model, dataset: Dataset, ctx: TrainContext) -> TrainSummary:
    """``model.fit``; a checkpoint that unpickles but does not fit the model is a one-line UserError."""
    try:
        return model.fit(dataset, ctx)
    except (Diverged, UserError, KeyboardInterrupt):
        raise
    except Exception as e:
        if ctx.loading_from is None:
            raise
        raise UserError(
            f"{ctx.loading_from} is damaged (it does not fit this model: {type(e).__name__}); "
            "rerun without --resume to restart this run"
        ) from None


def _train_and_sweep(
    r: ResolvedRun,
    model: Model,
    ctx: TrainContext,
    paths: dict[str, Path],
    record: dict[str, Any],
    done: dict[str, list[dict[str, Any]]],
    log: Callable[[str], None],
) -> RunOutcome:
    cfg, run_id, run_dir, profile, dataset, device = r.cfg, r.run_id, r.run_dir, r.profile, r.dataset, r.device
    model_config = r.model_config
    metrics = [METRICS.get(name) for name in METRICS.names()]
    timestamp = _now()
    # overridden settings are a different model as far as tables are concerned
    label = cfg.model + (f"[{','.join(cfg.overrides)}]" if cfg.overrides else "")

    def row(model_name: str, point: Point, v: MetricValue) -> ResultRow:
        decoder, knob = point
        return ResultRow(
            run_id,
            dataset.name,
            model_name,
            cfg.seed,
            profile.name,
            knob if decoder == TEMPERATURE else float("nan"),
            v.metric,
            v.value,
            v.signature,
            v.n_samples,
            record["git_commit"],
            __version__,
            timestamp,
            decoder,
            knob,
        )

    try:
        summary: TrainSummary = _fit(model, dataset, ctx)
    except Diverged as e:
        log(f"{cfg.model} {e}; recording the run as diverged")
        record.update(status="diverged", diverged={"step": e.step, "reason": e.reason}, finished=_now())
        record["training"] = {"history": e.history, "phases": e.phases}  # up to the divergence
        atomic_write_json(paths["config"], record, create_parent=False)
        rows = [
            row(
                label,
                (TEMPERATURE, float("nan")),
                MetricValue("diverged_at_step", float(e.step), f"diverged|reason:{e.reason}", 0),
            )
        ]
        write_rows(paths["rows"], rows, create_parent=False)
        return RunOutcome(run_id, run_dir, "diverged", rows, [paths["config"], paths["rows"]])
    gen = model.generator
    save_torch(
        {
            "model": cfg.model,
            "model_config": asdict(model_config),
            "dataset": dataset.ident,
            "state_dict": gen.state_dict(),
        },
        paths["generator"],
        create_parent=False,
    )
    record["training"] = dataclasses.asdict(summary)

    rows: list[ResultRow] = []
    sample_files = []
    pending = [(d, k) for d, k in r.points() if point_key(d, k) not in done]
    # NLL_test of every pending temperature (and truncating decoder's knob) in one pass over the test split
    gen = SweepGenerator(
        gen,
        dataset.test,
        [k for d, k in pending if d == TEMPERATURE],
        tuple((name, tuple(k for d, k in pending if d == name)) for name, _ in r.decoders),
    )
    scorer = None  # disc_reject's discriminator, trained (or read back) when a pending point needs it
    for point in r.points():
        decoder, knob = point
        key = point_key(decoder, knob)
        sample_file = paths["samples"] / f"{key}.txt"
        if key not in done or not sample_file.is_file():
            if decoder == "disc_reject" and scorer is None:
                scorer = rejection_scorer(gen, dataset, profile, cfg.seed, device, paths["disc_reject"], log)
            what = "T=" + f"{knob:g}" if decoder == TEMPERATURE else key
            log(f"sweep {what}: sampling {profile.eval_samples} sequences and scoring")
            texts, values = evaluate(gen, dataset, profile, point, cfg.seed, metrics, device.type, scorer)
            atomic_write_text(sample_file, "".join(s + "\n" for s in texts), create_parent=False)
            done[key] = [asdict(v) for v in values]
            atomic_write_json(paths["sweep"], done, create_parent=False)
        rows += [row(label, point, MetricValue(**v)) for v in done[key]]
        sample_files.append(sample_file)
    rows += [row(ORACLE_MODEL, (TEMPERATURE, 1.0), v) for v in oracle_reference(dataset, profile, metrics)]

    write_rows(paths["rows"], rows, create_parent=False)
    record.update(status="complete", finished=_now())
    atomic_write_json(paths["config"], record, create_parent=False)
    files = [paths["config"], paths["rows"], paths["generator"], paths["checkpoint"], *sample_files]
    files += [paths["disc_reject"]] if paths["disc_reject"].is_file() else []
    return RunOutcome(run_id, run_dir, "complete", rows, files)
