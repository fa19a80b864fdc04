"""Tidy result rows: one metric value per row, the only thing plots, verdicts and reports read.

Every run writes its own ``runs/<run_id>/rows.csv`` (atomically: a temporary file renamed into place), so
two runs writing into one results folder never touch the same file and lose no rows. Reading checks every
field, so a damaged or foreign file is named and left out instead of hiding the other runs.

A row names the decoder that drew its samples and the decoder's knob (``core/decoders.py``): a temperature row
has decoder ``temperature`` and its T as knob (and in ``temperature``, as before decoders existed); a row of
another decoder has ``temperature`` NaN. Rows files written before decoders existed (without the two
columns) still load: their rows are temperature rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgan_bench.core.decoders import TEMPERATURE
from langgan_bench.core.errors import UserError
from langgan_bench.core.files import atomic_write_text, is_safe_name

if TYPE_CHECKING:
    import pandas as pd

RUNS_DIR = "runs"
ROWS_FILE = "rows.csv"
#: Model name of the reference rows a synthetic dataset adds: the oracle scored like a model at T = 1.
ORACLE_MODEL = "oracle"
#: Rows that are not metrics of the samples: a point's decoding time per 1,000 sentences (signature: device,
#: its name, threads) and a rejection decoder's acceptance rate (``n_samples``: the candidates drawn).
DECODE_TIME = "decode_time"
ACCEPTANCE = "acceptance_rate"
#: Rows that measure the machine rather than the seed: two runs of one seed differ only in these.
MEASURED = (DECODE_TIME,)


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
    decoder: str = TEMPERATURE
    knob: float = math.nan  # a temperature row's is its temperature (filled in when not given)

    def __post_init__(self) -> None:
        if self.decoder == TEMPERATURE and math.isnan(self.knob):
            object.__setattr__(self, "knob", self.temperature)


FIELDS = tuple(f.name for f in fields(ResultRow))
#: The columns of a rows file written before decoders existed (every row a temperature row).
OLD_FIELDS = FIELDS[:-2]
_TYPES = {"seed": int, "temperature": float, "value": float, "n_samples": int, "knob": float}


def rows_to_csv(rows: list[ResultRow]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: repr(v) if isinstance(v, float) else v for k, v in asdict(r).items()})
    return buf.getvalue()


def write_rows(path: Path, rows: list[ResultRow], **write: Any) -> None:
    atomic_write_text(path, rows_to_csv(rows), **write)


#: Cheap guard against hostile files: a rows.csv larger than this is not one this tool wrote.
MAX_ROWS_FILE_BYTES = 64 * 2**20


def read_rows_file(path: Path) -> list[ResultRow]:
    """The rows of one ``rows.csv``; a damaged or foreign file raises UserError naming the file and why."""
    try:
        if path.stat().st_size > MAX_ROWS_FILE_BYTES:
            raise UserError(f"{path} is larger than {MAX_ROWS_FILE_BYTES >> 20} MiB; not a langgan-bench rows file")
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if tuple(reader.fieldnames or ()) not in (FIELDS, OLD_FIELDS):
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
    decoder = values.get("decoder", TEMPERATURE)
    if not is_safe_name(decoder):
        raise ValueError(f"line {line}: decoder {decoder!r} is not a valid name")
    knob = values.get("knob", math.nan)
    if math.isinf(knob):
        raise ValueError(f"line {line}: knob {knob} is not a finite number")
    if decoder == TEMPERATURE and not math.isnan(knob) and knob != values["temperature"]:
        raise ValueError(f"line {line}: a temperature row's knob {knob:g} is not its temperature")
    if decoder != TEMPERATURE and not math.isnan(values["temperature"]):
        raise ValueError(f"line {line}: a {decoder} row has a temperature")
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
    git_commit, version, timestamp, decoder, knob``. ``decoder`` names how the samples were drawn and ``knob``
    its setting (``core/decoders.py``); a temperature row's knob is its temperature. ``temperature`` is NaN for
    the other decoders' rows and for rows that belong to no point (a diverged run's ``diverged_at_step``);
    T = 0 is greedy decoding. Rows files from before decoders existed load as temperature rows. Damaged rows
    files are left out (and listed in ``skipped`` when given), so one bad run never hides the others.

    >>> import langgan_bench
    >>> df = langgan_bench.load_results("results")  # doctest: +SKIP
    >>> bleu5 = df[df.metric == "bleu-5"]  # doctest: +SKIP
    >>> bleu5.groupby(["dataset", "model", "decoder", "knob"]).value.agg(["mean", "std", "count"])  # doctest: +SKIP
    """
    import pandas as pd

    rows = read_results(Path(path), skipped if skipped is not None else [])
    df = pd.DataFrame([asdict(r) for r in rows], columns=list(COLUMNS))
    return df.astype(
        {"seed": "int64", "temperature": "float64", "value": "float64", "n_samples": "int64", "knob": "float64"}
    )


def with_decoders(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its ``decoder`` and ``knob`` columns: a frame without them (rows from before decoders
    existed, or one built by hand) holds temperature rows, whose knob is their temperature."""
    if "decoder" not in df.columns:
        df = df.assign(decoder=TEMPERATURE)
    if "knob" not in df.columns:
        df = df.assign(knob=df["temperature"].where(df["decoder"] == TEMPERATURE))
    return df


#: Grid bookkeeping inside a results folder: the last bench's failed cells, which have no rows of their own
#: (written by the bench grid, read by the report).
GRID_DIR = ".grid"
FAILED_FILE = "failed_cells.csv"


def read_failures(out: Path) -> list[dict[str, str]]:
    """The failed cells of the last bench into ``out`` ([] when none, or when the file is unreadable)."""
    path = out / GRID_DIR / FAILED_FILE
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return [r for r in csv.DictReader(f) if None not in r and None not in r.values()]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def load_for(folder: Path, what: str, hint: str, warn: Callable[[str], None]) -> tuple[pd.DataFrame, int]:
    """``load_results`` for a command that builds ``what`` (the report, the site): each damaged run left out is
    one warning, no rows at all is a one-line error ending in ``hint``; the rows and how many runs were left out."""
    skipped: list[tuple[Path, str]] = []
    df = load_results(folder, skipped)
    for _, why in skipped:
        warn(f"left out of {what}: {why}")
    if df.empty:
        raise UserError(f"no result rows under {folder}; {hint}")
    return df, len(skipped)


def run_record(results_dir: Path, run_id: str) -> dict:
    """A run's config.json for display (device, threads, wall time); {} when absent or unreadable."""
    path = results_dir / RUNS_DIR / run_id / "config.json"
    try:
        if not is_safe_name(run_id) or path.stat().st_size > 2**20:
            return {}
        record = json.loads(path.read_text(encoding="utf-8"))
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        return {}


def wall_seconds(record: dict) -> float | None:
    """A run record's wall time (started to finished), None for an unfinished or damaged record."""
    try:
        return (
            dt.datetime.fromisoformat(record["finished"]) - dt.datetime.fromisoformat(record["started"])
        ).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None
