"""How the console writes versions, times, durations and paths (pure functions, no Textual).

Sizes, times and durations come from ``engine.formatting``, which the CLI uses too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

from engine.formatting import format_clock, format_duration, format_size, format_timestamp, utc_iso

__all__ = [
    "Clock",
    "display_path",
    "format_applied_at",
    "format_clock",
    "format_duration",
    "format_size",
    "format_timestamp",
    "migration_label",
    "utc_iso",
    "utc_now",
]

#: A zero-argument callable returning the current time; injected for deterministic screenshots.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now (the console shows every time in UTC, whatever the machine's zone)."""
    return datetime.now(UTC)


def format_applied_at(value: str | None) -> str:
    """'2026-11-26T03:35:10.123Z' -> '2026-11-26 03:35' (UTC, as the engine records it)."""
    return format_timestamp(value)


def migration_label(version: int, name: str) -> str:
    return f"{version:04d}_{name}"


def display_path(path: str | os.PathLike[str], limit: int = 48, schema: str | None = None) -> str:
    """The database path as the operator gave it, shortened from the left when very long; a
    server database as host, database and schema (``db.internal:5432/metadata · public``),
    never with its password."""
    text = os.fspath(path)
    from engine.backends import is_url, scheme_of

    if is_url(text) and scheme_of(text) != "sqlite":
        return server_label(text, schema)
    if len(text) <= limit:
        return text
    return "…" + text[-(limit - 1) :]


def server_label(location: str, schema: str | None = None) -> str:
    """``host:port/database · schema`` of a server URL (user and password left out)."""
    from urllib.parse import unquote, urlsplit

    try:
        parts = urlsplit(location)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # malformed (a bad port, an unclosed IPv6 bracket): shown as given, masked
        from engine.backends import display_location

        return f"{display_location(location)} · {schema or 'public'}"
    host = parts.hostname or "localhost"
    database = unquote(parts.path.lstrip("/")) or "(default database)"
    return f"{host}{port}/{database} · {schema or 'public'}"
