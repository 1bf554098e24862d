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
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.backends import as_backend, backend_module, open_backend, validate_location
from engine.backends.base import Backend, ConnectOptions
from engine.backup_folder import (
    DEFAULT_FOLDER,
    DEFAULT_KEEP,
    BackupFolder,
    BackupInfo,
    RestoreResult,
    check_keep,
    iso,
)
from engine.errors import BackupError, BackupTargetError, NotADatabaseError
from engine.files import unlink_quietly
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
        conn: Backend | Any | None = None,
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
    def _source(self, conn: Backend | Any | None) -> Iterator[Backend]:
        if conn is not None:
            yield as_backend(conn, self._options())
            return
        source = open_backend(self.db_path, self._options(create=False))
        try:
            yield source
        finally:
            source.close()

    def _options(self, *, create: bool = True) -> ConnectOptions:
        return ConnectOptions(busy_timeout=self.busy_timeout, create=create)

    def _copy_and_check(self, source: Backend, temp: Path) -> tuple[int, str]:
        """Write the copy to ``temp``, check it, flush it; return (version, fingerprint)."""
        try:
            facts = source.backup_to(temp)
        except BackupTargetError as exc:
            raise BackupError(
                f"Cannot take a backup of {self.db_path} into {self.folder}: {exc.message}; "
                "nothing was run. Free space or choose another folder with --backup-dir."
            ) from exc
        if facts.problems:
            raise BackupError(
                f"The backup of {self.db_path} failed its integrity check ({facts.problems[0]}): "
                "the database itself is damaged, so nothing was run. Restore an earlier backup "
                "(metamigrate backups) or repair the file first."
            )
        return facts.version, facts.fingerprint

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
            validate_location(path)
        except NotADatabaseError as exc:
            raise NotADatabaseError(f"Cannot restore {path}: {exc.message}") from exc
        if path.is_dir() or not path.exists():
            raise BackupError(f"Backup {path} does not exist or is not a file.")
        facts = backend_module(path).describe_backup_file(path, busy_timeout=self.busy_timeout)
        if facts.problems:
            raise BackupError(
                f"Backup {path} fails its integrity check ({facts.problems[0]}); nothing was "
                "changed. Choose another backup."
            )
        version, fingerprint = facts.version, facts.fingerprint
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
        replaced: list[BackupInfo] = []
        live: Backend | None = None
        if self.db_path.exists():
            live = open_backend(self.db_path, self._options(create=False))
        try:

            def keep_current() -> None:
                assert live is not None
                replaced.append(self.take(live, reason="before restore", protect=[source_path]))

            if live is not None:
                live.restore_from(source_path, keep_current)
            else:
                backend_module(self.db_path).restore_file(
                    source_path,
                    self.db_path,
                    keep_current,
                    live=None,
                    busy_timeout=self.busy_timeout,
                )
        finally:
            if live is not None:
                live.close()
        self.prune(protect=[source_path, *(info.path for info in replaced)])
        return RestoreResult(self.db_path, info, replaced[0] if replaced else None)
