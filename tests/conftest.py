"""Shared test set-up: a private cache (no test touches the user's), the shared data folder, CLI helpers."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_CACHE = Path(tempfile.mkdtemp(prefix="langgan-test-cache-"))
os.environ["LANGGAN_CACHE"] = str(_CACHE)
os.environ.pop("LANGGAN_MIRROR", None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_CACHE, ignore_errors=True)


def shared_data_dir() -> Path:
    """The real data: $LANGGAN_DATA, else ../shared/data beside the clone. Missing data is a failure."""
    raw = os.environ.get("LANGGAN_DATA") or str(REPO.parent / "shared" / "data")
    path = Path(raw)
    if not (path / "seqgan_oracle").is_dir():
        pytest.fail(f"the shared data folder is missing ({path}); set LANGGAN_DATA")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return shared_data_dir()


def rows_of(out: Path) -> list[dict[str, str]]:
    """Every result row stored under the results folder ``out``."""
    rows = []
    for path in sorted(out.glob("runs/*/rows.csv")):
        with open(path, newline="") as f:
            rows += list(csv.DictReader(f))
    return rows


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``langgan-bench ARGS`` in a subprocess, the way a user does."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "langgan_bench", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=REPO,
    )
