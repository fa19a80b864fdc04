"""How the report's and the site's tables write a value, in one place so that every table reads alike."""

from __future__ import annotations

import math

import pandas as pd


def fmt(mean: float, hw: float = math.nan, digits: int = 4) -> str:
    """``mean ± half-width``; just the mean when there is no interval (one seed), nothing for a missing value."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    return f"{mean:.{digits}f}" + ("" if hw is None or math.isnan(hw) else f" ± {hw:.{digits}f}")


def count(x: object) -> str:
    """A count column read back from a table (a float there, or NaN for none)."""
    return "" if pd.isna(x) else str(int(x))  # type: ignore[call-overload]


def verdict_text(row: object) -> str:
    """A verdict row's verdict, with the points where it holds when there are some (``better_at``)."""
    where = getattr(row, "better_at", None)
    return row.verdict + (f" ({where})" if isinstance(where, str) and where else "")  # type: ignore[attr-defined]


def outside_text(row: object) -> str:
    """`` (the points outside MLE's range)`` of a verdict row, or nothing."""
    where = getattr(row, "outside_at", None)
    return f" ({where})" if isinstance(where, str) and where else ""
