"""The raw baselines' migration files: ``NNNN_name.sql``, up statements, ``-- down``, downs.

Imported by the raw scripts (``raw_sqlite.py``, ``raw_postgres.py``) by file name from their own
folder, so it uses nothing but ``os``: a raw baseline's process imports only what it needs.
"""

from __future__ import annotations

import os

DOWN_MARKER = "-- down\n"


def migration_files(directory: str) -> list[tuple[str, str]]:
    """(version, file name) of every migration, in order; names only, bodies are not read."""
    names = sorted(n for n in os.listdir(directory) if n.endswith(".sql"))
    return [(n.split("_", 1)[0], n) for n in names]


def statements(directory: str, name: str, part: int) -> list[str]:
    """The up (``part`` 0) or down (1) statements of one file, one per line."""
    with open(os.path.join(directory, name), encoding="utf-8") as f:
        text = f.read().split(DOWN_MARKER)[part]
    return [s for s in text.splitlines() if s.strip()]


def arguments(argv: list[str]) -> tuple[str, str, str, bool] | None:
    """(command, --db, --dir, --one-tx) of a raw script's command line; None when unusable.
    Plain parsing: argparse would add its import time to the floor."""
    if not argv or argv[0] not in ("apply", "status", "rollback"):
        return None
    return argv[0], argv[argv.index("--db") + 1], argv[argv.index("--dir") + 1], "--one-tx" in argv
