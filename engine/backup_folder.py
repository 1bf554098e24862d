"""The backups folder, whatever the database: naming, sidecars, listing, retention, publishing.

Invariant: a file with a backup's final name is complete and verified. A backup is written under
a hidden temporary name ``.<prefix>-<stamp>.<pid>.tmp``, checked by its backend, flushed, then given
its final name ``<prefix>-<UTC time>-v<version><suffix>`` by a link or rename that never replaces
another backup. A small JSON sidecar (``<name>.json``) records the source, the reason, the schema
version and fingerprint; the version and time are also in the name, so a backup without its sidecar
is still listed.

Backends (``engine.backup`` for SQLite files, ``engine.backends.pg_backup`` for PostgreSQL schemas)
make and check the copies; this module owns the folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.backends.base import BackupFacts
from engine.errors import BackupError
from engine.files import fsync_dir, remove_dead_temps, unlink_quietly
from engine.settings import DEFAULT_BACKUP_FOLDER, DEFAULT_KEEP_BACKUPS

#: How many backups of one database are kept unless told otherwise.
DEFAULT_KEEP = DEFAULT_KEEP_BACKUPS
#: The folder beside the database that holds its backups unless told otherwise.
DEFAULT_FOLDER = DEFAULT_BACKUP_FOLDER

STAMP_FORMAT = "%Y%m%dT%H%M%S"
TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class BackupInfo:
    """One verified backup file."""

    path: Path
    #: When it was taken, ISO 8601 UTC.
    created_at: str
    #: The highest migration version applied in the copy.
    version: int
    size: int
    #: Why it was taken: "manual", "before migrate to 5", "before rollback to 2", "before restore".
    reason: str = ""
    #: The database it was taken from (a file path, or a PostgreSQL URL without its password).
    source: str = ""
    #: The application schema fingerprint of the copy ("" when the backend records none).
    fingerprint: str = ""
    #: The id of the database it was taken from ("" when the database had none).
    database_id: str = ""

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
            "database_id": self.database_id,
        }


@dataclass(frozen=True)
class RestoreResult:
    """What ``restore`` did: which backup was put back, and the backup of what it replaced."""

    #: The database file (SQLite) or the URL without its password and the schema (PostgreSQL).
    database: Path | str
    restored: BackupInfo
    #: The replaced database, itself kept as a backup (None when there was nothing to replace).
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


def check_keep(keep: object) -> int:
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise BackupError(f"keep_backups must be a whole number of at least 1, not {keep!r}.")
    return keep


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


class BackupFolder:
    """The backups of one database in one folder: ``<prefix>-<stamp>Z-v<version><suffix>``.

    Two databases may share a file name and a folder. When the backend gives databases an id
    (``owner_id``: the id of this database, None when it has none yet; ``read_id``: the id inside
    a backup file, for one whose sidecar is missing), a backup belongs to this database when its
    id is this database's; one without an id (taken before the database had one) when its sidecar
    names ``source``. Other databases' backups are never listed, pruned or restored as this one's.
    """

    def __init__(
        self,
        folder: Path,
        prefix: str,
        suffix: str,
        *,
        source: str = "",
        owner_id: Callable[[], str | None] | None = None,
        read_id: Callable[[Path], str | None] | None = None,
    ) -> None:
        self.folder = folder
        self.prefix = prefix
        self.suffix = suffix
        self.source = source
        self._owner_id = owner_id
        self._read_id = read_id
        self._pattern = re.compile(
            rf"^{re.escape(prefix)}-(?P<stamp>\d{{8}}T\d{{6}}\.\d{{6}})Z-v(?P<version>\d+)"
            rf"(?:-(?P<n>\d+))?{re.escape(suffix)}$"
        )

    # -- writing ----------------------------------------------------------------------------------

    def prepare(self, what: str) -> None:
        """Create the folder and check it is writable; ``what`` names the database in errors."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackupError(
                f"Cannot take a backup of {what}: the backup folder {self.folder} "
                f"cannot be created ({exc.strerror or exc}); nothing was changed. Choose another "
                "folder with --backup-dir."
            ) from exc
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise BackupError(
                f"Cannot take a backup of {what}: the backup folder {self.folder} is not "
                "writable; nothing was changed. Fix its permissions or choose another folder with "
                "--backup-dir."
            )
        self.remove_stale_temps()

    def new_temp(self) -> tuple[datetime, str, Path]:
        """(time, stamp, temporary path) for a backup about to be written."""
        created = datetime.now(UTC)
        stamp = created.strftime(STAMP_FORMAT) + f".{created.microsecond:06d}"
        temp = self.folder / f"{TEMP_PREFIX}{self.prefix}-{stamp}.{os.getpid()}{TEMP_SUFFIX}"
        return created, stamp, temp

    def remove_stale_temps(self) -> None:
        """Delete temporary files left by a backup whose process died (a crash or a SIGKILL)."""
        remove_dead_temps(self.folder, f"{TEMP_PREFIX}{self.prefix}-", TEMP_SUFFIX)

    def publish(self, temp: Path, stamp: str, version: int) -> Path:
        """Give the checked copy its final name without ever replacing another backup."""
        for n in range(100):
            extra = f"-{n}" if n else ""
            final = self.folder / f"{self.prefix}-{stamp}Z-v{version:04d}{extra}{self.suffix}"
            try:
                os.link(temp, final)
            except FileExistsError:
                continue
            except OSError:
                # Filesystems without hard links: a rename is still atomic.
                if final.exists():
                    continue
                os.replace(temp, final)
                fsync_dir(self.folder)
                return final
            unlink_quietly(temp)
            fsync_dir(self.folder)
            return final
        raise BackupError(f"Cannot name the backup in {self.folder}: too many backups at {stamp}.")

    def write_sidecar(self, info: BackupInfo) -> None:
        # Best effort: the version and time are also in the file name.
        sidecar = sidecar_path(info.path)
        # Named with the writer's pid, as the copies are: a run killed while writing it leaves a
        # temporary file the next run can tell is dead (and removes).
        temp = sidecar.with_name(f"{TEMP_PREFIX}{sidecar.name}.{os.getpid()}{TEMP_SUFFIX}")
        try:
            temp.write_text(json.dumps(info.to_dict(), indent=2) + "\n", encoding="utf-8")
            os.replace(temp, sidecar)
        except OSError:
            unlink_quietly(temp)

    # -- reading ----------------------------------------------------------------------------------

    def backups(self) -> list[BackupInfo]:
        """This database's backups, newest first (other databases' backups are skipped)."""
        try:
            entries = list(os.scandir(self.folder))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise BackupError(
                f"Cannot read the backup folder {self.folder}: {exc.strerror or exc}."
            ) from exc
        own = self._owner_id() if self._owner_id is not None else None
        found: list[BackupInfo] = []
        for entry in entries:
            match = self._pattern.match(entry.name)
            if match is None or not is_regular(Path(entry.path)):
                continue
            info = self._info(Path(entry.path), match)
            if self.belongs(info, own):
                found.append(info)
        found.sort(key=lambda info: (info.created_at, info.name), reverse=True)
        return found

    def belongs(self, info: BackupInfo, own: str | None) -> bool:
        """Whether ``info`` is a backup of this database (see the class docstring)."""
        if self._owner_id is None:
            return True  # the backend names its backups uniquely (database and schema)
        if own and info.database_id:
            return info.database_id == own
        if info.source and self.source:
            return same_file(info.source, self.source)
        return True  # a bare copy with neither an id nor a sidecar: known by its name only

    def listed(self, path: Path) -> BackupInfo | None:
        """The listing entry of ``path`` when it has a backup's name of this database."""
        match = self._pattern.match(path.name)
        return self._info(path, match) if match is not None else None

    def _info(self, path: Path, match: re.Match[str]) -> BackupInfo:
        stamp = datetime.strptime(match["stamp"], STAMP_FORMAT + ".%f").replace(tzinfo=UTC)
        meta: dict[str, object] = {}
        with contextlib.suppress(OSError, ValueError):
            sidecar = sidecar_path(path)
            if is_regular(sidecar):
                loaded = json.loads(sidecar.read_text(encoding="utf-8"))
                if isinstance(loaded, dict):
                    meta = loaded
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        database_id = meta.get("database_id")
        if not meta and self._read_id is not None:
            # No sidecar: the copy itself holds the id of the database it was taken from.
            database_id = self._read_id(path)
        return BackupInfo(
            path=path,
            created_at=iso(stamp),
            version=int(match["version"]),
            size=size,
            reason=str(meta.get("reason", "")),
            source=str(meta.get("source", "")),
            fingerprint=str(meta.get("fingerprint", "")),
            database_id=str(database_id or ""),
        )

    def prune(self, keep: int, *, protect: Iterable[Path] = ()) -> list[Path]:
        """Delete all but the newest ``keep`` backups (never those in ``protect``); return them.

        The newest backup of every schema version found is kept too, so pruning never leaves
        fewer distinct versions than it found. Callers prune only after a run that succeeded.
        """
        protected = {p.absolute() for p in protect}
        backups = self.backups()
        kept = {info.path for info in backups[:keep]}
        newest_of: dict[int, Path] = {}
        for info in backups:  # newest first
            newest_of.setdefault(info.version, info.path)
        kept.update(newest_of.values())
        removed: list[Path] = []
        for info in backups:
            if info.path in kept or info.path.absolute() in protected:
                continue
            unlink_quietly(info.path)
            unlink_quietly(sidecar_path(info.path))
            removed.append(info.path)
        return removed

    def discard(self, info: BackupInfo) -> None:
        """Delete a backup this process just took for a run that then changed nothing."""
        unlink_quietly(info.path)
        unlink_quietly(sidecar_path(info.path))

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


class FolderBackups:
    """What every backend's backup manager does the same way through its ``BackupFolder``:
    write a checked copy under a temporary name and publish it, keep its sidecar, list, prune,
    resolve and discard. Subclasses make and check the copies (``engine.backup`` for SQLite
    files, ``engine.backends.pg_backup`` for PostgreSQL schemas) and set ``folder``, ``keep`` and
    ``_files``."""

    folder: Path
    keep: int
    _files: BackupFolder

    def _write(self, make: Callable[[Path], BackupFacts]) -> tuple[Path, datetime, BackupFacts]:
        """``make(temp)`` writes and checks the copy; it is published under its final name.
        Nothing is left behind when either raises."""
        created, stamp, temp = self._files.new_temp()
        try:
            facts = make(temp)
            final = self._files.publish(temp, stamp, facts.version)
        except BaseException:
            unlink_quietly(temp)
            raise
        return final, created, facts

    def _kept(
        self,
        final: Path,
        created: datetime,
        facts: BackupFacts,
        *,
        reason: str,
        source: str,
        prune: bool,
        protect: Iterable[Path],
    ) -> BackupInfo:
        """The listing entry of a published backup, its sidecar written, retention run."""
        info = BackupInfo(
            path=final,
            created_at=iso(created),
            version=facts.version,
            size=final.stat().st_size,
            reason=reason,
            source=source,
            fingerprint=facts.fingerprint,
            database_id=facts.database_id,
        )
        self._files.write_sidecar(info)
        if prune:
            self.prune(protect=[final, *protect])
        return info

    def _described(
        self, path: Path, facts: BackupFacts, *, sidecar_fingerprint: bool
    ) -> BackupInfo:
        """The entry of a checked backup file: its listing (name, sidecar) when it has a
        backup's name here, else what the file says. ``sidecar_fingerprint``: the fingerprint
        comes from the sidecar (the file holds none)."""
        listed = self._files.listed(path)
        if listed is not None:
            return BackupInfo(
                listed.path,
                listed.created_at,
                facts.version,
                listed.size,
                listed.reason,
                listed.source,
                listed.fingerprint if sidecar_fingerprint else facts.fingerprint,
                facts.database_id or listed.database_id,
            )
        return BackupInfo(
            path=path,
            created_at=iso(datetime.fromtimestamp(path.stat().st_mtime, UTC)),
            version=facts.version,
            size=path.stat().st_size,
            fingerprint=facts.fingerprint,
            database_id=facts.database_id,
        )

    def discard(self, info: BackupInfo) -> None:
        """Delete a backup this process just took for a run that then changed nothing."""
        self._files.discard(info)

    def list_backups(self) -> list[BackupInfo]:
        """This database's backups, newest first (other databases' backups are skipped)."""
        return self._files.backups()

    def prune(self, keep: int | None = None, *, protect: Iterable[Path] = ()) -> list[Path]:
        """Delete all but the newest ``keep`` backups (never those in ``protect``); return them."""
        return self._files.prune(self.keep if keep is None else keep, protect=protect)

    def resolve(self, backup: str | os.PathLike[str] | BackupInfo) -> Path:
        """A backup given as a BackupInfo, a path, or a file name in the backup folder."""
        return self._files.resolve(backup)


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def is_regular(path: Path) -> bool:
    """A regular file (following symlinks); never opens it, so a FIFO or device cannot block."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def same_file(recorded: str, path: str | os.PathLike[str]) -> bool:
    return recorded == str(path) or os.path.realpath(recorded) == os.path.realpath(path)
