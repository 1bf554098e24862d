"""How the console writes versions, times, durations and paths (pure functions, no Textual)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime

#: A zero-argument callable returning the current time; injected for deterministic screenshots.
Clock = Callable[[], datetime]


def local_now() -> datetime:
    return datetime.now().astimezone()


def format_applied_at(value: str | None) -> str:
    """'2026-11-26T03:35:10.123Z' -> '2026-11-26 03:35' (UTC, as the engine records it)."""
    if not value:
        return ""
    text = value.replace("T", " ")
    return text[:16]


def format_duration(ms: float | None) -> str:
    if ms is None:
        return ""
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s"


def migration_label(version: int, name: str) -> str:
    return f"{version:04d}_{name}"


def display_path(path: str | os.PathLike[str], limit: int = 48) -> str:
    """The database path as the operator gave it, shortened from the left when very long."""
    text = os.fspath(path)
    if len(text) <= limit:
        return text
    return "…" + text[-(limit - 1) :]
