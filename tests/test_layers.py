"""What the layers promise at run time (the import contracts, checked statically by `make imports`, cannot see
an import at run time): the command line answers without torch until a command needs it, the analysis never
loads it, and importing the package changes nothing in the process."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10 (the dev extra installs tomli there)
    import tomli as tomllib

from .conftest import REPO

HEAVY = ("torch", "numpy", "pandas", "scipy", "matplotlib", "sentence_transformers")


def _loaded_after(code: str, printed: list[str] | None = None) -> dict:
    """Run ``code`` in a fresh interpreter; what it loaded of HEAVY and what it changed, as JSON (and what it
    printed before, into ``printed``)."""
    probe = f"""
import json, logging, os, sys
before = dict(os.environ)
{code}
import langgan_bench.core.memory as memory
print(json.dumps({{
    "loaded": [m for m in {HEAVY!r} if m in sys.modules],
    "malloc": memory.status,
    "handlers": len(logging.getLogger("langgan_bench").handlers),
    "environ": sorted(k for k in os.environ if os.environ.get(k) != before.get(k)),
}}))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    if printed is not None:
        printed[:] = lines[:-1]
    return json.loads(lines[-1])


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["list", "models"], ["list", "metrics"], ["list", "datasets"], ["list", "profiles"],
     ["run", "--bogus"], ["run", "--model", "nope", "--dataset", "oracle"], ["data", "info", "nope"],
     ["run", "--model", "mle", "--dataset", "oracle", "--temperatures", "-1"]],
)  # fmt: skip
def test_the_command_line_answers_without_torch(argv):
    state = _loaded_after(f"from langgan_bench.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass")
    assert "torch" not in state["loaded"], state


def test_data_info_is_cached_and_then_answers_without_torch(data_dir):
    code = f"from langgan_bench.cli import main\nmain(['data', 'info', 'coco', '--data-dir', {str(data_dir)!r}])"
    built, cached = [], []
    _loaded_after(code, built)  # built and cached (or found in the session's cache already)
    state = _loaded_after(code, cached)
    assert "torch" not in state["loaded"] and cached == built and any("content_hash" in x for x in cached)


def test_a_synthetic_datasets_information_keeps_its_oracles_nll(tmp_path, monkeypatch):
    """The cached information of a synthetic dataset holds the oracle's NLL of its splits, built once."""
    from langgan_bench import datasets
    from langgan_bench.testing import toy_dataset

    builds = []

    class Oracle:
        def nll(self, tokens):
            return 6.25 if len(tokens) == 50 else 6.5

    def build(folder):
        builds.append(folder)
        return dataclasses.replace(toy_dataset(200), oracle=Oracle())

    spec = datasets.DatasetSpec("toy-oracle", "a toy with an oracle", build, defines=("toy",))
    monkeypatch.setitem(datasets.DATASETS._items, "toy-oracle", spec)
    monkeypatch.setenv("LANGGAN_CACHE", str(tmp_path))
    first, again = datasets.dataset_info("toy-oracle"), datasets.dataset_info("toy-oracle")
    assert first == again and first["oracle_nll"] == {"test": 6.25, "train": 6.5} and len(builds) == 1


def test_the_analysis_loads_no_torch():
    # one interpreter for the analysis's entry modules: a torch import by any of them is seen there
    modules = ", ".join(f"langgan_bench.analysis.{m}" for m in ("report", "site", "verdicts", "training"))
    assert "torch" not in _loaded_after(f"import {modules}")["loaded"]


def test_importing_the_package_changes_nothing():
    state = _loaded_after("import langgan_bench, langgan_bench.models, langgan_bench.metrics, langgan_bench.datasets")
    assert state == {"loaded": [], "malloc": "not run", "handlers": 0, "environ": []}
    fed = _loaded_after("import langgan_bench.metrics.fed, langgan_bench.harness.runner")
    assert (fed["malloc"], fed["handlers"], fed["environ"]) == ("not run", 0, [])


def _package_files() -> list[Path]:
    """Every module file of the package, in each folder pyproject's ``package-dir`` maps a part of it to."""
    folders = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    return sorted({path for folder in folders.values() for path in (REPO / folder).rglob("*.py")})


def _resolves(module: str, name: str | None = None) -> bool:
    """Whether ``import module`` (``name`` None) or ``from module import name`` would succeed."""
    try:
        found = importlib.import_module(module)
        if name is not None and not hasattr(found, name):
            importlib.import_module(f"{module}.{name}")  # a submodule, not an attribute yet
    except ImportError:
        return False
    return True


def test_every_import_of_the_package_resolves_even_inside_a_function():
    """An import inside a function (the CLI's and the perf tools' lazy ones) runs only when its command does:
    a module or name moved in a restructuring leaves it broken where no other test calls it. Each is resolved
    here, statically, by name."""
    broken = []
    files = _package_files()
    assert len(files) > 80 and any(p.parent.name == "models" for p in files)  # the whole package
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                wanted = [(node.module or "", alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                wanted = [(alias.name, None) for alias in node.names]
            else:
                continue
            for module, name in wanted:
                if module.startswith("langgan_bench") and not _resolves(module, name):
                    what = f"no module {module}" if name is None else f"{module} has no {name}"
                    broken.append(f"{path.relative_to(REPO)}:{node.lineno}: {what}")
    assert not broken, "\n".join(broken)
