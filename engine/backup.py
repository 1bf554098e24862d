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
import json
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine import sqlite as sq
from engine.errors import BackupError, DatabaseLockedError, MetamigrateError, NotADatabaseError
from engine.recorder import Recorder

#: How many backups of one database are kept unless told otherwise.
DEFAULT_KEEP = 10
#: The folder beside the database that holds its backups unless told otherwise.
DEFAULT_FOLDER = "backups"

_STAMP_FORMAT = "%Y%m%dT%H%M%S"
_TEMP_PREFIX = "."
_TEMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class BackupInfo:
    """One verified backup file."""

    path: Path
    #: When it was taken, ISO 8601 UTC.
    created_at: str
    #: The highest migration version applied in the copy (equal to its PRAGMA user_version).
    version: int
    size: int
    #: Why it was taken: "manual", "before migrate to 5", "before rollback to 2", "before restore".
    reason: str = ""
    #: The database it was taken from.
    source: str = ""
    #: The application schema fingerprint of the copy (see ``engine.sqlite.schema_fingerprint``).
    fingerprint: str = ""

    @property
    def name(self) -> str:
        return self.path.name

    def to_dict(self) -> dict[str, object]:
        return {
            "file": str(self.path),
            "name": self.name,
            "created_at": self.created_at,
            "version": self.version,
            "size": self.size,
            "reason": self.reason,
            "source": self.source,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class RestoreResult:
    """What ``restore`` did: which backup was put back, and the backup of the file it replaced."""

    database: Path
    restored: BackupInfo
    #: The replaced database, itself kept as a backup (None when there was no database file).
    replaced: BackupInfo | None

    @property
    def version(self) -> int:
        return self.restored.version

    def to_dict(self) -> dict[str, object]:
        return {
            "database": str(self.database),
            "version": self.version,
            "restored": self.restored.to_dict(),
            "replaced": self.replaced.to_dict() if self.replaced else None,
        }


class BackupManager:
    """Takes, lists, prunes and restores the backups of one database file."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        backup_dir: str | os.PathLike[str] | None = None,
        *,
        keep: int = DEFAULT_KEEP,
        busy_timeout: float = 5.0,
    ) -> None:
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise BackupError(f"keep_backups must be a whole number of at least 1, not {keep!r}.")
        self.db_path = Path(db_path)
        self.folder = (
            Path(backup_dir)
            if backup_dir is not None
            else self.db_path.absolute().parent / DEFAULT_FOLDER
        )
        self.keep = keep
        self.busy_timeout = busy_timeout
        self._pattern = re.compile(
            rf"^{re.escape(self.db_path.name)}-(?P<stamp>\d{{8}}T\d{{6}}\.\d{{6}})Z-v(?P<version>\d+)"
            r"(?:-(?P<n>\d+))?\.db$"
        )

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
        self._prepare_folder()
        self._remove_stale_temps()
        created = datetime.now(UTC)
        stamp = created.strftime(_STAMP_FORMAT) + f".{created.microsecond:06d}"
        temp = (
            self.folder / f"{_TEMP_PREFIX}{self.db_path.name}-{stamp}.{os.getpid()}{_TEMP_SUFFIX}"
        )
        try:
            with self._source(conn) as source:
                version, fingerprint = self._copy_and_check(source, temp)
            final = self._publish(temp, stamp, version)
        except BaseException:
            _unlink_quietly(temp)
            raise
        info = BackupInfo(
            path=final,
            created_at=created.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            version=version,
            size=final.stat().st_size,
            reason=reason,
            source=str(self.db_path.absolute()),
            fingerprint=fingerprint,
        )
        self._write_sidecar(info)
        self.prune(protect=[final, *protect])
        return info

    def _prepare_folder(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackupError(
                f"Cannot take a backup of {self.db_path}: the backup folder {self.folder} "
                f"cannot be created ({exc.strerror or exc}); nothing was changed. Choose another "
                "folder with --backup-dir."
            ) from exc
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise BackupError(
                f"Cannot take a backup of {self.db_path}: the backup folder {self.folder} is not "
                "writable; nothing was changed. Fix its permissions or choose another folder with "
                "--backup-dir."
            )

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
        _fsync_file(temp)
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

    def _publish(self, temp: Path, stamp: str, version: int) -> Path:
        """Give the checked copy its final name without ever replacing another backup."""
        for n in range(100):
            suffix = f"-{n}" if n else ""
            final = self.folder / f"{self.db_path.name}-{stamp}Z-v{version:04d}{suffix}.db"
            try:
                os.link(temp, final)
            except FileExistsError:
                continue
            except OSError:
                # Filesystems without hard links: a rename is still atomic.
                if final.exists():
                    continue
                os.replace(temp, final)
                _fsync_dir(self.folder)
                return final
            _unlink_quietly(temp)
            _fsync_dir(self.folder)
            return final
        raise BackupError(f"Cannot name the backup in {self.folder}: too many backups at {stamp}.")

    def _write_sidecar(self, info: BackupInfo) -> None:
        # Best effort: the version and time are also in the file name and in the copy itself.
        sidecar = _sidecar(info.path)
        temp = sidecar.with_name(_TEMP_PREFIX + sidecar.name + _TEMP_SUFFIX)
        try:
            temp.write_text(json.dumps(info.to_dict(), indent=2) + "\n", encoding="utf-8")
            os.replace(temp, sidecar)
        except OSError:
            _unlink_quietly(temp)

    def _remove_stale_temps(self) -> None:
        """Delete temporary files left by a backup whose process died (a crash or a SIGKILL)."""
        _remove_dead_temps(self.folder, f"{_TEMP_PREFIX}{self.db_path.name}-")

    # -- listing and retention ------------------------------------------------------------------

    def list_backups(self) -> list[BackupInfo]:
        """This database's backups, newest first (other databases' backups are skipped)."""
        try:
            entries = list(os.scandir(self.folder))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise BackupError(
                f"Cannot read the backup folder {self.folder}: {exc.strerror or exc}."
            ) from exc
        found: list[BackupInfo] = []
        for entry in entries:
            match = self._pattern.match(entry.name)
            if match is None or not entry.is_file():
                continue
            found.append(self._info(Path(entry.path), match))
        found.sort(key=lambda info: (info.created_at, info.name), reverse=True)
        return found

    def _info(self, path: Path, match: re.Match[str]) -> BackupInfo:
        stamp = datetime.strptime(match["stamp"], _STAMP_FORMAT + ".%f").replace(tzinfo=UTC)
        created_at = stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")
        meta: dict[str, object] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(_sidecar(path).read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                meta = loaded
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        return BackupInfo(
            path=path,
            created_at=created_at,
            version=int(match["version"]),
            size=size,
            reason=str(meta.get("reason", "")),
            source=str(meta.get("source", "")),
            fingerprint=str(meta.get("fingerprint", "")),
        )

    def prune(self, keep: int | None = None, *, protect: Iterable[Path] = ()) -> list[Path]:
        """Delete all but the newest ``keep`` backups (never those in ``protect``); return them."""
        limit = self.keep if keep is None else keep
        protected = {p.absolute() for p in protect}
        removed: list[Path] = []
        for info in self.list_backups()[limit:]:
            if info.path.absolute() in protected:
                continue
            _unlink_quietly(info.path)
            _unlink_quietly(_sidecar(info.path))
            removed.append(info.path)
        return removed

    def resolve(self, backup: str | os.PathLike[str] | BackupInfo) -> Path:
        """A backup given as a BackupInfo, a path, or a file name in the backup folder."""
        if isinstance(backup, BackupInfo):
            return backup.path
        path = Path(backup)
        if path.exists():
            return path
        in_folder = self.folder / path.name
        if in_folder.exists():
            return in_folder
        raise BackupError(
            f"Backup {backup} does not exist (looked in {self.folder} too); list them with "
            "metamigrate backups."
        )

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
        match = self._pattern.match(path.name)
        if match is not None:
            listed = self._info(path, match)
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
            created_at=created.isoformat(timespec="microseconds").replace("+00:00", "Z"),
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
        _remove_dead_temps(folder, f"{_TEMP_PREFIX}{self.db_path.name}.restore.")
        temp = folder / f"{_TEMP_PREFIX}{self.db_path.name}.restore.{os.getpid()}{_TEMP_SUFFIX}"
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
            _fsync_dir(folder)
        except BaseException:
            _unlink_quietly(temp)
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
        _fsync_file(temp)

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


def _remove_dead_temps(folder: Path, prefix: str) -> None:
    """Delete ``<prefix>...<pid>.tmp`` files whose process is gone (killed mid-backup/restore)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if not (entry.name.startswith(prefix) and entry.name.endswith(_TEMP_SUFFIX)):
                continue
            pid_text = entry.name[: -len(_TEMP_SUFFIX)].rsplit(".", 1)[-1]
            if pid_text.isdigit() and not _process_alive(int(pid_text)):
                _unlink_quietly(Path(entry.path))


def _is_source_error(exc: BaseException) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    return (
        name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_BUSY", "SQLITE_LOCKED"))
        or "malformed" in text
        or "not a database" in text
        or "locked" in text
    )


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; not every platform can open a folder.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
        path.unlink()


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
