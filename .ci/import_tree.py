"""Lay the package out as it installs, as a tree of links, for import-linter (``make imports``).

import-linter reads a package from the folder its name imports from. langgan_bench's import names span three
folders (pyproject.toml's ``package-dir``: ``langgan_bench.models`` is ``models/``, not ``benchmark/models``), so
it is given a folder where each import name is a link to its real folder, as a wheel would lay them out.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def main(out: Path) -> None:
    folders = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    shutil.rmtree(out, ignore_errors=True)
    for name, folder in sorted(folders.items()):
        target = out.joinpath(*name.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for entry in sorted((ROOT / folder).iterdir()):
            if entry.name == "__pycache__" or f"{name}.{entry.name}" in folders:
                continue  # a subpackage mapped to a folder of its own is linked from there
            (target / entry.name).symlink_to(entry)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
