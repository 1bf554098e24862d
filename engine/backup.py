"""Verified online backups of the database, their retention, and atomic restores.

Invariant: a file that ``BackupManager.list_backups()`` returns is a complete copy that passed
``PRAGMA quick_check`` before it got its final name (it is written under a hidden temporary name,
checked, flushed to disk, then renamed), so a crash or a full disk never leaves a half backup that
looks like a good one.

Backups live in a folder beside the database (``backups/`` by default) and are named
``<database file name>-<UTC time>-v<version>.db``, e.g.
``metadata.db-20261126T033000.000000Z-v0004.db``, with a small JSON sidecar (``.json``) recording
the source, the reason, the schema version and fingerprint. The version is also in the file name
and in the copy's own ``PRAGMA user_version``, so a backup without its sidecar is still listed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from engine import sqlite as sq
from engine.backup_folder import (
    DEFAULT_FOLDER,
    DEFAULT_KEEP,
    TEMP_PREFIX,
    TEMP_SUFFIX,
    BackupFolder,
    BackupInfo,
    RestoreResult,
    check_keep,
    iso,
)
from engine.errors import BackupError, DatabaseLockedError, MetamigrateError, NotADatabaseError
from engine.files import fsync_dir, fsync_file, remove_dead_temps, unlink_quietly
from engine.recorder import Recorder
from engine.settings import DEFAULT_BUSY_TIMEOUT

__all__ = ["DEFAULT_FOLDER", "DEFAULT_KEEP", "BackupInfo", "BackupManager", "RestoreResult"]


class BackupManager:
    """Takes, lists, prunes and restores the backups of one database file."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        backup_dir: str | os.PathLike[str] | None = None,
        *,
        keep: int = DEFAULT_KEEP,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        check_keep(keep)
        self.db_path = Path(db_path)
        self.folder = (
            Path(backup_dir)
            if backup_dir is not None
            else self.db_path.absolute().parent / DEFAULT_FOLDER
        )
        self.keep = keep
        self.busy_timeout = busy_timeout
        self._files = BackupFolder(self.folder, self.db_path.name, ".db")

    def __repr__(self) -> str:
        return (
            f"BackupManager({str(self.db_path)!r}, folder={str(self.folder)!r}, keep={self.keep})"
        )

    # -- taking ---------------------------------------------------------------------------------

    def take(
        self,
        conn: sqlite3.Connection | None = None,
        *,
        reason: str = "manual",
        protect: Iterable[Path] = (),
    ) -> BackupInfo:
        """Copy the database online (consistent with WAL and concurrent readers), verify, keep it.

        ``conn`` is a connection to the database outside any transaction (a fresh one is opened
        when it is omitted). Raises ``BackupError`` saying why when no verified backup could be
        made; nothing is left behind in that case.
        """
        if conn is not None and conn.in_transaction:
            raise BackupError(
                "Cannot take a backup from inside a transaction; commit or roll back first."
            )
        self._files.prepare(str(self.db_path))
        created, stamp, temp = self._files.new_temp()
        try:
            with self._source(conn) as source:
                version, fingerprint = self._copy_and_check(source, temp)
            final = self._files.publish(temp, stamp, version)
        except BaseException:
            unlink_quietly(temp)
            raise
        info = BackupInfo(
            path=final,
            created_at=iso(created),
            version=version,
            size=final.stat().st_size,
            reason=reason,
            source=str(self.db_path.absolute()),
            fingerprint=fingerprint,
        )
        self._files.write_sidecar(info)
        self.prune(protect=[final, *protect])
        return info

    @contextlib.contextmanager
    def _source(self, conn: sqlite3.Connection | None) -> Iterator[sqlite3.Connection]:
        if conn is not None:
            yield conn
            return
        source = sq.connect(self.db_path, busy_timeout=self.busy_timeout, create=False)
        try:
            yield source
        finally:
            source.close()

    def _copy_and_check(self, source: sqlite3.Connection, temp: Path) -> tuple[int, str]:
        """Write the copy to ``temp``, check it, flush it; return (version, fingerprint)."""
        try:
            target = sqlite3.connect(temp, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._write_error(exc) from exc
        try:
            try:
                # One step (pages=-1): the copy is a single consistent snapshot, WAL included.
                source.backup(target)
            except sqlite3.Error as exc:
                if _is_source_error(exc):
                    raise sq.translate_error(
                        exc, self.db_path, action="back up", busy_timeout=self.busy_timeout
                    ) from exc
                raise self._write_error(exc) from exc
            try:
                problems = sq.integrity_problems(target)
                version = Recorder(target).head()[0]
                fingerprint = sq.schema_fingerprint(target)
                # A backup is one self-contained file, whatever the source's journal mode.
                target.execute("PRAGMA journal_mode = DELETE").fetchone()
            except sqlite3.Error as exc:
                if _is_source_error(exc):
                    problems = [str(exc)]
                    version, fingerprint = 0, ""
                else:
                    raise self._write_error(exc) from exc
        finally:
            target.close()
        if problems:
            raise BackupError(
                f"The backup of {self.db_path} failed its integrity check ({problems[0]}): the "
                "database itself is damaged, so nothing was run. Restore an earlier backup "
                "(metamigrate backups) or repair the file first."
            )
        fsync_file(temp)
        return version, fingerprint

    def _write_error(self, exc: BaseException) -> BackupError:
        name = getattr(exc, "sqlite_errorname", "") or ""
        text = str(exc)
        if name.startswith("SQLITE_FULL") or "disk is full" in text:
            why = "the disk is full"
        elif name.startswith("SQLITE_IOERR") or "I/O error" in text:
            why = f"writing failed ({text}: the disk may be full or failing)"
        elif name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY")) or "unable to open" in text:
            why = "the folder is not writable"
        else:
            why = text
        return BackupError(
            f"Cannot take a backup of {self.db_path} into {self.folder}: {why}; nothing was run. "
            "Free space or choose another folder with --backup-dir."
        )

    # -- listing and retention ------------------------------------------------------------------

    def list_backups(self) -> list[BackupInfo]:
        """This database's backups, newest first (other databases' backups are skipped)."""
        return self._files.backups()

    def prune(self, keep: int | None = None, *, protect: Iterable[Path] = ()) -> list[Path]:
        """Delete all but the newest ``keep`` backups (never those in ``protect``); return them."""
        return self._files.prune(self.keep if keep is None else keep, protect=protect)

    def resolve(self, backup: str | os.PathLike[str] | BackupInfo) -> Path:
        """A backup given as a BackupInfo, a path, or a file name in the backup folder."""
        return self._files.resolve(backup)

    def describe(self, path: Path) -> BackupInfo:
        """Read a backup file (any SQLite file) and check it: it must pass quick_check."""
        try:
            sq.validate_database_file(path)
        except NotADatabaseError as exc:
            raise NotADatabaseError(f"Cannot restore {path}: {exc.message}") from exc
        if path.is_dir() or not path.exists():
            raise BackupError(f"Backup {path} does not exist or is not a file.")
        try:
            conn = sq.connect(path, read_only=True, busy_timeout=self.busy_timeout, create=False)
        except MetamigrateError as exc:
            raise BackupError(f"Cannot restore {path}: {exc.message}") from exc
        try:
            problems = sq.integrity_problems(conn)
            version = Recorder(conn).head()[0]
            fingerprint = sq.schema_fingerprint(conn)
        except sqlite3.Error as exc:
            problems, version, fingerprint = [str(exc)], 0, ""
        finally:
            conn.close()
        if problems:
            raise BackupError(
                f"Backup {path} fails its integrity check ({problems[0]}); nothing was changed. "
                "Choose another backup."
            )
        listed = self._files.listed(path)
        if listed is not None:
            return BackupInfo(
                listed.path,
                listed.created_at,
                version,
                listed.size,
                listed.reason,
                listed.source,
                fingerprint,
            )
        created = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        return BackupInfo(
            path=path,
            created_at=iso(created),
            version=version,
            size=path.stat().st_size,
            fingerprint=fingerprint,
        )

    # -- restoring ------------------------------------------------------------------------------

    def restore(self, backup: str | os.PathLike[str] | BackupInfo) -> RestoreResult:
        """Put a backup back in place of the database, atomically.

        The backup is checked, copied to a temporary file in the database's folder and flushed;
        then, holding the database's write lock (refused if another process holds it past the
        busy timeout), the current file is itself backed up and the copy is renamed over it.
        Processes that keep the old file open keep seeing the old data: stop them first.
        """
        source_path = self.resolve(backup)
        info = self.describe(source_path)
        if source_path.absolute() == self.db_path.absolute():
            raise BackupError(f"Cannot restore {source_path} onto itself; choose a backup file.")
        folder = self.db_path.absolute().parent
        if not folder.is_dir():
            raise BackupError(f"Cannot restore into {folder}: the folder does not exist.")
        remove_dead_temps(folder, f"{TEMP_PREFIX}{self.db_path.name}.restore.", TEMP_SUFFIX)
        temp = folder / f"{TEMP_PREFIX}{self.db_path.name}.restore.{os.getpid()}{TEMP_SUFFIX}"
        live: sqlite3.Connection | None = None
        wal = False
        try:
            if self.db_path.exists():
                live = sq.connect(self.db_path, busy_timeout=self.busy_timeout, create=False)
                wal = _leave_wal_mode(live, self.db_path)
            self._copy_for_restore(source_path, temp, wal=wal)
            replaced: BackupInfo | None = None
            if live is not None:
                replaced = self.take(live, reason="before restore", protect=[source_path])
                changed_at = sq.data_version(live)
                self._lock_for_restore(live)
                if sq.data_version(live) != changed_at:
                    raise DatabaseLockedError(
                        f"Cannot restore {self.db_path}: another process wrote to it while it was "
                        "being backed up; nothing was changed. Stop it and retry."
                    )
            os.replace(temp, self.db_path)
            fsync_dir(folder)
        except BaseException:
            unlink_quietly(temp)
            if live is not None and wal:
                # Nothing was restored: put the database back in WAL mode as it was.
                sq.rollback_if_open(live)
                with contextlib.suppress(sqlite3.Error):
                    live.execute("PRAGMA journal_mode = WAL").fetchone()
            raise
        finally:
            if live is not None:
                sq.rollback_if_open(live)
                live.close()
        self.prune(protect=[source_path] + ([replaced.path] if replaced else []))
        return RestoreResult(self.db_path, info, replaced)

    def _copy_for_restore(self, source_path: Path, temp: Path, *, wal: bool) -> None:
        try:
            source = sq.connect(
                source_path, read_only=True, busy_timeout=self.busy_timeout, create=False
            )
        except MetamigrateError as exc:
            raise BackupError(f"Cannot read backup {source_path}: {exc.message}") from exc
        try:
            target = sqlite3.connect(temp, isolation_level=None)
            try:
                source.backup(target)
                target.execute(f"PRAGMA journal_mode = {'WAL' if wal else 'DELETE'}").fetchone()
            finally:
                target.close()
        except sqlite3.Error as exc:
            raise BackupError(
                f"Cannot restore {source_path}: writing the copy beside {self.db_path} failed "
                f"({exc}); nothing was changed. Free space and retry."
            ) from exc
        finally:
            source.close()
        fsync_file(temp)

    def _lock_for_restore(self, live: sqlite3.Connection) -> None:
        try:
            live.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            translated = sq.translate_error(exc, self.db_path, busy_timeout=self.busy_timeout)
            if isinstance(translated, DatabaseLockedError):
                raise DatabaseLockedError(
                    f"Cannot restore {self.db_path}: another process holds its write lock (waited "
                    f"{self.busy_timeout:g} s); nothing was changed. Stop it and retry."
                ) from exc
            raise translated from exc


def _leave_wal_mode(live: sqlite3.Connection, path: Path) -> bool:
    """Checkpoint and leave WAL mode, so no -wal file of the old database can meet the new one.

    SQLite only allows this with no other connection open, which is also the check that nobody is
    using the database. Returns whether it was in WAL mode.
    """
    mode = str(live.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    if mode != "wal":
        return False
    try:
        live.execute("PRAGMA journal_mode = DELETE").fetchone()
    except sqlite3.Error as exc:
        raise DatabaseLockedError(
            f"Cannot restore {path}: other connections have it open (WAL mode); nothing was "
            "changed. Stop them and retry."
        ) from exc
    mode = str(live.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    if mode == "wal":
        raise DatabaseLockedError(
            f"Cannot restore {path}: other connections have it open (WAL mode); nothing was "
            "changed. Stop them and retry."
        )
    return True


def _is_source_error(exc: BaseException) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    return (
        name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_BUSY", "SQLITE_LOCKED"))
        or "malformed" in text
        or "not a database" in text
        or "locked" in text
    )
