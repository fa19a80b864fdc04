"""``langgan-bench score``: the exact metrics on any file of sentences (one per line), e.g. samples from a
model this harness did not train. The file is tokenized with the dataset's own tokenizer, so its numbers
compare with the leaderboard's (same signatures)."""

from __future__ import annotations

from pathlib import Path

import torch

from langgan_bench.core.errors import UserError
from langgan_bench.core.profiles import PROFILES
from langgan_bench.datasets import load_dataset
from langgan_bench.datasets.base import Dataset
from langgan_bench.datasets.text import encode, read_lines, tokenize
from langgan_bench.harness.sweep import score
from langgan_bench.metrics import METRICS, EvalInputs, MetricSpec, MetricValue

#: A line may hold at most this many times the tokens of the dataset's longest sentence (its ``max_len``):
#: longer lines are refused, not truncated (a truncated sentence would get a number it does not deserve), and
#: the metrics' memory and time grow with the longest line (one line of 100,000 tokens takes GBs).
LINE_LIMIT_FACTOR = 10
#: Metrics that compare the samples among themselves need at least this many sentences.
MIN_SENTENCES = {"self_bleu": 2, "fed": 2, "reverse_lm_score": 2, "prdc": 6, "mauve": 20}  # prdc: k = 5 neighbours


def _check_lengths(lines: list[str], tokens: list[list[str]] | None, ds: Dataset, what: str) -> None:
    """Refuse any line longer than ``LINE_LIMIT_FACTOR`` x the dataset's longest sentence."""
    limit = LINE_LIMIT_FACTOR * ds.max_len
    counts = [len(t) for t in tokens] if tokens is not None else [len(line.split()) for line in lines]
    for i, n in enumerate(counts, start=1):
        if n > limit:
            raise UserError(
                f"{what}: line {i} has {n} tokens; the limit is {limit} "
                f"({LINE_LIMIT_FACTOR}x the longest sentence of {ds.name})"
            )


def _synthetic_ids(lines: list[str], ds: Dataset, what: str) -> tuple[torch.Tensor, list[list[str]]]:
    rows = []
    for i, line in enumerate(lines, start=1):
        toks = line.split()
        if len(toks) != ds.max_len or not all(t.isdigit() and int(t) < len(ds.vocab) for t in toks):
            raise UserError(f"{what}: line {i} must hold {ds.max_len} token ids in 0..{len(ds.vocab) - 1}")
        rows.append([int(t) for t in toks])
    return torch.tensor(rows, dtype=torch.long), [line.split() for line in lines]


def score_file(
    dataset: str,
    samples: Path,
    metrics: list[str] | None = None,
    profile: str = "small",
    data_dir: str | None = None,
    device: str = "cpu",
    seed: int = 0,
) -> list[MetricValue]:
    """Score the sentences in ``samples`` with the named metrics (default: every one that applies)."""
    prof = PROFILES.get(profile)
    specs: list[MetricSpec] = [METRICS.get(m) for m in metrics] if metrics else []
    lines = read_lines(samples)
    ds = load_dataset(dataset, data_dir).limited(prof.train_limit, prof.valid_limit, prof.test_limit)
    for spec in specs:
        if not spec.applies(ds, None, has_generator=False):
            usable = [m for m in METRICS.names() if METRICS.get(m).applies(ds, None, has_generator=False)]
            raise UserError(
                f"metric {spec.name!r} cannot score a file of sentences on {ds.name} "
                f"(it needs {', '.join(spec.requires)}); usable here: {', '.join(usable)}"
            )
    specs = specs or [METRICS.get(m) for m in METRICS.names() if METRICS.get(m).applies(ds, None, False)]
    few = [s.name for s in specs if len(lines) < MIN_SENTENCES.get(s.name, 1)]
    if few:
        others = [s.name for s in specs if s.name not in few]
        hint = f" (score it with --metrics {','.join(others)})" if others else ""
        raise UserError(
            f"{samples} holds {len(lines)} sentence(s), too few for {', '.join(few)}: they need at least "
            f"{max(MIN_SENTENCES[n] for n in few)} sentences{hint}"
        )
    if ds.is_synthetic:
        ids, tokens = _synthetic_ids(lines, ds, str(samples))
    else:
        _check_lengths(lines, None, ds, str(samples))  # cheap first: tokenizing only adds tokens
        tokens = tokenize(lines, ds.tokenizer)
        _check_lengths(lines, tokens, ds, str(samples))
        ids = encode(tokens, ds.vocab, max(len(t) for t in tokens) + 1)
    inputs = EvalInputs(ds, prof, ids, tokens, seed=seed, device=device)
    return score(inputs, specs)
