"""Tidy result rows (one metric value per row) and atomic file writes.

Every run writes its own ``runs/<run_id>/rows.csv`` (atomically: a temporary file renamed into place), so
two runs writing into one results folder never touch the same file and lose no rows; plots and reports
read only these rows.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from langgan_bench.errors import UserError

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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def rows_to_csv(rows: list[ResultRow]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: repr(v) if isinstance(v, float) else v for k, v in asdict(r).items()})
    return buf.getvalue()


def write_rows(path: Path, rows: list[ResultRow]) -> None:
    atomic_write_text(path, rows_to_csv(rows))


def read_rows_file(path: Path) -> list[ResultRow]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != FIELDS:
            raise UserError(f"{path} is not a langgan-bench rows file (columns {reader.fieldnames})")
        return [ResultRow(**{k: _TYPES.get(k, str)(v) for k, v in rec.items()}) for rec in reader]


def read_results(results_dir: Path) -> list[ResultRow]:
    """Every stored row under ``results_dir`` (each finished run's rows.csv)."""
    if not results_dir.is_dir():
        raise UserError(f"results folder {results_dir} does not exist")
    rows: list[ResultRow] = []
    for path in sorted((results_dir / RUNS_DIR).glob(f"*/{ROWS_FILE}")):
        rows.extend(read_rows_file(path))
    return rows
