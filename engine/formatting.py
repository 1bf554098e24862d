"""How people read sizes, times and durations: one module for the CLI and the console.

Standard library only (``import engine`` stays light, and ``--json`` never formats). Sizes are
binary (1 KiB = 1024 bytes) with IEC units; times are UTC, as the engine records them, and the
screens that show them say so. Output whose encoding cannot carry a check mark (``LC_ALL=C``,
``PYTHONIOENCODING=ascii``) gets the ASCII fallbacks of ``ASCII_FALLBACKS`` instead
(``ascii_fallback_errors``), never an escape like ``\\u2713``.
"""

from __future__ import annotations

import codecs

TYPE_CHECKING = False  # every command loads this module (ascii_fallback_errors): no typing

if TYPE_CHECKING:
    from datetime import datetime

#: What a character becomes on an output that cannot encode it: "✓ pass" reads "+ pass",
#: "✗ FAIL" "x FAIL", "○ pending" "o pending". Any other character is escaped (``\\xe9``).
ASCII_FALLBACKS: dict[str, str] = {
    "✓": "+",
    "✗": "x",
    "○": "o",
    "…": "...",
    "→": "->",
    "←": "<-",
    "·": "-",
    "—": "-",
    "\u2013": "-",  # en dash
    "▶": ">",
    "“": '"',
    "”": '"',
    "\u2018": "'",  # quotation marks
    "\u2019": "'",
}

#: The name of the codec error handler that writes ``ASCII_FALLBACKS`` (see
#: ``ascii_fallback_errors``).
ASCII_FALLBACK_ERRORS = "metamigrate-ascii-fallback"


def _ascii_fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start : error.end]
    fallback = "".join(
        ASCII_FALLBACKS.get(char) or char.encode("ascii", "backslashreplace").decode("ascii")
        for char in text
    )
    return fallback, error.end


def ascii_fallback_errors() -> str:
    """The ``errors=`` name for a stream whose encoding may not carry every character: the marks
    become their ASCII fallbacks, anything else unencodable is escaped (never an exception).
    Chosen by the encoding itself, once per stream: on UTF-8 only lone surrogates (file names
    that are not UTF-8) are escaped."""
    try:
        codecs.lookup_error(ASCII_FALLBACK_ERRORS)
    except LookupError:
        codecs.register_error(ASCII_FALLBACK_ERRORS, _ascii_fallback)
    return ASCII_FALLBACK_ERRORS


def format_size(size: int) -> str:
    """812 -> '812 B', 57_344 -> '56 KiB', 1_258_291 -> '1.2 MiB', 3.4e9 -> '3.2 GiB'."""
    if size < 1024:
        return f"{size} B"
    if size < 1024**2:
        return f"{size / 1024:,.0f} KiB"
    if size < 1024**3:
        return f"{size / 1024**2:,.1f} MiB"
    return f"{size / 1024**3:,.1f} GiB"


def format_timestamp(iso: str | None, *, seconds: bool = False) -> str:
    """'2026-11-26T03:35:10.123Z' -> '2026-11-26 03:35' (UTC; with ``seconds`` '... 03:35:10')."""
    if not iso:
        return ""
    return iso.replace("T", " ")[: 19 if seconds else 16]


def utc_iso(moment: datetime) -> str:
    """A moment as the engine records times: '2026-11-26T03:35:10.123Z' (UTC)."""
    from datetime import UTC  # here: importing datetime is a millisecond of every command's start

    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def format_clock(moment: datetime) -> str:
    """'03:35:10': the time of day in UTC (the activity log's stamps)."""
    from datetime import UTC

    return moment.astimezone(UTC).strftime("%H:%M:%S")


def format_duration(ms: float | None) -> str:
    """3.21 -> '3.2 ms', 120.4 -> '120 ms', 2500 -> '2.5 s'."""
    if ms is None:
        return ""
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s"
