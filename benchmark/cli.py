"""The ``langgan-bench`` command line. Bad input ends with one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from langgan_bench import __version__
from langgan_bench.errors import Interrupted, UserError
from langgan_bench.leaderboard import DEFAULT_DATASETS, DEFAULT_MODELS, DEFAULT_SEEDS

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="langgan-bench", description="Train and score language GANs on standard benchmarks.")
    p.add_argument("--version", action="version", version=f"langgan-bench {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ls = sub.add_parser("list", help="what is registered")
    ls.add_argument("what", choices=["models", "datasets", "metrics", "profiles"])

    data = sub.add_parser("data", help="dataset information and downloads")
    data.add_argument("action", choices=["info", "fetch"])
    data.add_argument("name", help="dataset name (see `langgan-bench list datasets`)")
    data.add_argument("--data-dir", help="a local folder laid out like shared/data (default: $LANGGAN_DATA)")

    r = sub.add_parser("run", help="train one model on one dataset and score it over a temperature sweep")
    r.add_argument("--model", required=True)
    r.add_argument("--dataset", required=True)
    r.add_argument("--profile", default="small", help="tiny | small | paper (default: small)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--temperatures", help="comma-separated, e.g. 0,0.5,1.0 (0 = greedy; default: the profile's)")
    r.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda")
    r.add_argument("--out", default="results", help="results folder (default: results)")
    r.add_argument("--resume", action="store_true", help="continue an interrupted run of the same command")
    r.add_argument("--data-dir", help="a local folder laid out like shared/data (default: $LANGGAN_DATA)")
    r.add_argument(
        "--checkpoint-every",
        type=float,
        default=180.0,
        metavar="SECONDS",
        help="checkpoint cadence during training (default: 180; also at every epoch end)",
    )
    r.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a model setting, e.g. --set training.lr=0.001 (repeatable)",
    )

    b = sub.add_parser("bench", help="the default leaderboard: every model on every dataset, then the report")
    b.add_argument("--models", default=",".join(DEFAULT_MODELS))
    b.add_argument("--datasets", default=",".join(DEFAULT_DATASETS))
    b.add_argument("--profile", default="small")
    b.add_argument("--temperatures", help="comma-separated (default: the profile's grid, MLE's extended)")
    b.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)), help="comma-separated (default: 0,1,2)")
    b.add_argument("--device", default="auto")
    b.add_argument("--out", default="results")
    b.add_argument("--data-dir", help="a local folder laid out like shared/data (default: $LANGGAN_DATA)")
    b.add_argument("--fresh", action="store_true", help="recompute finished runs instead of reusing them")
    b.add_argument("--executor", choices=["local", "dask"], default="local", help="where cells run (default: local)")
    b.add_argument("--workers", type=int, default=2, help="dask: LocalCluster worker processes (default: 2)")
    b.add_argument("--threads-per-worker", type=int, default=1, help="dask: torch threads per worker (default: 1)")
    b.add_argument("--scheduler", help="dask: address of a running scheduler, e.g. tcp://host:8786")

    sc = sub.add_parser("score", help="score a file of sentences (one per line) with the exact metrics")
    sc.add_argument("--dataset", required=True, help="whose references, tokenizer and judge LM to use")
    sc.add_argument("--samples", required=True, help="UTF-8 text file, one sentence per line")
    sc.add_argument("--metrics", help="comma-separated (default: every metric that can score a file)")
    sc.add_argument("--profile", default="small", help="sizes of references and judge LM (default: small)")
    sc.add_argument("--seed", type=int, default=0, help="seed of the reverse LM's training")
    sc.add_argument("--device", default="auto")
    sc.add_argument("--data-dir", help="a local folder laid out like shared/data (default: $LANGGAN_DATA)")
    sc.add_argument("--json", action="store_true", help="print the rows as JSON on stdout")

    perf = sub.add_parser("perf", help="speed figures against peers measured in the same run (make perf)")
    perf.add_argument("--data-dir", help="a local folder laid out like shared/data (default: $LANGGAN_DATA)")

    rep = sub.add_parser("report", help="rebuild tables, plots and the report from stored results")
    rep.add_argument("--results", default="results", help="results folder (default: results)")
    rep.add_argument("--out", help="where to write the report (default: RESULTS/report)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # SIGTERM (a scheduler, `kill`, a closing terminal) is handled like Ctrl-C: the run is marked
    # "interrupted" and stays resumable; the exit code is 128 + the signal's number, as a shell reports it
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        return COMMANDS[args.command](args)
    except UserError as e:
        print(f"langgan-bench: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:
        signum = e.signum if isinstance(e, Interrupted) else signal.SIGINT
        hint = "; continue with the same command and --resume" if args.command in ("run", "bench") else ""
        print(f"langgan-bench: interrupted by {signal.Signals(signum).name}{hint}", file=sys.stderr)
        return 128 + signum
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "models":
        from langgan_bench.models import MODELS

        items = [(n, (MODELS.get(n).__doc__ or "").strip().splitlines()[0]) for n in MODELS]
    elif args.what == "datasets":
        from langgan_bench.datasets import DATASETS

        items = [(n, DATASETS.get(n).description) for n in DATASETS]
    elif args.what == "metrics":
        from langgan_bench.metrics import METRICS

        items = []
        for n in METRICS:
            m = METRICS.get(n)
            scope = {
                (): "any dataset",
                ("oracle",): "synthetic only",
                ("text",): "real text only",
                ("generator",): "needs the model, not just samples",
            }.get(m.requires, "+".join(m.requires))
            items.append(
                (n, f"{m.kind}, {'lower' if m.lower_is_better else 'higher'} is better, {scope}: {m.description}")
            )
    else:
        from langgan_bench.profiles import PROFILES

        items = [(n, PROFILES.get(n).description) for n in PROFILES]
    width = max(len(n) for n, _ in items)
    for name, text in items:
        print(f"{name:<{width}}  {text}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from langgan_bench.datasets import load_dataset

    ds = load_dataset(args.name, args.data_dir)
    if args.action == "fetch":
        print(
            f"{ds.name}: ready ({len(ds.train)} train, {len(ds.valid)} valid, {len(ds.test)} test; "
            f"content hash {ds.short_hash})"
        )
        return 0
    for key, value in ds.info().items():
        print(f"{key:<14} {value}")
    if ds.oracle is not None:
        print(
            f"{'oracle NLL':<14} {ds.oracle.nll(ds.test):.4f} nats/token on the test split "
            f"(the floor NLL_test can approach); {ds.oracle.nll(ds.train):.4f} on train"
        )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from langgan_bench.config import RunConfig, parse_temperatures
    from langgan_bench.runner import run

    cfg = RunConfig(
        model=args.model,
        dataset=args.dataset,
        profile=args.profile,
        seed=args.seed,
        temperatures=parse_temperatures(args.temperatures) if args.temperatures is not None else None,
        device=args.device,
        out=args.out,
        resume=args.resume,
        data_dir=args.data_dir,
        checkpoint_every_s=args.checkpoint_every,
        overrides=tuple(args.overrides),
    )
    outcome = run(cfg)
    print(f"run {outcome.run_id}: {outcome.status}")
    print(format_table(outcome.rows))
    print("wrote:")
    for path in outcome.files:
        print(f"  {path}")
    return 0


def format_table(rows: list) -> str:
    """A small text table: one line per (model, temperature), one column per metric."""
    metrics = sorted({r.metric for r in rows})
    table: dict[tuple[str, float], dict[str, float]] = {}
    for r in rows:
        table.setdefault((r.model, r.temperature), {})[r.metric] = r.value
    header = ["model", "T", *metrics]
    lines = [header]
    for (model, t), vals in table.items():
        shown_t = "-" if math.isnan(t) else f"{t:g}"
        lines.append([model, shown_t, *(f"{vals[m]:.4f}" if m in vals else "" for m in metrics)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in lines)


def cmd_bench(args: argparse.Namespace) -> int:
    from langgan_bench.config import RunConfig, check_seed, parse_temperatures
    from langgan_bench.leaderboard import Executor, bench

    def names(text: str) -> tuple[str, ...]:
        return tuple(x.strip() for x in text.split(",") if x.strip())

    try:
        seeds = tuple(check_seed(int(x), "--seeds") for x in names(args.seeds))
    except ValueError:
        raise UserError(f"--seeds {args.seeds!r}: expected integers, e.g. 0,1,2") from None
    for flag, given in (("--models", names(args.models)), ("--datasets", names(args.datasets)), ("--seeds", seeds)):
        if not given:
            raise UserError(f"{flag} needs at least one value")
    if args.workers < 1 or args.threads_per_worker < 1:
        raise UserError("--workers and --threads-per-worker must be at least 1")
    if args.executor != "dask" and (args.scheduler or args.workers != 2 or args.threads_per_worker != 1):
        raise UserError("--workers, --threads-per-worker and --scheduler go with --executor dask")
    base = RunConfig(
        model="",
        dataset="",
        profile=args.profile,
        temperatures=parse_temperatures(args.temperatures) if args.temperatures is not None else None,
        device=args.device,
        out=args.out,
        resume=not args.fresh,
        data_dir=args.data_dir,
    )
    _check_names(names(args.models), names(args.datasets), args.profile)
    executor = Executor(args.executor, args.workers, args.threads_per_worker, args.scheduler)
    cells, report = bench(base, names(args.models), names(args.datasets), seeds, executor)
    print(f"{'dataset':<12}{'model':<12}{'seed':>5}  {'status':<10}{'wall':>8}  reason")
    for c in cells:
        print(f"{c.dataset:<12}{c.model:<12}{c.seed:>5}  {c.status:<10}{c.seconds:>7.0f}s  {c.error}")
    if report:
        print("report:")
        for path in report:
            print(f"  {path}")
    failed = sum(c.status == "failed" for c in cells)
    if failed:
        print(f"langgan-bench: {failed} of {len(cells)} cells failed (see above and the report)", file=sys.stderr)
        return 1
    return 0


def _check_names(models: tuple[str, ...], datasets: tuple[str, ...], profile: str) -> None:
    """Fail before hours of work, not in the middle: every name must exist."""
    from langgan_bench.datasets import DATASETS
    from langgan_bench.models import MODELS
    from langgan_bench.profiles import PROFILES

    PROFILES.get(profile)
    for m in models:
        MODELS.get(m)
    for d in datasets:
        DATASETS.get(d)


def cmd_score(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from langgan_bench.config import check_seed, resolve_device
    from langgan_bench.score import score_file

    metrics = None
    if args.metrics is not None:
        metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
        if not metrics:  # "--metrics ," or "--metrics ''" would otherwise silently mean every metric
            raise UserError(f"--metrics {args.metrics!r}: name at least one metric (see `langgan-bench list metrics`)")
    check_seed(args.seed)
    values = score_file(
        args.dataset,
        Path(args.samples),
        metrics,
        args.profile,
        args.data_dir,
        resolve_device(args.device).type,
        args.seed,
    )
    if args.json:
        print(json.dumps([asdict(v) for v in values], indent=2))
        return 0
    width = max(len(v.metric) for v in values)
    for v in values:
        print(f"{v.metric:<{width}}  {v.value:.6f}  {v.signature}")
    return 0


def cmd_perf(args: argparse.Namespace) -> int:
    from langgan_bench.perf import main as perf_main

    for line in perf_main(args.data_dir, lambda msg: print(f"... {msg}", file=sys.stderr, flush=True)):
        print(line)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from langgan_bench.report import build_report

    for path in build_report(Path(args.results), Path(args.out) if args.out else None):
        print(path)
    return 0


COMMANDS = {
    "list": cmd_list,
    "data": cmd_data,
    "run": cmd_run,
    "bench": cmd_bench,
    "score": cmd_score,
    "perf": cmd_perf,
    "report": cmd_report,
}


if __name__ == "__main__":
    sys.exit(main())
