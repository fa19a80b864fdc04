"""Confidence intervals over seeds, and the aggregation of tidy result rows into per-cell summaries.

Every figure the report prints is ``mean ± half-width`` of a Student-t 95% confidence interval over the
per-seed values, with n shown. With one seed there is no interval (half-width NaN), never ± 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from langgan_bench.analysis.rows import ORACLE_MODEL, with_decoders

CONFIDENCE = 0.95
#: The cell of one aggregated figure: every seed of it shares these (and nothing else varies). A point is its
#: decoder and knob (a temperature's knob is its temperature, in ``temperature`` too; another decoder's rows
#: have no temperature).
CELL = ["dataset", "profile", "model", "temperature", "decoder", "knob", "metric", "signature"]


@dataclass(frozen=True)
class Interval:
    """A mean with the half-width of its confidence interval over ``n`` values (NaN when n < 2)."""

    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


def t_half_width(std: np.ndarray | pd.Series | float, n: np.ndarray | pd.Series | int, confidence: float = CONFIDENCE):
    """Half-width of the Student-t interval of a mean: t_{(1+c)/2, n-1} · s / √n (NaN where n < 2)."""
    n_arr = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = stats.t.ppf((1 + confidence) / 2, np.where(n_arr >= 2, n_arr - 1, np.nan))
        return q * np.asarray(std, dtype=float) / np.sqrt(n_arr)


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """The mean of ``values`` and the half-width of its Student-t confidence interval."""
    arr = np.asarray(values, dtype=float)
    n = int(arr.size)
    if n == 0:
        return Interval(math.nan, math.nan, 0)
    std = float(arr.std(ddof=1)) if n > 1 else math.nan
    return Interval(float(arr.mean()), float(t_half_width(std, n, confidence)), n)


def per_seed(df: pd.DataFrame) -> pd.DataFrame:
    """One value per (cell, seed): a rerun of a seed replaces the earlier value (latest timestamp wins), and
    the oracle's reference rows, identical in every run of a dataset, count once."""
    df = with_decoders(df).sort_values("timestamp", kind="stable")
    df = df.drop_duplicates([*CELL, "seed"], keep="last")
    oracle = df["model"] == ORACLE_MODEL
    return pd.concat([df[~oracle], df[oracle].drop_duplicates(CELL, keep="first")], ignore_index=True)


def summarize(df: pd.DataFrame, by: Sequence[str] = tuple(CELL)) -> pd.DataFrame:
    """Aggregate per-seed rows: ``mean``, ``std``, ``n`` (seeds), ``half_width`` (95% t), ``seeds``."""
    g = per_seed(df).groupby(list(by), dropna=False, sort=True)  # (a frame without decoders: temperature rows)
    out = g.agg(mean=("value", "mean"), std=("value", "std"), n=("value", "count"), seeds=("seed", _seed_list))
    out["half_width"] = t_half_width(out["std"], out["n"])
    return out.reset_index()


def _seed_list(seeds: pd.Series) -> str:
    return " ".join(str(s) for s in sorted(set(seeds)))
