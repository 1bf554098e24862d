"""How the console writes versions, times, durations and paths (pure functions, no Textual).

Sizes, times and durations come from ``engine.formatting``, which the CLI uses too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
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


def server_label(
    location: str, schema: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """``host:port/database · schema`` of a server URL (user and password left out), where
    libpq connects: the URL's host (its ``host=`` parameter first), else ``PGHOST``, else
    libpq's default, a local socket (localhost on Windows); the port and the database likewise
    (``PGPORT``, ``PGDATABASE``); a port nobody set is libpq's default and not shown."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    env = os.environ if environ is None else environ
    parts = urlsplit(location)
    query = dict(parse_qsl(parts.query))
    # libpq connects to hostaddr when one is given, else to host; what the URL says first.
    host = (
        query.get("hostaddr")
        or env.get("PGHOSTADDR")
        or query.get("host")
        or unquote(parts.hostname or "")
        or env.get("PGHOST")
        or ("localhost" if os.name == "nt" else "local socket")
    )
    if host.startswith("/"):
        host = f"socket {host}"
    port = query.get("port") or (str(parts.port) if parts.port else "") or env.get("PGPORT", "")
    database = (
        query.get("dbname")
        or unquote(parts.path.lstrip("/"))
        or env.get("PGDATABASE")
        or "(default database)"
    )
    return f"{host}{':' + port if port else ''}/{database} · {schema or 'public'}"
