"""Models from outside the repo: ``--model package.module:ClassName`` and installed packages' entry points."""

from __future__ import annotations

import csv
import json
import pickle
from importlib.metadata import EntryPoint

import pytest

from langgan_bench import cli
from langgan_bench.core.config import RunConfig
from langgan_bench.core.errors import UserError
from langgan_bench.harness import grid, runner
from langgan_bench.models import MODELS, plugins, resolve_model

from .conftest import registry_kept
from .plugin_model import PluginMLE

SPEC = "tests.plugin_model:PluginMLE"
# one epoch of 8 steps at one temperature: the cheapest real run
SHORT = ("--temperatures", "1.0", "--set", "training.max_epochs=1", "--set", "training.batch_size=250")


def main(*argv: str) -> int:
    try:
        return cli.main(list(argv))
    except SystemExit as e:
        return int(e.code or 0)


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """Every test starts with only the built-in models and entry points not loaded yet, and leaves it so."""
    monkeypatch.setattr(MODELS, "_loaded", False)
    monkeypatch.setattr(plugins, "entry_points", lambda: [])
    with registry_kept():
        MODELS._items = {n: c for n, c in MODELS._items.items() if n not in plugins.SOURCES}
        MODELS._broken.clear()
        plugins.SOURCES.clear()
        yield


def fake_entry_points(monkeypatch, **eps: str) -> None:
    found = [EntryPoint(name=n, value=v, group=plugins.ENTRY_POINT_GROUP) for n, v in eps.items()]
    monkeypatch.setattr(plugins, "entry_points", lambda: found)


def test_a_model_class_from_a_module_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "results"
    code = main("run", "--model", SPEC, "--dataset", "oracle", "--profile", "tiny", *SHORT, "--out", str(out))
    assert code == 0, capsys.readouterr().err
    (run_dir,) = (out / "runs").iterdir()
    assert run_dir.name.startswith("oracle-plugin_mle-tiny-s0-")
    with open(run_dir / "rows.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # the oracle's floor is a reference row; --set overrides label the model, as for a built-in
    assert {r["model"] for r in rows} == {"plugin_mle[training.max_epochs=1,training.batch_size=250]", "oracle"}
    assert {r["run_id"] for r in rows} == {run_dir.name}
    config = json.loads((run_dir / "config.json").read_text())
    assert config["run"]["model"] == "plugin_mle" and config["model_source"] == f"plugin: {SPEC}"
    assert config["status"] == "complete"
    # the same class by its spec again finds the same run (and so --resume works from the same command)
    assert main("run", "--model", SPEC, "--dataset", "oracle", "--profile", "tiny", *SHORT, "--out", str(out)) == 0
    assert [p.name for p in (out / "runs").iterdir()] == [run_dir.name]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tests.no_such_module:X", "cannot import tests.no_such_module (ModuleNotFoundError"),
        ("tests.plugin_model:Nope", "module tests.plugin_model has no attribute 'Nope'"),
        ("tests.plugin_model:NOT_A_MODEL", "is not a subclass of langgan_bench.models.training.base.Model"),
        ("tests.plugin_model:Unnamed", "its name 'mle' clashes with the built-in model"),
        ("tests.plugin_model:BadName", "has no usable `name` ('../escape')"),
        ("tests.plugin_model:", "expected package.module:ClassName"),
        ("tests.plugin-model:PluginMLE", "expected package.module:ClassName"),
        ("langgan_bench.models.training.base:Model", "is abstract"),
    ],
)
def test_bad_specs_are_one_line_and_exit_2(spec, message, tmp_path, capsys):
    out = tmp_path / "results"
    assert main("run", "--model", spec, "--dataset", "oracle", "--profile", "tiny", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("langgan-bench: error: ") and message in err
    assert not out.exists()
    # bench refuses the same before any cell runs
    assert main("bench", "--models", f"mle,{spec}", "--datasets", "oracle", "--out", str(out)) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_a_missing_profile_is_one_line(tmp_path, capsys):
    out = tmp_path / "results"
    assert main("run", "--model", SPEC, "--dataset", "oracle", "--profile", "small", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "model 'plugin_mle' has no profile 'small' (it has: tiny)" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_list_models_marks_plugins(capsys):
    resolve_model(SPEC)
    assert main("list", "models") == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "built-in" not in lines["mle"] and "(plugin:" not in lines["mle"]
    assert lines["plugin_mle"].endswith(f"MLE, as a plugin would ship it (tiny profile only). (plugin: {SPEC})")


def test_entry_points_are_registered_lazily(monkeypatch, capsys):
    fake_entry_points(monkeypatch, plugin_mle=SPEC)
    assert "plugin_mle" not in MODELS._items  # nothing loaded at import
    MODELS.get("mle")  # a built-in lookup does not load plugins either
    assert not MODELS._loaded
    assert resolve_model("plugin_mle") is PluginMLE
    assert main("list", "models") == 0
    assert f"(plugin: {SPEC})" in capsys.readouterr().out
    # the spec of the same class is the same model, not a clash
    assert resolve_model(SPEC) is PluginMLE


def test_broken_entry_points_are_listed_and_refused_with_one_line(monkeypatch, tmp_path, capsys):
    fake_entry_points(
        monkeypatch,
        gone="tests.no_such_module:X",
        mle="tests.plugin_model:Unnamed",  # a plugin cannot replace a built-in
        other_name=SPEC,  # the entry point's name must be the class's
    )
    assert main("list", "models") == 0
    out = capsys.readouterr().out
    assert "gone" in out and "cannot be used: model 'gone' (plugin: tests.no_such_module:X) cannot be loaded" in out
    assert "clashes with the built-in model" in out and "differs from the class's name 'plugin_mle'" in out
    assert MODELS.get("mle").__module__ == "langgan_bench.models.mle"  # the built-in still works
    run = ("run", "--dataset", "oracle", "--profile", "tiny", "--out", str(tmp_path / "r"))
    assert main(*run, "--model", "gone") == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "ModuleNotFoundError" in err
    assert main(*run, "--model", "nothing") == 2
    assert "unknown model 'nothing'" in capsys.readouterr().err


def test_a_spec_clashing_with_an_entry_point_is_refused(monkeypatch):
    fake_entry_points(monkeypatch, plugin_mle=SPEC)

    class Other(PluginMLE):
        """Another class under the same name."""

    monkeypatch.setattr("tests.plugin_model.Other", Other, raising=False)
    with pytest.raises(UserError, match=r"its name 'plugin_mle' clashes with the model from plugin: tests\.plugin"):
        resolve_model("tests.plugin_model:Other")


def test_the_grid_keeps_the_spec_for_the_worker_and_names_cells_by_the_class(monkeypatch, tmp_path):
    base = RunConfig(model="", dataset="", profile="tiny", out=str(tmp_path))
    (cell,) = grid.grid(base, (SPEC,), ("oracle",), (0,))
    assert cell.model == SPEC  # what a Dask worker receives (pickled), to import there
    cell = pickle.loads(pickle.dumps(cell))
    seen: list[RunConfig] = []

    class Outcome:
        status, run_id = "complete", "oracle-plugin_mle-tiny-s0-x"

    def fake_run(cfg: RunConfig, log: object = None) -> Outcome:
        seen.append(cfg)
        return Outcome()

    monkeypatch.setattr(runner, "run", fake_run)
    outcome = grid.run_cell(cell)
    assert outcome.status == "complete" and outcome.model == "plugin_mle"
    assert seen[0].model == "plugin_mle" and MODELS.get("plugin_mle") is PluginMLE
    bad = grid.run_cell(grid.grid(base, ("tests.plugin_model:Nope",), ("oracle",), (0,))[0])
    assert bad.status == "failed" and "has no attribute 'Nope'" in bad.error
