"""``python -m console [--db PATH] [--migrations DIR_OR_MODULE] [--read-only] [--base-path DIR]``.

``run_console`` is also what ``metamigrate console`` calls.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.backends.base import ConnectOptions
from engine.options import add_options, flags_of
from engine.settings import DEFAULT_BUSY_TIMEOUT, DEFAULT_DB, ENV_DB


def run_console(
    db_path: str | os.PathLike[str],
    *,
    migrations: str | os.PathLike[str] | None = None,
    read_only: bool = False,
    busy_timeout: float | None = None,
    base_path: str | os.PathLike[str] | None = None,
    connect_options: ConnectOptions | None = None,
    backup_dir: str | os.PathLike[str] | None = None,
) -> int:
    """Open the console on ``db_path`` until the operator quits; the exit code (0 on a quit).

    A missing database is not created on open: the console shows that there is no database
    yet, and only a migrate the operator confirms creates it (``read_only`` refuses to open a
    missing one: there is nothing to read). ``base_path`` (the metadata service's folder) adds
    the Iceberg catalog's consistency check to the readiness panel. ``connect_options`` say how
    a server is reached (its schema, timeouts); ``backup_dir`` where the backups are.
    """
    from console.service import no_database_text
    from engine import MetamigrateError, Registry
    from engine.backends import (
        display_location,
        is_file_location,
        open_backend,
        sqlite_path,
        validate_location,
    )
    from engine.errors import DatabaseNotFoundError

    try:
        registry = Registry.from_spec(migrations)
        if read_only:
            # Fail now, with the engine's sentence, rather than inside a full-screen app.
            if is_file_location(db_path) and not Path(sqlite_path(db_path)).exists():
                missing = no_database_text(display_location(db_path), read_only=True)
                raise DatabaseNotFoundError(missing)
            options = (connect_options or ConnectOptions()).replace(read_only=True)
            open_backend(db_path, options).close()
        else:
            validate_location(db_path)
        if base_path is not None:
            # A missing catalog extra is told now, in one sentence, not inside the app.
            from engine.metadata.manager import load_adapter

            load_adapter()
    except MetamigrateError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return exc.exit_code

    from console.app import MigrationConsole
    from console.hangup import HangupGuard

    app = MigrationConsole(
        db_path,
        migrations=registry,
        read_only=read_only,
        busy_timeout=busy_timeout,
        base_path=base_path,
        connect_options=connect_options,
        backup_dir=backup_dir,
    )
    guard = HangupGuard(app, sys.__stdin__.fileno() if sys.__stdin__ else 0)
    guard.start()
    try:
        result = app.run()
    finally:
        guard.stop()
    return 0 if result is None else int(result)


#: The console's wording of the table's options where it differs from the CLI's.
_HELP = {
    "db": "the database: a SQLite file path (a confirmed migrate creates a missing one) or a "
    "postgresql:// URL "
    f"(env {ENV_DB}, default ./{DEFAULT_DB})",
    "busy_timeout": "how long a migrate or rollback waits for another writer's lock "
    f"(default {DEFAULT_BUSY_TIMEOUT:g})",
}


def build_parser() -> argparse.ArgumentParser:
    """The console's options: the same rows of ``engine.options`` as ``metamigrate``'s."""
    parser = argparse.ArgumentParser(
        prog="python -m console",
        description="The metamigrate operations console (keyboard only, works over SSH).",
    )
    add_options(
        parser, ("connection", "catalog", "backup-folder"), suppress=False, help_overrides=_HELP
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from engine import MetamigrateError
    from engine.config import load_settings

    try:
        settings = load_settings(flags_of(build_parser().parse_args(argv)))[0]
    except MetamigrateError as exc:  # a bad configuration file or environment variable
        sys.stderr.write(f"error: {exc.message}\n")
        return exc.exit_code
    return run_console(
        settings.db,
        migrations=settings.migrations,
        read_only=settings.read_only,
        busy_timeout=settings.busy_timeout,
        base_path=settings.base_path,
        connect_options=settings.connect_options(),
        backup_dir=settings.backup_dir,
    )


if __name__ == "__main__":
    sys.exit(main())
