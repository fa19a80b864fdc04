"""Results folders made of analytic curves (no training): for the verdicts, the statistics and the report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from langgan_bench.analysis.rows import ROWS_FILE, RUNS_DIR, ResultRow, write_rows

GRID = (0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0)
Curve = Callable[[float, int], dict[str, float]]  # (temperature, seed) -> {metric: value}


def nll_curve(shift: float = 1.0, worse: float = 0.0, noise: float = 0.0) -> Curve:
    """A synthetic model: NLL_oracle rises with T; NLL_test is U-shaped with its minimum at T = 1 / shift.

    ``shift`` plays MLE at temperature shift·T; ``worse`` adds to the quality axis; ``noise`` is a per-seed
    offset (-1, 0, +1 times it for seeds 0, 1, 2) on the quality axis.
    """

    def curve(t: float, seed: int) -> dict[str, float]:
        u = shift * t
        return {"nll_oracle": 6.0 + 3.0 * u * u + worse + noise * (seed - 1), "nll_test": 7.0 + 2.0 * (u - 1) ** 2}

    return curve


def write_run(
    out: Path,
    model: str,
    seed: int,
    curve: Curve | None,
    dataset: str = "oracle",
    profile: str = "tiny",
    temperatures: Sequence[float] = GRID,
    signatures: dict[str, str] | None = None,
    diverged_at: int | None = None,
    timestamp: str = "2026-01-01T00:00:00+00:00",
    decoders: dict[str, tuple[Sequence[float], Curve]] | None = None,
) -> Path:
    """One run's rows.csv; ``curve=None`` with ``diverged_at`` writes a diverged run. ``decoders``: other
    decoders' points, ``{decoder: (knobs, curve)}``, ``curve(knob, seed)`` their metrics."""
    run_id = f"{dataset}-{model}-{profile}-s{seed}-fake"
    sigs = signatures or {}

    def row(t: float, metric: str, value: float, sig: str | None = None) -> ResultRow:
        sig = sig or sigs.get(metric, f"{metric}|fake|v:0")
        return ResultRow(run_id, dataset, model, seed, profile, t, metric, value, sig, 100, "abc", "0.1.0", timestamp)

    rows = []
    if diverged_at is not None:
        rows.append(row(float("nan"), "diverged_at_step", float(diverged_at), "diverged|reason:nan"))
    else:
        assert curve is not None
        rows += [row(t, m, v) for t in temperatures for m, v in curve(t, seed).items()]
        nan = float("nan")
        for decoder, (knobs, decoder_curve) in (decoders or {}).items():
            for k in knobs:
                for m, v in decoder_curve(k, seed).items():
                    sig = sigs.get(m, f"{m}|fake|v:0")
                    common = (run_id, dataset, model, seed, profile, nan, m, v, sig, 100, "abc", "0.1.0", timestamp)
                    rows.append(ResultRow(*common, decoder, k))
    path = out / RUNS_DIR / run_id / ROWS_FILE
    write_rows(path, rows)
    return path


def gan_history(seed: int = 0) -> tuple[list[dict], list[dict]]:
    """A known GAN training history (as the template stores it) and its phase records: three MLE epochs of 10
    steps, one discriminator round, four adversarial epochs of 10 steps; values shifted by ``seed``/100."""
    s = seed / 100
    history: list[dict] = [
        {"epoch": e, "step": 10 * e, "train_nll": 3.0 - 0.5 * e + s, "valid_nll": 3.1 - 0.4 * e + s, "phase": "mle"}
        for e in (1, 2, 3)
    ]
    history.append({"phase": "discriminator", "round": 1, "step": 40, "d_loss": 0.6 + s, "sample_log_prob": -2.0,
                    "distinct": 1.0, "d_acc_real": 0.75, "d_acc_fake": 0.5})  # fmt: skip
    for e in (1, 2, 3, 4):
        history.append(
            {
                "phase": "adversarial",
                "epoch": e,
                "step": 40 + 10 * e,
                "reward": 0.5 + 0.05 * e + s,
                "reward_std": 0.1 / e,
                "d_loss": 0.6 - 0.1 * e,
                "sample_log_prob": -2.0 + 0.25 * e,
                "distinct": 1.0 - 0.2 * e,
                "d_acc_real": 0.8 + 0.05 * e,
                "d_acc_fake": 0.5 + 0.1 * e,
            }
        )
    phases = [
        {"phase": "gan-mle-pretrain", "kind": "mle", "seconds": 3.0 + seed, "first_step": 0, "last_step": 30},
        {"phase": "gan-d-pretrain", "kind": "discriminator", "seconds": 1.5, "first_step": 30, "last_step": 40},
        {"phase": "gan-adversarial", "kind": "adversarial", "seconds": 6.0, "first_step": 40, "last_step": 80},
    ]
    return history, phases


def mle_history(seed: int = 0) -> tuple[list[dict], list[dict]]:
    """A known MLE history: four epochs of 10 steps."""
    history = [
        {
            "epoch": e,
            "step": 10 * e,
            "train_nll": 3.0 - 0.3 * e,
            "valid_nll": 3.05 - 0.25 * e + seed / 100,
            "phase": "mle",
        }
        for e in (1, 2, 3, 4)
    ]
    return history, [{"phase": "mle", "kind": "mle", "seconds": 4.0, "first_step": 0, "last_step": 40}]


def write_record(
    out: Path,
    model: str,
    seed: int,
    history: list[dict] | None,
    phases: list[dict] | None = None,
    dataset: str = "oracle",
    profile: str = "tiny",
    status: str = "complete",
    diverged: dict | None = None,
    run_id: str | None = None,
) -> Path:
    """A run's config.json as the runner writes it, with ``history`` (None: a record without training)."""
    import json

    run_id = run_id or f"{dataset}-{model}-{profile}-s{seed}-fake"
    record: dict = {
        "run_id": run_id,
        "status": status,
        "run": {"model": model, "dataset": dataset, "profile": profile, "seed": seed, "overrides": []},
        "device": "cpu",
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:00:12+00:00",
    }
    if history is not None:
        record["training"] = {"history": history, "phases": phases or [], "train_seconds": 10.5}
    if diverged is not None:
        record["diverged"] = diverged
    path = out / RUNS_DIR / run_id / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path
