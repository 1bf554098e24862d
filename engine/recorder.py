"""The bookkeeping tables: which versions are applied, and every attempt ever made.

Invariant: a row in ``schema_migrations`` means that version's effects are in the database, because
the row is written in the same transaction as the migration itself; the backend's version marker
(SQLite's ``PRAGMA user_version``) is kept equal to the highest applied version in that same
transaction. No vendor SQL here: the tables' DDL comes from the backend (``bookkeeping_ddl``) and
the statements, written with ``?``, go through ``Backend.sql``.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping, Sequence

from engine.backends import as_backend
from engine.records import Record

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: what status imports must not load typing

if TYPE_CHECKING:
    from typing import Any

    from engine.backends.base import Backend


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds (``time`` rather than ``datetime``: cheaper to import)."""
    global _second  # a one-entry cache
    now = time.time()
    second = _second
    if second[0] != int(now):
        # Formatted once per second: a run asks twice per step. (One tuple: threads agree.)
        second = _second = (int(now), time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)))
    return f"{second[1]}.{int(now * 1000) % 1000:03d}Z"


#: (whole second, its formatted text) of the last ``utc_now``.
_second: tuple[int, str] = (-1, "")


#: ``finished_at`` of a history row whose attempt is still running (or died while running).
IN_PROGRESS = ""


@functools.cache
def identity() -> tuple[str, str]:
    """(user, host) of this process, for the bookkeeping and history rows."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    if hasattr(os, "uname"):
        return user, os.uname().nodename  # what gethostname() returns, without importing socket
    import socket

    return user, socket.gethostname()


class AppliedRow(Record):
    __slots__ = (
        "applied_at",
        "applied_by",
        "checksum",
        "description",
        "duration_ms",
        "fingerprint",
        "name",
        "reversible",
        "source_key",
        "version",
    )
    version: int
    name: str
    description: str
    checksum: str
    source_key: str | None
    reversible: bool
    fingerprint: str | None
    applied_at: str
    duration_ms: float
    applied_by: str

    def __init__(
        self,
        version: int,
        name: str,
        description: str,
        checksum: str,
        source_key: str | None,
        reversible: bool,
        fingerprint: str | None,
        applied_at: str,
        duration_ms: float,
        applied_by: str,
    ) -> None:
        self._set(
            version,
            name,
            description,
            checksum,
            source_key,
            reversible,
            fingerprint,
            applied_at,
            duration_ms,
            applied_by,
        )


class HistoryEntry(Record):
    """One attempt to apply or undo a migration, successful or not."""

    __slots__ = (
        "direction",
        "duration_ms",
        "error",
        "finished_at",
        "host",
        "id",
        "name",
        "note",
        "pid",
        "reason",
        "started_at",
        "success",
        "user",
        "version",
    )
    id: int
    version: int
    name: str
    direction: str
    started_at: str
    finished_at: str
    duration_ms: float
    success: bool
    error: str | None
    user: str
    host: str
    pid: int
    #: Lifecycle directions (stamp, unmark, repair, baseline): the operator's ``--reason``.
    reason: str | None
    #: Lifecycle directions: what the engine did ("marked applied without running its up").
    note: str | None

    def __init__(
        self,
        id: int,
        version: int,
        name: str,
        direction: str,
        started_at: str,
        finished_at: str,
        duration_ms: float,
        success: bool,
        error: str | None,
        user: str,
        host: str,
        pid: int,
        reason: str | None = None,
        note: str | None = None,
    ) -> None:
        self._set(
            id,
            version,
            name,
            direction,
            started_at,
            finished_at,
            duration_ms,
            success,
            error,
            user,
            host,
            pid,
            reason,
            note,
        )

    @property
    def lifecycle(self) -> bool:
        """True for a change of the bookkeeping made by hand (stamp, unmark, repair, baseline)."""
        return self.direction not in ("up", "down")

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "version": self.version,
            "name": self.name,
            "direction": self.direction,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_ms": round(self.duration_ms, 3),
            "success": self.success,
            "error": self.error,
            "user": self.user,
            "host": self.host,
            "pid": self.pid,
            "reason": self.reason,
            "note": self.note,
        }


# Rows are read defensively: a bookkeeping row edited by hand into wrong types (text in a number
# column, a number in a text column) is shown as well as it can be, or refused in a sentence when
# the value is one the engine relies on (a version), never a traceback.


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if number == number else 0.0  # NaN


def _whole(value: Any, table: str, column: str, row: Any, *, default: int | None = None) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if default is not None:
        return default
    from engine.errors import DatabaseError

    raise DatabaseError(
        f"The bookkeeping table {table} holds a row (id {row!r}) whose {column} is {value!r}, "
        "not a whole number: it was edited by hand. Fix or delete that row, then run "
        "metamigrate verify."
    )


class Recorder:
    """Reads and writes the bookkeeping tables on one backend (callers own the transaction)."""

    def __init__(self, backend: Backend | Any) -> None:
        #: The backend (a raw DB-API connection is wrapped).
        self.backend: Backend = as_backend(backend)
        self._sql: dict[str, str] = {}
        # The catalog lookup may scan the whole schema (SQLite's sqlite_master has no index), so
        # a run with thousands of tables asks once and remembers (forget() after every rollback).
        self._tables_present = False
        # The tables' shape is checked once per recorder, the first time it writes.
        self._upgraded = False
        self._notifies: bool | None = None

    @property
    def conn(self) -> Any:
        """The backend's raw connection (kept for callers of the old attribute)."""
        return self.backend.connection

    def _driver_sql(self, sql: str) -> str:
        """Engine SQL written with ``?``, converted once per statement for the driver."""
        text = self._sql.get(sql)
        if text is None:
            text = self._sql[sql] = self.backend.sql(sql)
        return text

    def _run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run engine SQL written with ``?``."""
        return self.backend.execute(self._driver_sql(sql), params)

    def _write(self, sql: str, params: Sequence[Any] = ()) -> None:
        """A bookkeeping write whose result nobody reads: a backend that can sends it with the
        transaction's COMMIT (one round trip less), and before any other statement of the
        connection, so everything later in the transaction sees it."""
        self._write_many(sql, [params])

    def _write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """``_write`` for several rows, in order: one statement prepared once
        (``executemany``), or each row with the COMMIT on a backend that sends them with it."""
        text = self._driver_sql(sql)
        later = getattr(self.backend, "execute_at_commit", None)
        if later is not None:
            for params in rows:
                later(text, params)
        elif len(rows) == 1:
            self.backend.execute(text, rows[0])
        else:
            self.backend.executemany(text, rows)

    def has_tables(self) -> bool:
        if not self._tables_present:
            self._tables_present = self.backend.table_exists(
                "schema_migrations"
            ) and self.backend.table_exists("schema_migration_history")
        return self._tables_present

    def forget(self) -> None:
        """A transaction was rolled back: tables created (or upgraded) in it may be gone."""
        self._tables_present = False
        self._upgraded = False

    def ensure_tables(self) -> None:
        """Create the bookkeeping tables if missing, or bring older ones up to date (inside the
        caller's write transaction)."""
        if not self.has_tables():
            for statement in self.backend.bookkeeping_ddl():
                self.backend.execute(statement)
            self._tables_present = True
            self._ensure_identity()
            self._upgraded = True
        elif not self._upgraded:
            self.upgrade_tables()
            self._ensure_identity()
            self._upgraded = True

    def _ensure_identity(self) -> None:
        """Give the database its id, for backends whose backups are known by one (SQLite files:
        databases that share a file name may share a backup folder)."""
        identity_ddl = getattr(self.backend, "identity_ddl", None)
        if identity_ddl is not None:
            for statement in identity_ddl():
                self.backend.execute(statement)

    def _columns(self, table: str) -> set[str]:
        return set(self.backend.columns(table))

    def upgrade_tables(self) -> None:
        """Tables made by an older engine get what was added since: the recorded schema
        description (``schema_facts``), and in the history the lifecycle directions (stamp,
        unmark, repair, baseline) with the operator's ``reason`` and the engine's ``note``."""
        if "reason" not in self._columns("schema_migration_history"):
            # A CHECK constraint cannot be altered in place: the table is rebuilt, rows kept.
            create = self.backend.bookkeeping_ddl()[1].replace(
                "IF NOT EXISTS schema_migration_history", "schema_migration_history_upgrade"
            )
            kept = (
                "id, version, name, direction, started_at, finished_at, duration_ms, success, "
                'error, "user", host, pid'
            )
            self._run(create)
            self._run(
                f"INSERT INTO schema_migration_history_upgrade ({kept}) "
                f"SELECT {kept} FROM schema_migration_history"
            )
            self._run("DROP TABLE schema_migration_history")
            self._run(
                "ALTER TABLE schema_migration_history_upgrade RENAME TO schema_migration_history"
            )
        if "schema_facts" not in self._columns("schema_migrations"):
            self._run("ALTER TABLE schema_migrations ADD COLUMN schema_facts TEXT")

    def recorded_schema(
        self, version: int, *, with_facts: bool = True
    ) -> tuple[str | None, list[str] | None]:
        """(fingerprint, structural description) recorded for ``version``; None when missing.
        ``with_facts=False`` reads the fingerprint alone (the description is ~0.5 MB of text
        for a thousand tables, needed only to say what differs)."""
        from engine.drift import decode

        if not self.has_tables():
            return None, None
        if not with_facts or "schema_facts" not in self._columns("schema_migrations"):
            row = self._run(
                "SELECT fingerprint FROM schema_migrations WHERE version = ?", (version,)
            ).fetchone()
            return (row[0] if row else None), None
        row = self._run(
            "SELECT fingerprint, schema_facts FROM schema_migrations WHERE version = ?",
            (version,),
        ).fetchone()
        if row is None:
            return None, None
        return row[0], decode(row[1])

    def applied(self) -> dict[int, AppliedRow]:
        if not self.has_tables():
            return {}
        rows = self._run(
            "SELECT version, name, description, checksum, source_key, reversible, fingerprint, "
            "applied_at, "
            "duration_ms, applied_by FROM schema_migrations ORDER BY version"
        ).fetchall()
        applied: dict[int, AppliedRow] = {}
        for row in rows:
            version = _whole(row[0], "schema_migrations", "version", row[0])
            # Positional (the fields' order): a thousand keyword calls cost half a millisecond.
            applied[version] = AppliedRow(
                version,
                _text(row[1]),  # name
                _text(row[2]),  # description
                _text(row[3]),  # checksum
                None if row[4] is None else str(row[4]),  # source_key
                bool(row[5]),  # reversible
                None if row[6] is None else str(row[6]),  # fingerprint
                _text(row[7]),  # applied_at
                _number(row[8]),  # duration_ms
                _text(row[9]),  # applied_by
            )
        return applied

    def head(self) -> tuple[int, int]:
        """(highest applied version, number applied): enough to check a step's precondition."""
        if not self.has_tables():
            return 0, 0
        top, count = self._run(
            "SELECT coalesce(max(version), 0), count(*) FROM schema_migrations"
        ).fetchone()
        return int(top), int(count)

    def applied_set(self) -> set[int]:
        """Every applied version (one read, for a run that then keeps track itself)."""
        if not self.has_tables():
            return set()
        return {
            _whole(row[0], "schema_migrations", "version", row[0])
            for row in self._run("SELECT version FROM schema_migrations").fetchall()
        }

    def head_and_applied(self, version: int) -> tuple[int, bool]:
        """(highest applied, is ``version`` applied): two primary-key lookups, no scan."""
        if not self.has_tables():
            return 0, False
        take = getattr(self.backend, "take_prefetched_head", None)
        top = take() if take is not None else None
        if top is not None and version >= top:
            # The head was read under the migration lock with the transaction's first round
            # trip; no version above it is applied, and the head itself is.
            return top, version == top and top > 0
        top, present = self._run(
            "SELECT (SELECT coalesce(max(version), 0) FROM schema_migrations), "
            "EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)",
            (version,),
        ).fetchone()
        return int(top), bool(present)

    def record_applied(
        self,
        *,
        version: int,
        name: str,
        description: str,
        checksum: str,
        source_key: str | None,
        reversible: bool,
        fingerprint: str | None,
        applied_at: str,
        duration_ms: float,
        schema_facts: str | None = None,
    ) -> None:
        """Insert the row of an applied version; ``schema_facts`` (``engine.drift.encode``) is
        the structural description behind ``fingerprint`` (call ``ensure_tables`` first)."""
        self.record_applied_many(
            [
                {
                    "version": version,
                    "name": name,
                    "description": description,
                    "checksum": checksum,
                    "source_key": source_key,
                    "reversible": reversible,
                    "fingerprint": fingerprint,
                    "applied_at": applied_at,
                    "duration_ms": duration_ms,
                    "schema_facts": schema_facts,
                }
            ]
        )

    def record_applied_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """``record_applied`` for several versions (each row: its keyword arguments), in one
        statement prepared once."""
        if not rows:
            return
        by = "{}@{}".format(*identity())
        values = [
            (
                r["version"],
                r["name"],
                r["description"],
                r["checksum"],
                r["source_key"],
                int(r["reversible"]),
                r["fingerprint"],
                r.get("schema_facts"),
                r["applied_at"],
                r["duration_ms"],
                by,
            )
            for r in rows
        ]
        sql = (
            "INSERT INTO schema_migrations (version, name, description, checksum, source_key, "
            "reversible, fingerprint, schema_facts, applied_at, duration_ms, applied_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self._write_many(sql, values)
        for row in rows:
            self._announce(f"applied {row['version']}")

    def record_unapplied(self, version: int) -> None:
        self.record_unapplied_many([version])

    def record_unapplied_many(self, versions: Sequence[int]) -> None:
        """``record_unapplied`` for several versions, in one statement prepared once."""
        if not versions:
            return
        sql = "DELETE FROM schema_migrations WHERE version = ?"
        self._write_many(sql, [(version,) for version in versions])
        for version in versions:
            self._announce(f"unapplied {version}")

    def _announce(self, payload: str) -> None:
        """Migrations, rollbacks and stamps all change the applied set here: tell watchers (on
        backends that can, at commit; see ``ChangeNotifier``)."""
        if self._notifies is None:
            from engine.backends.base import ChangeNotifier

            # Asked once: a runtime protocol check costs more than the statement it follows.
            self._notifies = isinstance(self.backend, ChangeNotifier)
        if self._notifies:
            from typing import cast

            from engine.backends.base import ChangeNotifier

            cast(ChangeNotifier, self.backend).notify_change(payload)

    def fill_fingerprint(
        self, version: int, fingerprint: str, schema_facts: str | None = None
    ) -> None:
        """Record the schema of ``version`` if it was never taken (it was applied mid-run)."""
        if schema_facts is None:
            self._run(
                "UPDATE schema_migrations SET fingerprint = ? "
                "WHERE version = ? AND fingerprint IS NULL",
                (fingerprint, version),
            )
            return
        self._run(
            "UPDATE schema_migrations SET fingerprint = ?, schema_facts = ? "
            "WHERE version = ? AND (fingerprint IS NULL OR schema_facts IS NULL)",
            (fingerprint, schema_facts, version),
        )

    def record_schema(self, version: int, fingerprint: str, schema_facts: str) -> None:
        """Record ``version``'s schema as it is now (stamp, baseline: the operator vouches)."""
        self._run(
            "UPDATE schema_migrations SET fingerprint = ?, schema_facts = ? WHERE version = ?",
            (fingerprint, schema_facts, version),
        )

    def set_checksum(self, version: int, checksum: str, source_key: str | None) -> None:
        """``repair``: the edited code of ``version`` is accepted as what was applied."""
        self._run(
            "UPDATE schema_migrations SET checksum = ?, source_key = ? WHERE version = ?",
            (checksum, source_key, version),
        )

    def unfinished_attempts(self, version: int) -> list[tuple[int, str]]:
        """(history id, started_at) of attempts on ``version`` that began and never finished.

        An attempt that cannot run in a transaction commits its history row first with an empty
        ``finished_at`` (``IN_PROGRESS``) and fills it in when it ends; a row still empty means
        the process died in between, and only ``repair`` clears it.
        """
        if not self.has_tables():
            return []
        rows = self._run(
            "SELECT id, started_at FROM schema_migration_history "
            "WHERE version = ? AND finished_at = ? ORDER BY id",
            (version, IN_PROGRESS),
        ).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

    def begin_attempt(self, *, version: int, name: str, direction: str, started_at: str) -> int:
        """Commit-before-run history row of a step that runs outside a transaction (its
        ``finished_at`` is ``IN_PROGRESS`` until ``finish_attempt``); returns its id."""
        row = self._run(
            "INSERT INTO schema_migration_history (version, name, direction, started_at, "
            'finished_at, duration_ms, success, error, "user", host, pid) '
            "VALUES (?, ?, ?, ?, ?, 0, 0, NULL, ?, ?, ?) RETURNING id",
            (version, name, direction, started_at, IN_PROGRESS, *identity(), os.getpid()),
        ).fetchone()
        return int(row[0])

    def finish_attempt(
        self, history_id: int, *, duration_ms: float, success: bool, error: str | None
    ) -> None:
        """The attempt of ``begin_attempt`` ended (in the transaction that records its result)."""
        self._run(
            "UPDATE schema_migration_history SET finished_at = ?, duration_ms = ?, success = ?, "
            "error = ? WHERE id = ?",
            (utc_now(), duration_ms, int(success), error, history_id),
        )

    def all_unfinished(self) -> list[HistoryEntry]:
        """Every attempt that began outside a transaction and never finished, oldest first."""
        if not self.has_tables():
            return []
        rows = self._run(
            "SELECT id, version, name, direction, started_at, finished_at, duration_ms, success, "
            'error, "user", host, pid FROM schema_migration_history WHERE finished_at = ? '
            "ORDER BY id",
            (IN_PROGRESS,),
        ).fetchall()
        return [
            HistoryEntry(
                id=r[0],
                version=r[1],
                name=r[2],
                direction=r[3],
                started_at=r[4],
                finished_at=r[5],
                duration_ms=r[6],
                success=bool(r[7]),
                error=r[8],
                user=r[9],
                host=r[10],
                pid=r[11],
            )
            for r in rows
        ]

    def close_attempt(self, history_id: int, error: str) -> None:
        """Mark an unfinished attempt as ended in failure (``repair``)."""
        self._run(
            "UPDATE schema_migration_history SET finished_at = ?, success = 0, error = ? "
            "WHERE id = ?",
            (utc_now(), error, history_id),
        )

    def refresh_source_key(self, version: int, source_key: str) -> None:
        """The file was touched but its code is unchanged: remember the new stat key."""
        self._run(
            "UPDATE schema_migrations SET source_key = ? WHERE version = ?", (source_key, version)
        )

    def append_history(
        self,
        *,
        version: int,
        name: str,
        direction: str,
        started_at: str,
        finished_at: str,
        duration_ms: float,
        success: bool,
        error: str | None,
        reason: str | None = None,
        note: str | None = None,
    ) -> None:
        """One attempt; ``reason`` (the operator's why) and ``note`` (what the engine did) are
        for the lifecycle directions and need ``ensure_tables`` first."""
        if reason is None and note is None:
            self.append_history_many(
                [{k: v for k, v in locals().items() if k not in ("self", "reason", "note")}]
            )
            return
        self._run(
            "INSERT INTO schema_migration_history (version, name, direction, started_at, "
            'finished_at, duration_ms, success, error, "user", host, pid, reason, note) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                version,
                name,
                direction,
                started_at,
                finished_at,
                duration_ms,
                int(success),
                error,
                *identity(),
                os.getpid(),
                reason,
                note,
            ),
        )

    def append_history_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """``append_history`` for several attempts, in order (each row: its keyword arguments,
        without reason and note), in one statement prepared once."""
        if not rows:
            return
        user, host = identity()
        pid = os.getpid()
        values = [
            (
                r["version"],
                r["name"],
                r["direction"],
                r["started_at"],
                r["finished_at"],
                r["duration_ms"],
                int(r["success"]),
                r["error"],
                user,
                host,
                pid,
            )
            for r in rows
        ]
        sql = (
            "INSERT INTO schema_migration_history (version, name, direction, started_at, "
            'finished_at, duration_ms, success, error, "user", host, pid) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self._write_many(sql, values)

    def history(self, limit: int | None = None) -> list[HistoryEntry]:
        if not self.backend.table_exists("schema_migration_history"):
            return []
        extra = (
            "reason, note"
            if "reason" in self._columns("schema_migration_history")
            else "NULL, NULL"
        )
        sql = (
            "SELECT id, version, name, direction, started_at, finished_at, duration_ms, success, "
            f'error, "user", host, pid, {extra} FROM schema_migration_history ORDER BY id DESC'
        )
        params: tuple[int, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        table = "schema_migration_history"
        return [
            HistoryEntry(
                id=_whole(r[0], table, "id", r[0]),
                version=_whole(r[1], table, "version", r[0]),
                name=_text(r[2]),
                direction=_text(r[3]),
                started_at=_text(r[4]),
                finished_at=_text(r[5]),
                duration_ms=_number(r[6]),
                success=bool(r[7]),
                error=None if r[8] is None else str(r[8]),
                user=_text(r[9]),
                host=_text(r[10]),
                pid=_whole(r[11], table, "pid", r[0], default=0),
                reason=None if r[12] is None else str(r[12]),
                note=None if r[13] is None else str(r[13]),
            )
            for r in self._run(sql, params).fetchall()
        ]
