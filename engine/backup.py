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
from pathlib import Path
from typing import Any

from engine.backends import as_backend, backend_module, open_backend, validate_location
from engine.backends.base import Backend, BackupFacts, ConnectOptions
from engine.backup_folder import (
    DEFAULT_FOLDER,
    DEFAULT_KEEP,
    BackupFolder,
    BackupInfo,
    FolderBackups,
    RestoreResult,
    check_keep,
)
from engine.errors import BackupError, BackupTargetError, NotADatabaseError
from engine.files import remove_dead_temps
from engine.settings import DEFAULT_BUSY_TIMEOUT, default_backup_folder

__all__ = ["DEFAULT_FOLDER", "DEFAULT_KEEP", "BackupInfo", "BackupManager", "RestoreResult"]


class BackupManager(FolderBackups):
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
        given = Path(db_path)
        # A symlinked database is backed up and restored as the file it points at: the link stays
        # a link, and the backups are named after (and kept beside) the real file.
        self.db_path = given if str(given) == ":memory:" else Path(os.path.realpath(given))
        self.folder = (
            Path(backup_dir) if backup_dir is not None else default_backup_folder(self.db_path)
        )
        self.keep = keep
        self.busy_timeout = busy_timeout
        self._identity: str | None = None
        self._identity_read = False
        self._files = BackupFolder(
            self.folder,
            self.db_path.name,
            ".db",
            source=str(self.db_path),
            owner_id=self.database_id,
            read_id=lambda path: _read_database_id(path, 0),
        )

    def database_id(self) -> str | None:
        """The id in this database's bookkeeping (None: no file, or no id yet)."""
        if not self._identity_read:
            self._identity = _read_database_id(self.db_path, self.busy_timeout)
            self._identity_read = True
        return self._identity

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
        prune: bool = True,
    ) -> BackupInfo:
        """Copy the database online (consistent with WAL and concurrent readers), verify, keep it.

        ``conn`` is a connection to the database outside any transaction; when it is omitted a
        fresh one is opened (so a caller may hold the write lock on its own connection meanwhile:
        the copy is then exactly what its run starts from). ``prune=False`` leaves retention to
        the caller, who prunes only once its run has succeeded. Raises ``BackupError`` saying why
        when no verified backup could be made; nothing is left behind in that case.
        """
        if conn is not None and conn.in_transaction:
            raise BackupError(
                "Cannot take a backup from inside a transaction; commit or roll back first."
            )
        self._files.prepare(str(self.db_path))
        # Copies left beside the database by restores that were killed (their writer is gone).
        remove_dead_temps(self.db_path.parent, f".{self.db_path.name}.restore.", ".tmp")

        def copy(temp: Path) -> BackupFacts:
            with self._source(conn) as source:
                return self._copy_and_check(source, temp)

        final, created, facts = self._write(copy)
        if facts.database_id:
            self._identity, self._identity_read = facts.database_id, True
        return self._kept(
            final,
            created,
            facts,
            reason=reason,
            source=str(self.db_path.absolute()),
            prune=prune,
            protect=protect,
        )

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

    def _copy_and_check(self, source: Backend, temp: Path) -> BackupFacts:
        """Write the copy to ``temp``, check it, flush it; say what it holds."""
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
        return facts

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
        return self._described(path, facts, sidecar_fingerprint=False)

    # -- restoring ------------------------------------------------------------------------------

    def restore(self, backup: str | os.PathLike[str] | BackupInfo) -> RestoreResult:
        """Put a backup back in place of the database, atomically.

        The backup is checked, copied to a temporary file in the database's folder and flushed;
        then, holding the database's lock (refused if another process holds it past the busy
        timeout, and for a WAL database while any other connection has it open), the current file
        is itself backed up and the copy is renamed over it. The journal mode is never switched,
        so a crash at any moment leaves the old database, as it was, or the backup. A symlinked
        database keeps its link: the file it points at is replaced. A backup of another database
        (another id) is refused. Processes that keep the old file open keep seeing the old data:
        stop them first. A restore that fails keeps no backup of its own and prunes nothing.
        """
        source_path = self.resolve(backup)
        info = self.describe(source_path)
        if source_path.absolute() == self.db_path.absolute():
            raise BackupError(f"Cannot restore {source_path} onto itself; choose a backup file.")
        own = self.database_id()
        if own and info.database_id and own != info.database_id:
            origin = f"{info.source}, " if info.source else ""
            raise BackupError(
                f"Cannot restore {info.path}: it is a backup of another database ({origin}id "
                f"{info.database_id}), not of {self.db_path}; nothing was changed. Restore one "
                f"of this database's backups (metamigrate backups), or move {self.db_path} "
                "aside first to put that one in its place."
            )
        replaced: list[BackupInfo] = []
        live: Backend | None = None
        if self.db_path.exists():
            live = open_backend(self.db_path, self._options(create=False))
        try:

            def keep_current() -> None:
                assert live is not None
                # Under the restore's lock: in WAL mode the exclusive connection itself holds
                # it; otherwise the write lock, held on ``live``, leaves readers (a fresh
                # connection for the copy) in.
                source = None if live.in_transaction else live
                replaced.append(self.take(source, reason="before restore", prune=False))

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
        except BaseException:
            for kept in replaced:
                self.discard(kept)  # nothing was restored: its copy is not needed
            raise
        finally:
            if live is not None:
                live.close()
        self._identity_read = False
        self.prune(protect=[source_path, *(info.path for info in replaced)])
        return RestoreResult(self.db_path, info, replaced[0] if replaced else None)


def _read_database_id(path: Path, busy_timeout: float) -> str | None:
    """The database id inside ``path`` (a database or a backup), None when it has none."""
    from engine.backup_folder import is_regular

    if str(path) == ":memory:" or not is_regular(path):
        return None
    reader = getattr(backend_module(path), "read_database_id", None)
    return None if reader is None else reader(path, busy_timeout=busy_timeout)
