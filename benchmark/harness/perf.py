"""``langgan-bench perf`` (``make perf``): speed figures measured against peers in the same run.

BLEU / Self-BLEU (orders 2..5) on 5,000 COCO training sentences as hypotheses against the 10,000 COCO test
sentences: this harness, the C++ package fast-bleu, and NLTK on a subset extrapolated to the full size,
plus the largest difference from NLTK. Then FED and LM-score times for 5,000 sentences, (when present)
the GANs' training throughput, and the wall time of every run stored in a results folder (``make bench``'s).

The phase table's peer is TextGAN-PyTorch. Its code is not ours to ship, so it is timed by the user's own
driver and given with ``--peer FILE`` (``read_peer``); without one, the table shows the figures timed in the
speed issue on another machine, marked as such, since a ratio across machines is not a speed-up.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from langgan_bench.core.errors import UserError
from langgan_bench.datasets import load_dataset
from langgan_bench.datasets.text import read_lines, tokenize

#: The peer's phases (seconds) as timed in the speed issue (issue 8), the reference when no --peer file is given.
PEER_REFERENCE = {"mle_epoch": 3.5, "g_step": 27.3, "d_round": 35.1}
PEER_REFERENCE_SOURCE = (
    "TextGAN-PyTorch 7ff8909 as timed in the speed issue (issue 8) on a 2-core AMD EPYC (Zen 5, AVX-512)"
)
ISAS = ("native", "avx2")


@dataclass(frozen=True)
class Peer:
    """The peer's seconds per phase, where they come from, and whether they were timed on this machine."""

    seconds: Mapping[str, float]
    source: str
    here: bool


REFERENCE_PEER = Peer(PEER_REFERENCE, PEER_REFERENCE_SOURCE, here=False)


def read_peer(path: str | None, isa: str = "native") -> Peer:
    """The peer's phases for the table run under ``isa`` from a ``--peer`` file, timed on this machine:

        {"source": "TextGAN-PyTorch 7ff8909, my driver, 2 threads",
         "native": {"mle_epoch": 7.58, "g_step": 50.4, "d_round": 70.4}, "avx2": {...}}

    An ISA the file does not name gets the reference figures (``REFERENCE_PEER``), marked as another machine's."""
    if path is None:
        return REFERENCE_PEER
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise UserError(f"--peer {path}: cannot read it ({e.strerror or e})") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"--peer {path}: not a JSON file ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("source"), str) or not data["source"].strip():
        raise UserError(f'--peer {path}: give a JSON object with "source" (what was timed, how) and the phases')
    unknown = set(data) - {"source", *ISAS}
    if unknown or not set(data) & set(ISAS):
        extra = f"; unknown: {', '.join(sorted(unknown))}" if unknown else ""
        raise UserError(f"--peer {path}: name the instruction sets the peer was timed under ({', '.join(ISAS)}), "
                        f"each with its phases{extra}")  # fmt: skip
    for name in ISAS:
        phases = data.get(name, {})
        if isinstance(phases, dict):
            bad = [k for k, v in phases.items() if k not in PEER_REFERENCE or not _seconds(v)]
        else:
            bad = ["(not an object)"]
        if bad:
            raise UserError(f"--peer {path}: {name}: give seconds > 0 for {', '.join(PEER_REFERENCE)}; "
                            f"not {', '.join(map(str, bad))}")  # fmt: skip
    if isa not in data:
        return REFERENCE_PEER
    return Peer(dict(data[isa]), data["source"].strip(), here=True)


def _seconds(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def peer_cells(peer: Peer, key: str, seconds: float) -> tuple[str, str]:
    """The phase table's peer and ratio cells: a ratio across machines is bracketed (see ``peer_note``)."""
    if key not in peer.seconds:
        return "", ""
    ratio = f"{peer.seconds[key] / seconds:.1f}x"
    return f"{peer.seconds[key]:.1f}", ratio if peer.here else f"({ratio})"


def peer_note(peer: Peer) -> str:
    """The table's last line: whose figures the peer column holds."""
    if peer.here:
        return f"  peer: {peer.source}, timed on this machine (--peer)"
    return (f"  peer: {peer.source}; not this machine, so the bracketed ratios are not speed-ups: time the peer "
            "here and give it with --peer FILE (docs/performance.md)")  # fmt: skip


ORDERS = (2, 3, 4, 5)
N_HYPS = 5000
NLTK_SUBSET = 25


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Seconds of one call of ``fn``, and what it returned."""
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` calls of ``fn``, in seconds (the perf tools' one timer: the minimum is the
    figure least disturbed by whatever else the machine runs)."""
    return min(_timed(fn)[0] for _ in range(repeats))


def bleu_section(data_dir: Path | None, log: Callable[[str], None]) -> list[str]:
    from langgan_bench.datasets.files import locate
    from langgan_bench.datasets.sources import COCO
    from langgan_bench.metrics.bleu import bleu, self_bleu

    try:
        from fast_bleu import BLEU, SelfBLEU
        from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    except ImportError:
        raise UserError("perf needs fast-bleu and nltk: pip install -e '.[perf]' (make perf does)") from None

    hyps = tokenize(read_lines(locate(COCO.train, data_dir)), "13a")[:N_HYPS]
    refs = tokenize(read_lines(locate(COCO.test, data_dir)), "13a")
    weights = {n: (1 / n,) * n for n in ORDERS}
    log("BLEU: this harness")
    t_ours_b, ours_b = _timed(lambda: bleu(hypotheses=hyps, references=refs, orders=ORDERS))
    t_ours_s, ours_s = _timed(lambda: self_bleu(hypotheses=hyps, orders=ORDERS))
    log("BLEU: fast-bleu")
    t_fast_b, fast_b = _timed(lambda: BLEU(refs, weights).get_score(hyps))
    t_fast_s, fast_s = _timed(lambda: SelfBLEU(hyps, weights).get_score())
    log(f"BLEU: NLTK on {NLTK_SUBSET} hypotheses, extrapolated to {N_HYPS}")
    smooth = SmoothingFunction().method1
    sub = hyps[:NLTK_SUBSET]

    def nltk_bleu() -> dict[int, float]:
        return {
            n: math.fsum(sentence_bleu(refs, h, weights=weights[n], smoothing_function=smooth) for h in sub) / len(sub)
            for n in ORDERS
        }

    def nltk_self() -> dict[int, float]:
        return {
            n: math.fsum(
                sentence_bleu(hyps[:i] + hyps[i + 1 :], hyps[i], weights=weights[n], smoothing_function=smooth)
                for i in range(len(sub))
            )
            / len(sub)
            for n in ORDERS
        }

    t_nltk_b, nltk_b = _timed(nltk_bleu)
    t_nltk_s, nltk_s = _timed(nltk_self)
    scale = N_HYPS / NLTK_SUBSET
    # exactness: our scores on the same subset (Self-BLEU: leave-one-out over all 5,000, first 25 scored)
    sub_b = bleu(hypotheses=sub, references=refs, orders=ORDERS)
    sub_s = _self_bleu_first(hyps, len(sub))
    diff = max(max(abs(sub_b[n] - nltk_b[n]) for n in ORDERS), max(abs(sub_s[n] - nltk_s[n]) for n in ORDERS))
    fast_diff = max(
        max(abs(ours_b[n] - statistics.fmean(fast_b[n])) for n in ORDERS),
        max(abs(ours_s[n] - statistics.fmean(fast_s[n])) for n in ORDERS),
    )
    lines = [
        f"BLEU / Self-BLEU, orders 2-5: {len(hyps)} COCO train sentences vs {len(refs)} COCO test sentences",
        f"  {'':<22}{'BLEU':>10}{'Self-BLEU':>12}{'total':>10}",
        f"  {'langgan-bench':<22}{t_ours_b:>9.2f}s{t_ours_s:>11.2f}s{t_ours_b + t_ours_s:>9.2f}s",
        f"  {'fast-bleu (C++)':<22}{t_fast_b:>9.2f}s{t_fast_s:>11.2f}s{t_fast_b + t_fast_s:>9.2f}s",
        f"  {'NLTK (extrapolated)':<22}{t_nltk_b * scale:>9.1f}s{t_nltk_s * scale:>11.1f}s"
        f"{(t_nltk_b + t_nltk_s) * scale:>9.1f}s",
        f"  speed-up vs fast-bleu: BLEU {t_fast_b / t_ours_b:.2f}x, Self-BLEU {t_fast_s / t_ours_s:.2f}x, "
        f"total {(t_fast_b + t_fast_s) / (t_ours_b + t_ours_s):.2f}x",
        f"  speed-up vs NLTK: total {(t_nltk_b + t_nltk_s) * scale / (t_ours_b + t_ours_s):.0f}x",
        f"  largest difference from NLTK (same {NLTK_SUBSET} hypotheses, all orders): {diff:.3g}",
        f"  largest difference of the means from fast-bleu: {fast_diff:.3g}",
        "  " + "  ".join(f"BLEU-{n} {ours_b[n]:.4f}" for n in ORDERS),
        "  " + "  ".join(f"Self-BLEU-{n} {ours_s[n]:.4f}" for n in ORDERS),
    ]
    return lines


def _self_bleu_first(hyps: list[list[str]], k: int) -> dict[int, float]:
    """Leave-one-out Self-BLEU of the first ``k`` sentences against all the others (to compare with NLTK)."""
    from langgan_bench.metrics.bleu import bleu

    out = {n: 0.0 for n in ORDERS}
    for i in range(k):
        scores = bleu(hypotheses=[hyps[i]], references=hyps[:i] + hyps[i + 1 :], orders=ORDERS)
        for n in ORDERS:
            out[n] += scores[n] / k
    return out


def fed_lm_section(data_dir: Path | None, log: Callable[[str], None]) -> list[str]:
    from langgan_bench.metrics.fed import embed, frechet_distance, gaussian_stats
    from langgan_bench.metrics.lm import judge_lm, lm_score

    ds = load_dataset("coco", data_dir)
    hyps = [" ".join(ds.decode(x).split()) for x in ds.train[:N_HYPS]]
    refs = [" ".join(t) for t in ds.reference_tokens()[:N_HYPS]]
    log("FED: embedding 2 x 5,000 sentences with all-MiniLM-L6-v2")
    embed(refs[:10])  # load the encoder outside the timing
    t_fed, value = _timed(lambda: frechet_distance(*gaussian_stats(embed(hyps)), *gaussian_stats(embed(refs))))
    log("LM score: judge LM (small profile; trained on first use, then cached)")
    t_judge, judge = _timed(lambda: judge_lm(ds, "small"))
    samples = ds.valid.repeat(5, 1)[:N_HYPS]
    t_lm, lm = _timed(lambda: lm_score(samples=samples, judge=judge))
    return [
        f"FED, {N_HYPS} COCO train vs {N_HYPS} COCO test sentences: {value:.4f} in {t_fed:.1f}s "
        f"(both sides embedded; {2 * N_HYPS / t_fed:.0f} sentences/s)",
        f"LM score of {N_HYPS} sentences: {lm:.4f} nats/token in {t_lm:.2f}s "
        f"(judge LM ready in {t_judge:.1f}s: {'loaded from cache' if t_judge < 5 else 'trained now'})",
    ]


def bench_section(results: Path) -> list[str]:
    """Wall and training seconds of every finished run under ``results`` (``make bench``'s folder), per
    dataset, profile and model: min–max over the seeds, and the sum over every run (cell-seconds)."""
    import pandas as pd

    from langgan_bench.analysis.rows import run_record, wall_seconds

    rows = []
    for folder in sorted(p for p in (results / "runs").glob("*") if p.is_dir()):
        rec = run_record(results, folder.name)
        run, wall = rec.get("run"), wall_seconds(rec)
        if not isinstance(run, dict) or wall is None:
            continue  # unfinished or unreadable: not a figure
        train = rec["training"].get("train_seconds") if isinstance(rec.get("training"), dict) else None
        rows.append((run.get("dataset"), run.get("profile"), run.get("model"), run.get("seed"), wall, train))
    if not rows:
        return [f"make bench per-run wall times: no finished runs under {results}/runs (run make bench first)"]
    df = pd.DataFrame(rows, columns=["dataset", "profile", "model", "seed", "wall", "train"])
    table = df.groupby(["dataset", "profile", "model"]).agg(
        runs=("seed", "size"), wall_min=("wall", "min"), wall_max=("wall", "max"), train_max=("train", "max")
    )
    lines = [f"make bench per-run wall times ({results}/runs; seconds, min-max over the seeds):"]
    for (dataset, profile, model), r in table.iterrows():
        train = f"training <= {r.train_max:.0f}s" if pd.notna(r.train_max) else ""
        lines.append(
            f"  {dataset:<8}{profile:<7}{model:<12}{int(r.runs):>2} runs {r.wall_min:>6.0f}-{r.wall_max:.0f}s  {train}"
        )
    lines.append(f"  {len(df)} runs, {df.wall.sum():,.0f} cell-seconds")
    return lines


def restricted_phases(
    isa: str, data_dir: Path | None, log: Callable[[str], None], peer: str | None = None
) -> list[str]:
    """The machine lines and the phase table from a fresh process restricted to ``isa`` (``cpu.ISA_ENV``),
    refused if the restriction did not take effect (a torch or CPU that ignores it)."""
    import os
    import subprocess
    import sys

    from langgan_bench.kernels import cpu

    env = dict(os.environ, **cpu.ISA_ENV[isa])
    used = cpu.isa_report(env)
    if isa.upper() not in used["torch"].upper() or isa.upper() not in used["onednn"].upper().replace(" ", ""):
        raise UserError(f"--isa {isa}: the restriction did not take effect here (torch {used['torch']}, "
                        f"oneDNN {used['onednn']})")  # fmt: skip
    log(f"phase table restricted to {isa} (a fresh process)")
    cmd = [sys.executable, "-m", "langgan_bench", "perf", "--phases-only"]
    cmd += ["--data-dir", str(data_dir)] if data_dir is not None else []
    cmd += ["--peer", peer, "--peer-isa", isa] if peer is not None else []
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)  # its log lines pass through
    if out.returncode != 0:
        raise UserError(f"--isa {isa}: the restricted run failed (exit {out.returncode}; its error is above)")
    return [f"--- restricted to {isa} ({' '.join(f'{k}={v}' for k, v in cpu.ISA_ENV[isa].items())}) ---",
            *out.stdout.rstrip("\n").splitlines()]  # fmt: skip


def main(
    data_dir: str | None,
    log: Callable[[str], None],
    results: str = "results",
    isas: tuple[str, ...] = ("native",),
    phases_only: bool = False,
    peer: str | None = None,
    peer_isa: str = "native",
) -> list[str]:
    from langgan_bench.datasets.files import data_dir as resolve
    from langgan_bench.harness import perf_phases
    from langgan_bench.kernels import cpu

    folder = resolve(data_dir)
    read_peer(peer)  # a bad file is refused before anything is timed
    lines = cpu.machine_lines()
    for isa in isas:
        if isa == "native":
            lines += ["", *perf_phases.report(folder, log, peer=read_peer(peer, peer_isa))]
        else:
            lines += ["", *restricted_phases(isa, folder, log, peer)]
    if phases_only:
        return lines
    lines += ["", *bleu_section(folder, log), "", *fed_lm_section(folder, log)]
    try:
        from langgan_bench.harness import perf_training

        lines += ["", *perf_training.report(log)]
    except ImportError:
        pass
    return [*lines, "", *bench_section(Path(results))]
