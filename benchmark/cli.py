"""The ``langgan-bench`` command line (click). Bad input ends with one line on stderr and exit code 2.

Click only parses: each subcommand's callback returns what to run, and ``main`` runs it, so that Ctrl-C and
SIGTERM (exit 130 / 143, the run left resumable) and UserError (one line, exit 2) are handled in one place,
outside click's own KeyboardInterrupt handling. Parse errors are reworded the way argparse said them before.
Shell completion is click's: ``eval "$(_LANGGAN_BENCH_COMPLETE=bash_source langgan-bench)"``.

``main`` is the entry point, so the process-wide set-up happens here and not at import: glibc's allocator
(``core/memory.py``), the log lines' format and level (``-q`` / ``-v``, ``core/log.py``). Nothing at the top
of this module imports torch: ``--help``, ``list``, completion and argument errors answer before any
command that needs it imports it.
"""

from __future__ import annotations

import logging
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import click

from langgan_bench.core import log as logs
from langgan_bench.core.errors import Interrupted, UserError
from langgan_bench.core.memory import tune_malloc
from langgan_bench.core.profiles import DEFAULT_DATASETS, DEFAULT_MODELS, DEFAULT_SEEDS
from langgan_bench.core.version import __version__

EXIT_USAGE = 2
PROG = "langgan-bench"
DATA_DIR_HELP = "a local folder laid out like shared/data (default: $LANGGAN_DATA)"
LOG = logging.getLogger(__name__)
PREFIX = f"{PROG}: "  # the CLI's own status lines (a failed cell, an interruption) carry no "error:"


# --- parsing: click, with argparse's one-line messages ----------------------------------------------------------
class _Int(click.ParamType):
    """``int(text)``, as argparse's ``type=int`` (so "99999999999999999999" parses and is range-checked later)."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            return int(value)
        except (TypeError, ValueError):
            self.fail(f"invalid int value: {value!r}", param, ctx)


class _Float(click.ParamType):
    """``float(text)``, as argparse's ``type=float`` (nan and inf parse; the command checks the range)."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            return float(value)
        except (TypeError, ValueError):
            self.fail(f"invalid float value: {value!r}", param, ctx)


class _Choice(click.Choice):
    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value in self.choices:
            return value
        choices = ", ".join(repr(c) for c in self.choices)
        self.fail(f"invalid choice: {value!r} (choose from {choices})", param, ctx)


def _expand_abbreviations(command: click.Command, ctx: click.Context, args: list[str]) -> list[str]:
    """argparse accepted any unambiguous prefix of a long option (``--temp 1``); so does this command line.
    An option's value is never expanded (``--set --mo`` stays the value "--mo")."""
    takes_value = {
        o: not p.is_flag
        for p in command.get_params(ctx)
        if isinstance(p, click.Option)
        for o in (*p.opts, *p.secondary_opts)
        if o.startswith("--")
    }
    out: list[str] = []
    value_next = ""  # the option whose value comes next
    for i, arg in enumerate(args):
        if value_next:
            if _looks_like_an_option(arg):  # `--model --dataset x`: argparse's error, not --model="--dataset"
                raise click.BadOptionUsage(value_next, "requires an argument", ctx)
            value_next = ""
            out.append(arg)
            continue
        if arg == "--":
            return out + args[i:]
        name, eq, value = arg.partition("=")
        if name.startswith("--") and len(name) > 2 and name not in takes_value:
            matches = sorted(o for o in takes_value if o.startswith(name))
            if len(matches) > 1:
                raise click.UsageError(f"ambiguous option: {name} could match {', '.join(matches)}", ctx)
            if matches:
                name = matches[0]
                arg = name + eq + value
        value_next = name if takes_value.get(name, False) and not eq else ""
        out.append(arg)
    return out


def _looks_like_an_option(arg: str) -> bool:
    """argparse's rule: a word that starts with "-" is an option, unless it is "-", a negative number or has
    a space (so ``--seed -1`` is a value, ``--set -x`` a missing one; ``--set=-x`` is always a value)."""
    return arg.startswith("-") and arg != "-" and " " not in arg and not _NEGATIVE_NUMBER.fullmatch(arg)


_NEGATIVE_NUMBER = re.compile(r"-\d+|-\d*\.\d+")


class _Command(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            rest = super().parse_args(ctx, _expand_abbreviations(self, ctx, args))
        except click.UsageError as e:
            e.ctx = e.ctx or ctx  # the parser's own errors come without it: name the subcommand, as argparse did
            raise
        if ctx.args:  # allow_extra_args collects them, so that they are named the way argparse named them
            raise click.UsageError(f"unrecognized arguments: {' '.join(ctx.args)}", ctx)
        return rest


class _Group(click.Group):
    command_class = _Command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # in the order they are declared, as argparse listed them

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if self.get_command(ctx, name) is None and not ctx.resilient_parsing:
            choices = ", ".join(repr(c) for c in self.commands)
            raise click.UsageError(f"argument command: invalid choice: {name!r} (choose from {choices})", ctx)
        return super().resolve_command(ctx, args)


def _one_line(e: click.UsageError) -> str:
    """The message of a click parse error, worded as argparse worded it."""
    if isinstance(e, click.MissingParameter) and e.param is not None:
        return f"the following arguments are required: {_param_name(e.param)}"
    if isinstance(e, click.NoSuchOption):
        close = f" (did you mean {', '.join(e.possibilities)}?)" if e.possibilities else ""
        return f"unrecognized arguments: {e.option_name}{close}"
    if isinstance(e, click.BadOptionUsage):
        if "requires" in e.message:
            return f"argument {e.option_name}: expected one argument"
        return f"argument {e.option_name}: does not take a value"
    if isinstance(e, click.BadParameter) and e.param is not None:
        return f"argument {_param_name(e.param)}: {e.message}"
    return e.format_message()


def _param_name(param: click.Parameter) -> str:
    return param.opts[0] if isinstance(param, click.Option) else str(param.name)


def _complete_from(registry: str) -> Callable[[click.Context, click.Parameter, str], list[str]]:
    """Shell completion of a registry's names (models, datasets, profiles)."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
        try:
            if registry == "models":
                from langgan_bench.models import MODELS as reg
            elif registry == "datasets":
                from langgan_bench.datasets import DATASETS as reg
            else:
                from langgan_bench.core.profiles import PROFILES as reg
            return [n for n in reg.names() if n.startswith(incomplete)]
        except Exception:  # completion never shows a traceback in the user's shell
            return []

    return complete


class _Job(NamedTuple):
    """What a subcommand's callback returns: the command to run, its arguments, and how much it logs."""

    command: str
    args: SimpleNamespace
    verbosity: int = logs.NORMAL


def _job(command: str) -> Callable[..., _Job]:
    def make(quiet: bool = False, verbose: int = 0, **params: Any) -> _Job:
        # -q / -v given before the subcommand (the group's) or after it (its own) count alike
        outer = click.get_current_context().find_root().params
        quiet, verbose = quiet or outer.get("quiet", False), verbose + outer.get("verbose", 0)
        return _Job(command, SimpleNamespace(**params), logs.QUIET if quiet else min(verbose, logs.VERBOSE))

    return make


def _data_dir_option() -> Callable[[Any], Any]:
    return click.option("--data-dir", help=DATA_DIR_HELP)


def _decoders_option() -> Callable[[Any], Any]:
    return click.option(
        "--decoders",
        multiple=True,
        metavar="NAME[=KNOBS]",
        help="decoders beside the temperature, each with its knobs, e.g. --decoders top_p=0.5,0.8,0.95 (repeatable, "
        "or ';'-separated): top_k, top_p, beam, gen_reject, disc_reject; a bare name takes the profile's grid; "
        "none: the temperature only (default: the profile's, top_k and top_p for MLE in small and paper)",
    )


def _space_check_option() -> Callable[[Any], Any]:
    return click.option(
        "--no-space-check", is_flag=True, help="start even when the free space looks too small for the run's files"
    )


def _verbosity_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``-q/--quiet`` (warnings and errors only) and ``-v/--verbose`` (debugging detail too)."""
    f = click.option("-v", "--verbose", count=True, help="more log lines: debugging detail")(f)
    return click.option("-q", "--quiet", is_flag=True, help="fewer log lines: warnings and errors only")(f)


def build_cli() -> click.Group:
    settings = {"help_option_names": ["-h", "--help"], "allow_extra_args": True}

    @click.group(
        PROG,
        cls=_Group,
        context_settings={"help_option_names": ["-h", "--help"]},
        invoke_without_command=True,
        help="Train and score language GANs on standard benchmarks.",
    )
    @click.version_option(__version__, "--version", prog_name=PROG, message="%(prog)s %(version)s")
    @_verbosity_options
    @click.pass_context
    def group(ctx: click.Context, quiet: bool, verbose: int) -> None:
        if ctx.invoked_subcommand is None:
            raise click.UsageError("the following arguments are required: command", ctx)

    models, datasets, profiles = (_complete_from(r) for r in ("models", "datasets", "profiles"))

    @group.command("list", context_settings=settings, help="what is registered")
    @click.argument("what", type=_Choice(["models", "datasets", "metrics", "profiles", "decoders"]))
    @_verbosity_options
    def list_(**params: Any) -> _Job:
        return _job("list")(**params)

    @group.command(
        "data",
        context_settings=settings,
        short_help="dataset information and downloads",
        help="dataset information and downloads; NAME: dataset name (see `langgan-bench list datasets`)",
    )
    @click.argument("action", type=_Choice(["info", "fetch"]))
    @click.argument("name", shell_complete=datasets)
    @_data_dir_option()
    @_verbosity_options
    def data(**params: Any) -> _Job:
        return _job("data")(**params)

    @group.command(
        "run",
        context_settings=settings,
        help="train one model on one dataset and score it over a temperature sweep",
    )
    @click.option(
        "--model",
        required=True,
        shell_complete=models,
        help="a registered model (see `langgan-bench list models`), or package.module:ClassName",
    )
    @click.option("--dataset", required=True, shell_complete=datasets)
    @click.option("--profile", default="small", shell_complete=profiles, help="tiny | small | paper (default: small)")
    @click.option("--seed", type=_Int(), default=0)
    @click.option("--temperatures", help="comma-separated, e.g. 0,0.5,1.0 (0 = greedy; default: the profile's)")
    @_decoders_option()
    @click.option("--device", default="auto", help="auto (CUDA when present) | cpu | cuda")
    @click.option("--out", default="results", help="results folder (default: results)")
    @click.option("--resume", is_flag=True, help="continue an interrupted run of the same command")
    @_data_dir_option()
    @click.option(
        "--checkpoint-every",
        type=_Float(),
        default=180.0,
        metavar="SECONDS",
        help="checkpoint cadence during training (default: 180; also at every epoch end)",
    )
    @_space_check_option()
    @click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="override a model setting, e.g. --set training.lr=0.001 (repeatable)",
    )
    @_verbosity_options
    def run(**params: Any) -> _Job:
        return _job("run")(**params)

    @group.command(
        "bench",
        context_settings=settings,
        help="the default leaderboard: every model on every dataset, then the report",
    )
    @click.option(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help="comma-separated; a name or package.module:ClassName (default: " + ",".join(DEFAULT_MODELS) + ")",
    )
    @click.option("--datasets", default=",".join(DEFAULT_DATASETS))
    @click.option("--profile", default="small", shell_complete=profiles)
    @click.option("--temperatures", help="comma-separated (default: the profile's grid, MLE's extended)")
    @_decoders_option()
    @click.option("--seeds", default=",".join(map(str, DEFAULT_SEEDS)), help="comma-separated (default: 0,1,2)")
    @click.option("--device", default="auto")
    @click.option("--out", default="results")
    @_data_dir_option()
    @click.option("--fresh", is_flag=True, help="recompute finished runs instead of reusing them")
    @click.option(
        "--executor", type=_Choice(["local", "dask"]), default="local", help="where cells run (default: local)"
    )
    @click.option("--workers", type=_Int(), default=2, help="dask: LocalCluster worker processes (default: 2)")
    @click.option("--threads-per-worker", type=_Int(), default=1, help="dask: torch threads per worker (default: 1)")
    @click.option("--scheduler", help="dask: address of a running scheduler, e.g. tcp://host:8786")
    @_space_check_option()
    @_verbosity_options
    def bench(**params: Any) -> _Job:
        return _job("bench")(**params)

    @group.command(
        "score",
        context_settings=settings,
        help="score a file of sentences (one per line) with the exact metrics",
    )
    @click.option(
        "--dataset", required=True, shell_complete=datasets, help="whose references, tokenizer and judge LM to use"
    )
    @click.option("--samples", required=True, help="UTF-8 text file, one sentence per line")
    @click.option("--metrics", help="comma-separated (default: every metric that can score a file)")
    @click.option(
        "--profile", default="small", shell_complete=profiles, help="sizes of references and judge LM (default: small)"
    )
    @click.option("--seed", type=_Int(), default=0, help="seed of the reverse LM's training")
    @click.option("--device", default="auto")
    @_data_dir_option()
    @click.option("--json", is_flag=True, help="print the rows as JSON on stdout")
    @_verbosity_options
    def score(**params: Any) -> _Job:
        return _job("score")(**params)

    @group.command(
        "perf",
        context_settings=settings,
        help="speed figures against peers measured in the same run (make perf)",
    )
    @_data_dir_option()
    @click.option("--results", default="results", help="results folder whose runs' wall times to list")
    @click.option(
        "--isa",
        default="native",
        show_default=True,
        help="instruction sets to run the phase table under, comma-separated: native, avx2 (each restricted "
        "one in a fresh process: oneDNN, PyTorch's kernels and MKL limited to it)",
    )
    @click.option(
        "--peer",
        help="JSON file with TextGAN-PyTorch's phase times measured on this machine by your own driver, per "
        'instruction set: {"source": ..., "native": {"mle_epoch": s, "g_step": s, "d_round": s}, "avx2": {...}} '
        "(default: the speed issue's figures from another machine, marked so)",
    )
    @click.option("--peer-isa", default="native", hidden=True, help="which of --peer's entries (a restricted run)")
    @click.option("--phases-only", is_flag=True, hidden=True, help="the machine and the phase table only")
    @_verbosity_options
    def perf(**params: Any) -> _Job:
        return _job("perf")(**params)

    @group.command("report", context_settings=settings, help="rebuild tables, plots and the report from stored results")
    @click.option("--results", default="results", help="results folder (default: results)")
    @click.option("--out", help="where to write the report (default: RESULTS/report)")
    @_verbosity_options
    def report(**params: Any) -> _Job:
        return _job("report")(**params)

    @group.command(
        "show",
        context_settings=settings,
        help="a run's training: a summary on the terminal and its training curves (training.png beside the run)",
    )
    @click.argument("run_id")
    @click.option("--results", default="results", help="results folder (default: results)")
    @click.option("--out", help="folder for the figure (default: the run's own folder)")
    @_verbosity_options
    def show(**params: Any) -> _Job:
        return _job("show")(**params)

    @group.command(
        "site",
        context_settings=settings,
        short_help="merge results folders into one static leaderboard site",
        help="merge results folders (RESULTS...: from collaborators, machines, GPU runs) into one static site "
        "that opens from disk; runs merge by run id, and conflicting results are listed, never mixed",
    )
    @click.argument("results", nargs=-1, required=True)
    @click.option("--out", default="site", help="the site's folder, replaced whole (default: site)")
    @_verbosity_options
    def site(**params: Any) -> _Job:
        return _job("site")(**params)

    return group


cli = build_cli()


def parse(argv: Sequence[str] | None = None) -> _Job | int:
    """The command to run, or an exit code: 0 after --help or --version, 2 after a one-line parse error.

    Shell completion (``_LANGGAN_BENCH_COMPLETE`` set) answers and exits inside click, as click does."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args, prog_name=PROG, standalone_mode=False)
    except click.UsageError as e:
        where = e.ctx.command_path if e.ctx is not None else PROG
        LOG.error("%s: error: %s (see --help)", where, _one_line(e), extra={"prefix": ""})
        return EXIT_USAGE
    except click.ClickException as e:  # none is expected; still one line, never a traceback
        LOG.error("%s", e.format_message())
        return EXIT_USAGE
    return result if isinstance(result, _Job) else int(result or 0)


def main(argv: Sequence[str] | None = None) -> int:
    allocator = tune_malloc()  # before any tensor is allocated (core/memory.py)
    logs.configure()
    job = parse(argv)
    if isinstance(job, int):
        return job
    logs.configure(job.verbosity)
    LOG.debug("%s %s: glibc allocator %s", PROG, __version__, allocator)
    # SIGTERM (a scheduler, `kill`, a closing terminal) is handled like Ctrl-C: the run is marked
    # "interrupted" and stays resumable; the exit code is 128 + the signal's number, as a shell reports it
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        return COMMANDS[job.command](job.args)
    except UserError as e:
        LOG.error("%s", e)
        return EXIT_USAGE
    except KeyboardInterrupt as e:
        signum = e.signum if isinstance(e, Interrupted) else signal.SIGINT
        # a bench reuses finished cells and resumes interrupted ones by itself; a run needs --resume
        hints = {"run": "; continue with the same command and --resume", "bench": "; continue with the same command"}
        hint = hints.get(job.command, "")
        LOG.error("interrupted by %s%s", signal.Signals(signum).name, hint, extra={"prefix": PREFIX})
        return 128 + signum
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def cmd_list(args: SimpleNamespace) -> int:
    if args.what == "models":
        from langgan_bench.models import MODELS, model_source

        items = []
        for n in MODELS:  # the built-ins' summaries are registered with them: no model file is imported
            doc, source = MODELS.summary(n), model_source(n)
            items.append((n, doc if source == "built-in" else f"{doc} ({source})"))
        items += [(n, f"cannot be used: {why}") for n, why in MODELS.broken().items()]
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
    elif args.what == "decoders":
        from langgan_bench.core.decoders import DECODERS

        items = []
        for n in DECODERS:
            d = DECODERS.get(n)
            density = "NLL_test defined" if d.density else "no density: no NLL_test"
            items.append((n, f"knob {d.knob}; {density}: {d.description}"))
    else:
        from langgan_bench.core.profiles import PROFILES

        items = [(n, PROFILES.get(n).description) for n in PROFILES]
    width = max(len(n) for n, _ in items)
    for name, text in items:
        print(f"{name:<{width}}  {text}")
    return 0


def cmd_data(args: SimpleNamespace) -> int:
    from langgan_bench.datasets import dataset_info, load_dataset

    if args.action == "fetch":
        ds = load_dataset(args.name, args.data_dir)
        print(
            f"{ds.name}: ready ({len(ds.train)} train, {len(ds.valid)} valid, {len(ds.test)} test; "
            f"content hash {ds.short_hash})"
        )
        return 0
    info = dataset_info(args.name, args.data_dir)  # cached after the first time: no torch, nothing built
    oracle = info.pop("oracle_nll", None)
    for key, value in info.items():
        print(f"{key:<14} {value}")
    if oracle is not None:
        print(
            f"{'oracle NLL':<14} {oracle['test']:.4f} nats/token on the test split "
            f"(the floor NLL_test can approach); {oracle['train']:.4f} on train"
        )
    return 0


def _decoders(args: SimpleNamespace) -> tuple[tuple[str, tuple[float, ...]], ...] | None:
    from langgan_bench.core.decoders import parse_decoders

    return parse_decoders(args.decoders) if args.decoders else None


def cmd_run(args: SimpleNamespace) -> int:
    from langgan_bench.core.config import RunConfig, parse_temperatures, validate_run_config

    cfg = RunConfig(
        model=args.model,
        dataset=args.dataset,
        profile=args.profile,
        seed=args.seed,
        temperatures=parse_temperatures(args.temperatures) if args.temperatures is not None else None,
        decoders=_decoders(args),
        device=args.device,
        out=args.out,
        resume=args.resume,
        data_dir=args.data_dir,
        checkpoint_every_s=args.checkpoint_every,
        overrides=tuple(args.overrides),
        space_check=not args.no_space_check,
    )
    # the runner checks these again; here they answer before torch is imported
    validate_run_config(cfg)
    _check_names((cfg.model,), (cfg.dataset,), cfg.profile)
    from langgan_bench.harness.runner import run

    outcome = run(cfg)
    print(f"run {outcome.run_id}: {outcome.status}")
    print(format_table(outcome.rows))
    print("wrote:")
    for path in outcome.files:
        print(f"  {path}")
    return 0


def format_table(rows: list) -> str:
    """A small text table: one line per (model, point), one column per metric; a point is its temperature, or
    another decoder's name and knob (``top_p=0.9``)."""
    from langgan_bench.core.decoders import point_label

    metrics = sorted({r.metric for r in rows})
    table: dict[tuple[str, str], dict[str, float]] = {}
    for r in rows:
        table.setdefault((r.model, point_label(r.decoder, r.knob)), {})[r.metric] = r.value
    header = ["model", "T", *metrics]
    lines = [header]
    for (model, point), vals in table.items():
        lines.append([model, point, *(f"{vals[m]:.4f}" if m in vals else "" for m in metrics)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in lines)


def cmd_bench(args: SimpleNamespace) -> int:
    from langgan_bench.core.config import RunConfig, check_seed, parse_temperatures

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
        decoders=_decoders(args),
        device=args.device,
        out=args.out,
        resume=not args.fresh,
        data_dir=args.data_dir,
        space_check=not args.no_space_check,
    )
    _check_names(names(args.models), names(args.datasets), args.profile)
    from langgan_bench.harness.bench import Executor, bench

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
        LOG.error("%d of %d cells failed (see above and the report)", failed, len(cells), extra={"prefix": PREFIX})
        return 1
    return 0


def _check_names(models: tuple[str, ...], datasets: tuple[str, ...], profile: str) -> None:
    """Fail before hours of work, not in the middle: every name must exist. A built-in model's file is not
    imported for it (every built-in has every profile: tests/test_registry.py)."""
    from langgan_bench.core.profiles import PROFILES
    from langgan_bench.datasets import DATASETS
    from langgan_bench.models import MODELS, resolve_model

    PROFILES.get(profile)
    for m in models:
        if not MODELS.deferred(m):  # a module:Class spec is imported here (a Dask worker does it again)
            resolve_model(m).config_for(profile)
    for d in datasets:
        DATASETS.get(d)


def cmd_score(args: SimpleNamespace) -> int:
    import json
    from dataclasses import asdict

    from langgan_bench.core.config import check_seed, resolve_device

    metrics = None
    if args.metrics is not None:
        metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
        if not metrics:  # "--metrics ," or "--metrics ''" would otherwise silently mean every metric
            raise UserError(f"--metrics {args.metrics!r}: name at least one metric (see `langgan-bench list metrics`)")
    check_seed(args.seed)
    from langgan_bench.harness.score import score_file

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


def cmd_perf(args: SimpleNamespace) -> int:
    from langgan_bench.harness.perf import main as perf_main

    isas = tuple(dict.fromkeys(x.strip() for x in args.isa.split(",") if x.strip()))
    known = ("native", "avx2")
    if not isas or any(x not in known for x in isas):
        raise UserError(f"--isa {args.isa!r}: name one or more of {', '.join(known)}, comma-separated")
    log = lambda msg: LOG.info("... %s", msg)  # noqa: E731
    for line in perf_main(args.data_dir, log, args.results, isas, args.phases_only, args.peer, args.peer_isa):
        print(line, flush=True)
    return 0


def cmd_report(args: SimpleNamespace) -> int:
    from langgan_bench.analysis.report import build_report

    for path in build_report(Path(args.results), Path(args.out) if args.out else None):
        print(path)
    return 0


def cmd_show(args: SimpleNamespace) -> int:
    from langgan_bench.analysis.training import (
        FIGURE_FILE,
        QUANTITIES,
        curve_frame,
        draw_training,
        find_run,
        phase_frame,
        read_run,
        summary_frame,
    )
    from langgan_bench.core.files import ensure_writable

    run_dir = find_run(Path(args.results), args.run_id)
    run = read_run(run_dir)
    out = ensure_writable(Path(args.out), "figure folder") if args.out else run_dir
    curves = curve_frame([run])
    seconds = "" if run.train_seconds is None else f", trained in {run.train_seconds:.1f}s"
    print(f"run {run.run_id}: {run.model} on {run.dataset} ({run.profile}), seed {run.seed}, {run.status}{seconds}")
    if run.diverged:
        print(f"diverged at step {run.diverged.get('step')}: {run.diverged.get('reason')}")
    phases = phase_frame([run])
    if not phases.empty:
        print("\nphases:")
        shown = phases[["phase", "kind", "steps", "seconds"]].astype({"steps": "Int64"})
        shown = shown.rename(columns={"steps": "optimiser steps"})
        print(shown.to_string(index=False, float_format=lambda x: f"{x:.1f}"))
    table = summary_frame(curves)
    print("\ntraining history (first, last, extremes; steps count every optimiser update):")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}", na_rep=""))
    known = [q for q in table.quantity if q in QUANTITIES]
    if known:
        print()
        width = max(map(len, known))
        for q in known:
            print(f"  {q:<{width}}  {QUANTITIES[q]}")
    path = out / FIGURE_FILE
    draw_training(curves, [run], f"{run.model} on {run.dataset} ({run.profile}), seed {run.seed}", path)
    print(f"\nwrote {path}")
    return 0


def cmd_site(args: SimpleNamespace) -> int:
    from langgan_bench.analysis.site import build_site, conflict_lines

    index, merged = build_site([Path(r) for r in args.results], Path(args.out))
    for line in conflict_lines(merged):
        LOG.warning("conflict: %s", line)
    runs = merged.rows.run_id.nunique()
    print(f"site of {runs} runs from {len(merged.sources)} results folders, {len(merged.conflicts)} conflicts")
    print(index)
    return 0


COMMANDS = {
    "list": cmd_list,
    "data": cmd_data,
    "run": cmd_run,
    "bench": cmd_bench,
    "score": cmd_score,
    "perf": cmd_perf,
    "report": cmd_report,
    "show": cmd_show,
    "site": cmd_site,
}


if __name__ == "__main__":
    sys.exit(main())
