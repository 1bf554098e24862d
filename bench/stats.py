"""Summaries of repeated measurements: min and median, and ratios to a baseline's median."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from bench.proc import Run


def summarize(runs: Sequence[Run]) -> dict[str, Any]:
    """min / median / max wall seconds, median CPU seconds and median peak RSS of ``runs``."""
    if not runs:
        return {}
    seconds = [r.seconds for r in runs]
    return {
        "min": min(seconds),
        "median": statistics.median(seconds),
        "max": max(seconds),
        "samples": [round(s, 6) for s in seconds],
        "cpu_median": statistics.median(r.cpu_seconds for r in runs),
        "max_rss_kib": int(statistics.median(r.max_rss_kib for r in runs)),
    }


def ratio(
    value: dict[str, Any] | None, base: dict[str, Any] | None, key: str = "median"
) -> float | None:
    if not value or not base or not base.get(key):
        return None
    return float(value[key]) / float(base[key])


def median_of(values: Sequence[float]) -> float:
    return statistics.median(values)
