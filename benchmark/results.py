"""Tidy result rows (one metric value per row) and atomic file writes.

Every run writes its own ``runs/<run_id>/rows.csv`` (atomically: a temporary file renamed into place), so
two runs writing into one results folder never touch the same file and lose no rows; plots and reports
read only these rows.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgan_bench.errors import MachineFault, UserError, is_fault

if TYPE_CHECKING:
    import pandas as pd

RUNS_DIR = "runs"
ROWS_FILE = "rows.csv"


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


#: Result files get the mode an ordinary ``open()`` would give them (0644 under the usual umask), like
#: ``torch.save``'s checkpoints; ``mkstemp`` alone would leave them private (0600).
FILE_MODE = 0o666 & ~_umask()


@dataclass(frozen=True)
class ResultRow:
    run_id: str
    dataset: str
    model: str
    seed: int
    profile: str
    temperature: float
    metric: str
    value: float
    signature: str
    n_samples: int
    git_commit: str
    version: str
    timestamp: str


FIELDS = tuple(f.name for f in fields(ResultRow))
_TYPES = {"seed": int, "temperature": float, "value": float, "n_samples": int}


def ensure_writable(folder: Path, role: str = "results folder") -> Path:
    """Create ``folder`` if needed and prove it can be written, or fail with one line naming its ``role``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        raise UserError(f"{role} {folder} is not writable: {getattr(e, 'strerror', None) or e}") from None
    return folder


def atomic_write_bytes(path: Path, data: bytes, *, create_parent: bool = True, previous: Path | None = None) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one.

    ``previous``: the file ``path`` held is kept there (only once the new one is written whole, so a failed
    write leaves the old file in place). ``create_parent=False``: a missing folder is a fault, not recreated
    (a run's folder removed under it). The operating system's refusals (see ``errors.FAULT_ERRNOS``) raise
    ``MachineFault`` naming ``path``, with no temporary file left behind.
    """
    tmp = None
    try:
        if create_parent:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, FILE_MODE)
            view = memoryview(data)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if previous is not None and path.exists():
            os.replace(path, previous)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if is_fault(e):
            raise MachineFault.of(path, e) from None  # type: ignore[arg-type]
        raise


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn the operating system's refusals inside the block (see ``errors.FAULT_ERRNOS``) into a
    ``MachineFault`` naming ``path``: for writes other than the atomic ones (folders, markers, figures)."""
    try:
        yield
    except OSError as e:
        if is_fault(e):
            raise MachineFault.of(path, e) from None
        raise


def remove_file(path: Path) -> None:
    """Remove ``path`` if it exists; a refusal of the operating system is a ``MachineFault``."""
    with writing(path):
        path.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str, **write: Any) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), **write)


def atomic_write_json(path: Path, obj: Any, **write: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", **write)


def rows_to_csv(rows: list[ResultRow]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: repr(v) if isinstance(v, float) else v for k, v in asdict(r).items()})
    return buf.getvalue()


def write_rows(path: Path, rows: list[ResultRow], **write: Any) -> None:
    atomic_write_text(path, rows_to_csv(rows), **write)


#: A name that may become part of a file name (dataset, profile, run id): no separators, no "..".
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=,\-]{0,199}")
#: Cheap guard against hostile files: a rows.csv larger than this is not one this tool wrote.
MAX_ROWS_FILE_BYTES = 64 * 2**20


def is_safe_name(name: str) -> bool:
    return SAFE_NAME.fullmatch(name) is not None and ".." not in name


def read_rows_file(path: Path) -> list[ResultRow]:
    """The rows of one ``rows.csv``; a damaged or foreign file raises UserError naming the file and why."""
    try:
        if path.stat().st_size > MAX_ROWS_FILE_BYTES:
            raise UserError(f"{path} is larger than {MAX_ROWS_FILE_BYTES >> 20} MiB; not a langgan-bench rows file")
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if tuple(reader.fieldnames or ()) != FIELDS:
                raise UserError(f"{path} is not a langgan-bench rows file (columns {reader.fieldnames})")
            return [_parse_row(rec, reader.line_num) for rec in reader]
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text; not a langgan-bench rows file") from None
    except (csv.Error, ValueError, TypeError) as e:
        raise UserError(f"{path} is damaged ({e})") from None
    except OSError as e:
        raise UserError(f"{path} cannot be read: {e.strerror or e}") from None


def _parse_row(rec: dict[str | None, Any], line: int) -> ResultRow:
    if None in rec or any(v is None for v in rec.values()):
        raise ValueError(f"line {line} has the wrong number of fields (a torn write?)")
    values = {k: _TYPES.get(k, str)(v) for k, v in rec.items() if k is not None}
    for key in ("dataset", "profile", "run_id"):
        if not is_safe_name(values[key]):
            raise ValueError(f"line {line}: {key} {values[key]!r} is not a valid name")
    for key in ("model", "metric", "signature"):
        if not values[key] or not values[key].isprintable():
            raise ValueError(f"line {line}: {key} {values[key]!r} is empty or holds control characters")
    if math.isinf(values["temperature"]) or values["temperature"] < 0:
        raise ValueError(f"line {line}: temperature {values['temperature']} is not a finite number >= 0")
    return ResultRow(**values)


def read_results(results_dir: Path, skipped: list[tuple[Path, str]] | None = None) -> list[ResultRow]:
    """Every stored row under ``results_dir`` (each finished run's rows.csv).

    A damaged rows file raises UserError, or, when a ``skipped`` list is given, is left out and recorded
    there as (path, reason) so that one bad run does not hide the others.
    """
    if not results_dir.is_dir():
        raise UserError(f"results folder {results_dir} does not exist")
    rows: list[ResultRow] = []
    for path in sorted((results_dir / RUNS_DIR).glob(f"*/{ROWS_FILE}")):
        try:
            rows.extend(read_rows_file(path))
        except UserError as e:
            if skipped is None:
                raise
            skipped.append((path, str(e)))
    return rows


#: Columns of :func:`load_results`' DataFrame, one row per metric value (see ResultRow).
COLUMNS = FIELDS


def load_results(path: str | Path, skipped: list[tuple[Path, str]] | None = None) -> pd.DataFrame:
    """Every result row under a results folder as a tidy pandas DataFrame, one metric value per row.

    Columns: ``run_id, dataset, model, seed, profile, temperature, metric, value, signature, n_samples,
    git_commit, version, timestamp``. ``temperature`` is NaN for rows that belong to no temperature (a
    diverged run's ``diverged_at_step``); T = 0 is greedy decoding. Damaged rows files are left out (and
    listed in ``skipped`` when given), so one bad run never hides the others.

    >>> import langgan_bench
    >>> df = langgan_bench.load_results("results")  # doctest: +SKIP
    >>> bleu5 = df[df.metric == "bleu-5"]  # doctest: +SKIP
    >>> bleu5.groupby(["dataset", "model", "temperature"]).value.agg(["mean", "std", "count"])  # doctest: +SKIP
    """
    import pandas as pd

    rows = read_results(Path(path), skipped if skipped is not None else [])
    df = pd.DataFrame([asdict(r) for r in rows], columns=list(COLUMNS))
    return df.astype({"seed": "int64", "temperature": "float64", "value": "float64", "n_samples": "int64"})
