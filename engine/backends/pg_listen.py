"""Waiting for changes announced by other replicas: ``LISTEN metamigrate`` on PostgreSQL.

The engine sends ``NOTIFY metamigrate, '<schema> applied 7'`` (or ``unapplied 7``) in the
transaction of every migration, rollback and stamp (``PostgresBackend.notify_change``), so the
notification arrives exactly when that change commits, and never for one that rolled back. A
watcher (the console) blocks in ``ChangeListener.wait`` instead of polling the database: an idle
console costs nothing. Schema changes made outside the engine send nothing; a cheap periodic
check still catches those.
"""

from __future__ import annotations

import os
from typing import Any

from engine.backends.base import ConnectOptions
from engine.backends.postgres import CHANGE_CHANNEL, connect, quote_identifier


class ChangeListener:
    """One connection that listens for the engine's announcements about one schema."""

    def __init__(self, location: str | os.PathLike[str], options: ConnectOptions | None = None):
        self.options = options or ConnectOptions(application_name="metamigrate console")
        self.schema = self.options.schema or "public"
        self._conn: Any = connect(os.fspath(location), self.options)
        self._conn.execute(f"LISTEN {quote_identifier(CHANGE_CHANNEL)}")

    def wait(self, timeout: float) -> list[str]:
        """The announcements for this schema ("applied 7", ...) that arrived, waiting at most
        ``timeout`` seconds for the first one; [] when none came (or only other schemas')."""
        found: list[str] = []
        notes = list(self._conn.notifies(timeout=timeout, stop_after=1))
        if notes:  # then whatever else is queued already, without waiting
            notes += self._conn.notifies(timeout=0.001)
        for note in notes:
            schema, _, what = note.payload.partition(" ")
            if schema == self.schema:
                found.append(what)
        return found

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ChangeListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
