"""Training curves (analysis/training.py, `langgan-bench show`, the report's section): built from a known stored
history they hold its values, the figure draws them in the model's colour, and the probe the template records
leaves the training alone. No training here: the histories are written by hand (tests/fake_results.py); the
histories real runs store are checked on the GANs' tiny runs (tests/test_gans.py)."""

from __future__ import annotations

import math

import pytest

from langgan_bench.analysis import training
from langgan_bench.analysis.colours import MODEL_COLOURS, OKABE_ITO, model_colour
from langgan_bench.analysis.report import build_report
from langgan_bench.analysis.stats import t_interval
from langgan_bench.analysis.training import curve_frame, phase_frame, phase_summary, read_runs, summary_frame
from tests.conftest import cli_here
from tests.fake_results import GRID, gan_history, mle_history, nll_curve, write_record, write_run


def _runs(tmp_path, seeds=(0, 1)):
    for s in seeds:
        write_run(tmp_path, "mle", s, nll_curve(), temperatures=GRID)
        write_run(tmp_path, "seqgan", s, nll_curve(worse=0.3))
        write_record(tmp_path, "mle", s, *mle_history(s))
        write_record(tmp_path, "seqgan", s, *gan_history(s))
    return [f"oracle-{m}-tiny-s{s}-fake" for m in ("mle", "seqgan") for s in seeds]


def test_curves_from_a_known_history_hold_its_values(tmp_path):
    ids = _runs(tmp_path)
    runs = read_runs(tmp_path, ids)
    assert [(r.model, r.seed, r.status) for r in runs] == [
        ("mle", 0, "complete"), ("mle", 1, "complete"), ("seqgan", 0, "complete"), ("seqgan", 1, "complete")
    ]  # fmt: skip
    curves = curve_frame(runs)
    gan1 = curves[curves.run_id == "oracle-seqgan-tiny-s1-fake"]

    def series(q):
        s = gan1[gan1.quantity == q].sort_values("step")
        return [x for pair in zip(s.step, s.value, strict=True) for x in pair]  # step, value, step, value...

    assert series("valid_nll") == pytest.approx([10, 2.71, 20, 2.31, 30, 1.91])
    assert series("train_nll") == pytest.approx([10, 2.51, 20, 2.01, 30, 1.51])
    assert series("d_loss") == pytest.approx([40, 0.61, 50, 0.5, 60, 0.4, 70, 0.3, 80, 0.2])
    assert series("reward") == pytest.approx([50, 0.56, 60, 0.61, 70, 0.66, 80, 0.71])
    assert series("distinct") == pytest.approx([40, 1.0, 50, 0.8, 60, 0.6, 70, 0.4, 80, 0.2])
    assert set(gan1[gan1.step == 40].phase) == {"discriminator"}
    assert not ({"epoch", "round", "step", "phase"} & set(curves.quantity))  # positions are not quantities
    assert curves.by_step.all()

    summary = summary_frame(gan1).set_index("quantity")
    assert list(summary.index[:3]) == ["train_nll", "valid_nll", "d_loss"]  # in the order of QUANTITIES
    d = summary.loc["d_loss"]
    assert (d.entries, d["first"], d["last"], d["min"], d["min at step"], d["max at step"]) == pytest.approx(
        (5, 0.61, 0.2, 0.2, 80, 40)
    )

    phases = phase_frame(runs)
    gan_phases = phases[phases.run_id == "oracle-seqgan-tiny-s1-fake"]
    assert list(gan_phases.phase) == ["gan-mle-pretrain", "gan-d-pretrain", "gan-adversarial"]
    assert list(gan_phases.steps) == [30, 10, 40] and list(gan_phases.seconds) == [4.0, 1.5, 6.0]
    table = phase_summary(phases).set_index(["model", "phase"])
    assert table.loc[("seqgan", "gan-mle-pretrain"), "seconds"] == pytest.approx(3.5)  # mean of 3 and 4 s
    assert table.loc[("seqgan", "gan-mle-pretrain"), "seeds"] == 2
    assert table.loc[("seqgan", "gan-mle-pretrain"), "half_width"] == pytest.approx(t_interval([3.0, 4.0]).half_width)
    assert list(table.loc["seqgan"].index) == ["gan-mle-pretrain", "gan-d-pretrain", "gan-adversarial"]


def test_a_history_without_steps_is_drawn_by_entry(tmp_path):
    old = [{"epoch": 1, "train_nll": 3.0, "valid_nll": 3.1}, {"phase": "adversarial", "epoch": 1, "reward": 0.5}]
    write_record(tmp_path, "seqgan", 0, old)
    curves = curve_frame(read_runs(tmp_path, ["oracle-seqgan-tiny-s0-fake"]))
    assert not curves.by_step.any()
    assert sorted(zip(curves.quantity, curves.step, strict=True)) == [("reward", 2), ("train_nll", 1), ("valid_nll", 1)]
    assert set(curves[curves.quantity == "train_nll"].phase) == {"mle"}  # an older MLE entry has no phase


def test_the_figure_draws_the_known_values_in_each_models_colour(tmp_path, monkeypatch):
    ids = _runs(tmp_path)
    runs = read_runs(tmp_path, ids)
    write_record(tmp_path, "rankgan", 0, *gan_history(0), status="diverged", diverged={"step": 65, "reason": "nan"})
    runs += read_runs(tmp_path, ["oracle-rankgan-tiny-s0-fake"])
    figures = []
    monkeypatch.setattr(training, "_save", lambda fig, path: figures.append(fig))
    training.draw_training(curve_frame(runs), runs, "oracle (tiny): training curves", tmp_path / "t.png")
    (fig,) = figures
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 3 * 6  # a row per model (mle, rankgan, seqgan), a column per quantity
    titles = [" ".join(ax.get_title().split()) for ax in axes[:6]]  # the units wrap to the column
    assert titles[0].startswith("generator NLL") and "lower is better" in titles[0]
    assert "0.5 = chance" in titles[2] and "collapse" in titles[5]
    assert [ax.get_ylabel() for ax in axes[::6]] == ["mle", "rankgan", "seqgan"]
    seqgan_nll = axes[12]
    lines = {
        (round(min(line.get_xdata()), 3), line.get_linestyle(), line.get_alpha()): line
        for line in seqgan_nll.lines
        if len(line.get_xdata()) > 1
    }
    valid_seed1 = lines[(10.0, "--", 1.0)]  # seed 1: the second line style; validation: full strength
    assert list(valid_seed1.get_ydata()) == pytest.approx([2.71, 2.31, 1.91])
    assert valid_seed1.get_color() == MODEL_COLOURS["seqgan"]
    assert lines[(10.0, "-", 0.45)].get_ydata()[0] == pytest.approx(2.5)  # seed 0's training NLL, faint
    distinct = axes[12 + 5]
    seed0 = next(list(line.get_ydata()) for line in distinct.lines if line.get_linestyle() == "-")
    assert seed0 == pytest.approx([100, 80, 60, 40, 20])  # shares in per cent
    rankgan_reward = axes[6 + 3]
    assert any(list(line.get_xdata()) == [65, 65] for line in rankgan_reward.lines)  # divergence marked
    mle_reward = axes[3]
    assert [t.get_text() for t in mle_reward.texts] == ["not recorded"]
    chance = [line for line in axes[2 + 12].lines if list(line.get_ydata()) == [0.5, 0.5]]
    assert chance  # the accuracy panel's chance line


def test_one_model_one_colour_everywhere():
    assert model_colour("mle") == OKABE_ITO["orange"] and model_colour("seqgan") == OKABE_ITO["blue"]
    assert len(set(MODEL_COLOURS.values())) == len(MODEL_COLOURS)
    assert model_colour("my_pkg.gan:Gan") == model_colour("my_pkg.gan:Gan")  # stable for other labels
    assert model_colour("my_pkg.gan:Gan") not in MODEL_COLOURS.values()


def test_show_prints_a_summary_and_writes_the_figure_beside_the_run(tmp_path):
    _runs(tmp_path, seeds=(0,))
    proc = cli_here("show", "oracle-seqgan-tiny-s0", "--results", str(tmp_path))  # a unique prefix will do
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "run oracle-seqgan-tiny-s0-fake: seqgan on oracle (tiny), seed 0, complete, trained in 10.5s" in out
    assert "gan-d-pretrain" in out and "discriminator" in out
    reward = next(line.split() for line in out.splitlines() if line.strip().startswith("reward "))
    assert reward[1:] == ["4", "0.5500", "0.7000", "0.5500", "50", "0.7000", "80"]
    figure = tmp_path / "runs" / "oracle-seqgan-tiny-s0-fake" / "training.png"
    assert f"wrote {figure}" in out and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("setup", "run_id", "message"),
    [
        ("none", "nope", "no run 'nope' under"),
        ("two", "oracle-", "run id 'oracle-' is ambiguous"),
        ("running", "oracle-seqgan", "has no training history: it is still training"),
        ("bad", "../x", "'../x' is not a run id"),
    ],
)
def test_show_refuses_with_one_line(setup, run_id, message, tmp_path):
    (tmp_path / "runs").mkdir()
    if setup == "two":
        _runs(tmp_path, seeds=(0,))
    if setup == "running":
        write_record(tmp_path, "seqgan", 0, None, status="running")
    proc = cli_here("show", run_id, "--results", str(tmp_path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("langgan-bench: error: ") and message in proc.stderr
    assert not list(tmp_path.rglob("*.png"))


def test_the_report_shows_the_training_curves_and_the_time_per_phase(tmp_path):
    _runs(tmp_path)
    names = {p.name for p in build_report(tmp_path)}
    assert "oracle-tiny-training.png" in names
    md = (tmp_path / "report" / "report.md").read_text()
    assert "### Training curves" in md and "![Training curves of mle, seqgan (seeds 0, 1)" in md
    row = next(line for line in md.splitlines() if line.startswith("| seqgan | gan-mle-pretrain |"))
    assert row.split(" | ")[2:5] == ["mle", "2", "30"]
    assert "3.5 ± " in row  # mean of 3 s and 4 s, with its interval
    html = (tmp_path / "report" / "report.html").read_text()
    assert "alt='Training curves of mle, seqgan" in html


def test_the_probe_changes_no_weight_and_no_random_state():
    import torch

    from langgan_bench.models import MODELS
    from langgan_bench.models.training.base import TrainContext
    from langgan_bench.testing import CPU, build, toy_dataset, weights

    ds = toy_dataset(200)
    for name in ("seqgan", "rankgan"):  # a classifier and a ranker
        model = build(MODELS.get(name), ds, seed=0)
        before, rng = {k: v.clone() for k, v in weights(model).items()}, torch.get_rng_state()
        ctx = TrainContext(device=CPU, seed=0)
        a, b = model.probe(ctx, "adversarial", 0), model.probe(ctx, "adversarial", 0)
        assert a == b and torch.equal(torch.get_rng_state(), rng), name
        assert all(torch.equal(v, before[k]) for k, v in weights(model).items()), name
        assert -math.inf < a["sample_log_prob"] < 0 and 0 < a["distinct"] <= 1, name
        accuracy = {k for k in a if k.startswith("d_acc")}
        assert accuracy == ({"d_acc_pairs"} if name == "rankgan" else {"d_acc_real", "d_acc_fake"}), name
        assert all(0 <= a[k] <= 1 for k in accuracy), name
        assert model.probe(ctx, "adversarial", 1) != a  # another key: another batch
