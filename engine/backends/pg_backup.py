"""PostgreSQL schema backups: ``pg_dump --format=custom``, verified, restored in one transaction.

Invariant: a backup this module wrote is a complete custom-format archive of one schema (and of
its Iceberg catalog's schema ``<schema>_iceberg`` when there is one) that
``pg_restore`` read back, holding the schema version it reports (the version is read in the very
snapshot pg_dump copies, and read again from the archive itself).

``restore_schema`` puts the schema back exactly as the archive holds it, in one transaction (psql
``--single-transaction``): the schema's own objects are dropped (extension members and the schema
itself are kept: ``pg_restore --clean`` on a dump of ``public`` would try to drop the schema), then
the archive's objects and data are created (with their owners and grants), the kept schema gets
the archive's owner and privileges back, and the version is checked. Any failure rolls all of
it back. It is refused while other sessions are connected to the database, unless forced.

Two layers: functions on a psycopg connection (``dump_schema``, ``read_archive``,
``restore_schema``, ``other_sessions``: what the PostgreSQL backend's backup capability calls), and
``PgBackupManager``, which adds the backups folder (names, sidecars, listing, retention) the same
way ``engine.backup`` does for SQLite files.

Needs the PostgreSQL client programs ``pg_dump``, ``pg_restore`` and ``psql`` of the server's major
version or newer; without them it says so in one sentence and runs nothing.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from engine.backends.base import BackupFacts, ConnectOptions
from engine.backup_folder import (
    DEFAULT_KEEP,
    TEMP_PREFIX,
    TEMP_SUFFIX,
    BackupFolder,
    BackupInfo,
    FolderBackups,
    RestoreResult,
    check_keep,
)
from engine.errors import BackupError, DatabaseLockedError
from engine.files import fsync_file, remove_dead_temps, unlink_quietly
from engine.settings import DEFAULT_CONNECT_TIMEOUT, DEFAULT_SCHEMA

if TYPE_CHECKING:
    import psycopg

#: The bookkeeping table whose highest version is the schema version of a backup.
VERSION_TABLE = "schema_migrations"
#: How long a restore waits for a lock held by another session before giving up (seconds).
DEFAULT_LOCK_TIMEOUT = 5.0
#: How long pg_dump waits for a table lock held by another session before giving up (seconds).
DEFAULT_DUMP_LOCK_WAIT = 60.0
#: The file name suffix of PostgreSQL backups.
SUFFIX = ".dump"
TOOLS = ("pg_dump", "pg_restore", "psql")
_INSTALL = (
    "install the PostgreSQL client programs (Debian/Ubuntu: apt install postgresql-client-{major})"
)


class OtherSessionsError(BackupError, DatabaseLockedError):
    """A restore was refused because other sessions are connected to the database."""

    def __init__(self, message: str, sessions: list[Session]) -> None:
        super().__init__(message)
        self.sessions = sessions


@dataclass(frozen=True)
class Session:
    """Another session connected to the database (from ``pg_stat_activity``)."""

    pid: int
    application_name: str
    #: "address:port", or "local socket".
    client: str
    user: str
    state: str

    def describe(self) -> str:
        app = self.application_name or "no application_name"
        return f"pid {self.pid} ({app}, {self.user} from {self.client}, {self.state or 'unknown'})"


# -- on one connection: what the backend's backup capability calls -------------------------------


def dump_schema(
    conn: psycopg.Connection[Any],
    schema: str,
    target: Path,
    *,
    bin_dir: Path | None = None,
    lock_wait: float = DEFAULT_DUMP_LOCK_WAIT,
    fingerprint: Callable[[psycopg.Connection[Any]], str] | None = None,
) -> BackupFacts:
    """Write a custom-format archive of ``schema`` to the new file ``target``; read it back; flush.

    ``conn`` must be outside a transaction. The version (and ``fingerprint(conn)`` when given) are
    read in the snapshot pg_dump copies. Raises ``BackupError`` saying why; the caller deletes
    ``target`` on failure.
    """
    where = _where(conn, schema)
    _require_idle(conn, f"take a backup of {where}")
    tools = check_tools(conn, bin_dir, f"take a backup of {where}")
    if not _schema_exists(conn, schema):
        raise BackupError(
            f"Cannot take a backup of {where}: the schema does not exist; nothing was run. "
            "Check --schema."
        )
    included = [schema, *(c for c in _companions(schema) if _schema_exists(conn, c))]
    conninfo, env = _child_conninfo(conn, "backup")
    with _snapshot(conn, where) as snapshot:
        version = _schema_version(conn, schema)
        identity = database_identity(conn)
        print_ = fingerprint(conn) if fingerprint is not None else ""
        _run(
            [
                tools["pg_dump"],
                "--format=custom",
                *(f"--schema={_ident(name)}" for name in included),
                "--strict-names",
                f"--snapshot={snapshot}",
                f"--lock-wait-timeout={max(1, int(lock_wait * 1000))}",
                "--no-password",
                f"--file={target}",
                f"--dbname={conninfo}",
            ],
            env,
            f"Cannot take a backup of {where} into {target.parent}",
            "nothing was run",
        )
    facts = read_archive(target, schema, bin_dir=bin_dir, tools=tools)
    if facts.version != version:
        raise BackupError(
            f"The backup of {where} holds version {facts.version} where the database was at "
            f"version {version}; nothing was run. Retry."
        )
    fsync_file(target)
    return BackupFacts(version, print_, database_id=identity)


def read_archive(
    path: Path,
    schema: str,
    *,
    bin_dir: Path | None = None,
    tools: dict[str, str] | None = None,
) -> BackupFacts:
    """Check that pg_restore reads ``path`` as an archive of ``schema``; say what version it holds.

    ``BackupError`` when it cannot be read, or is an archive of another schema.
    """
    if path.is_dir() or not path.exists():
        raise BackupError(f"Backup {path} does not exist or is not a file.")
    tools = tools or find_tools(bin_dir)
    schemas = _archive_schemas(_toc(tools, path, f"Cannot use {path}"))
    if schema not in schemas or set(schemas) - {schema, *_companions(schema)}:
        found = ", ".join(f"schema {s}" for s in schemas) or "no schema"
        raise BackupError(
            f"Cannot use {path}: it is a backup of {found}, not of schema {schema}; nothing was "
            "changed. Choose a backup of this schema or pass --schema."
        )
    done = subprocess.run(
        [
            tools["pg_restore"],
            "--data-only",
            f"--schema={schema}",
            f"--table={VERSION_TABLE}",
            "--file=-",
            str(path),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(
            f"Cannot use {path}: pg_restore cannot read its data ({_tool_error(done.stderr)}); "
            "nothing was changed. Choose another backup."
        )
    return BackupFacts(_copy_max_version(done.stdout), "")


def database_identity(conn: psycopg.Connection[Any]) -> str:
    """The id of the database ``conn`` is connected to, recorded with each of its backups:
    ``<server system identifier>/<database name>`` (a standby has its primary's identifier), so
    that two servers with a database of the same name can share one backups folder without
    listing, pruning or restoring each other's backups. '' when the server does not say (the
    role may not execute ``pg_control_system()``)."""
    row = conn.execute(
        "SELECT CASE WHEN has_function_privilege('pg_catalog.pg_control_system()', 'EXECUTE') "
        "THEN (SELECT system_identifier::text FROM pg_catalog.pg_control_system()) END, "
        "current_database()"
    ).fetchone()
    if row is None or row[0] is None:
        return ""
    return f"{row[0]}/{row[1]}"


def other_sessions(conn: psycopg.Connection[Any]) -> list[Session]:
    """Client sessions connected to the database of ``conn``, other than ``conn`` itself."""
    return _other_sessions_of(conn)


def restore_schema(
    conn: psycopg.Connection[Any],
    schema: str,
    path: Path,
    keep_current: Callable[[], object] = lambda: None,
    *,
    force: bool = False,
    bin_dir: Path | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    work_dir: Path | None = None,
) -> BackupFacts:
    """Put ``schema`` back exactly as the archive ``path`` holds it, in one transaction.

    Objects created in the schema since are dropped; extension members and the schema itself are
    kept. Refused while other sessions (any but ``conn``) are connected to the database
    (``OtherSessionsError`` names them) unless ``force``; then it waits at most ``lock_timeout``
    for their locks. ``keep_current()`` is called once, after the restore is prepared and before
    anything changes (to back the current schema up); if it raises, nothing is changed. Temporary
    files go to ``work_dir`` (default: the archive's folder). Returns what the archive held.
    """
    where = _where(conn, schema)
    what = f"Cannot restore {where} from {path}"
    _require_idle(conn, f"restore {where}")
    tools = check_tools(conn, bin_dir, f"restore {where}")
    facts = read_archive(path, schema, tools=tools)
    own = int(conn.info.backend_pid)
    if not force:
        refuse_if_others(conn, where)
    present = {name for name in (schema, *_companions(schema)) if _schema_exists(conn, name)}
    _end_transaction(conn)
    folder = work_dir or path.parent
    stem = f"{TEMP_PREFIX}{path.name}.restore"
    remove_dead_temps(folder, stem, TEMP_SUFFIX)
    toc_file, script, steps, check = (
        folder / f"{stem}-{part}.{os.getpid()}{TEMP_SUFFIX}"
        for part in ("list", "sql", "prelude", "check")
    )
    conninfo, env = _child_conninfo(conn, "restore")
    try:
        toc = _toc(tools, path, what)
        # The store's schema, and its catalog's when the archive holds it (an archive without it
        # leaves a catalog schema as it is).
        archived = [schema, *(c for c in _companions(schema) if c in _archive_schemas(toc))]
        kept = [name for name in archived if name in present]
        prelude = _restore_prelude(schema, force=force, lock_timeout=lock_timeout, own_pids=[own])
        prelude += "".join(_clear_schema(name) for name in archived[1:])
        for name in kept:
            owner = _archive_schema_owner(toc, name)
            prelude += _reset_schema_privileges(name, owner) if owner else ""
        try:
            toc_file.write_text(_without_schema_entries(toc, kept), encoding="utf-8")
            steps.write_text(prelude, encoding="utf-8")
            check.write_text(_restore_check(schema, facts.version), encoding="utf-8")
        except OSError as exc:
            raise BackupError(
                f"{what}: cannot write its working files in {folder} ({exc.strerror or exc}); "
                "nothing was changed."
            ) from exc
        # The whole script is written before anything runs: psql never commits half an archive.
        _run(
            [tools["pg_restore"], f"--use-list={toc_file}", f"--file={script}", path],
            env,
            what,
            "nothing was changed",
        )
        keep_current()
        _run(
            [
                tools["psql"],
                "--no-psqlrc",
                "--quiet",
                "--no-password",
                "--single-transaction",
                "--set=ON_ERROR_STOP=1",
                f"--file={steps}",
                f"--file={script}",
                f"--file={check}",
                f"--dbname={conninfo}",
            ],
            env,
            what,
            "nothing was changed (the restore ran in one transaction, rolled back)",
        )
    finally:
        for temp in (toc_file, script, steps, check):
            unlink_quietly(temp)
    return facts


def refuse_if_others(conn: psycopg.Connection[Any], where: str) -> None:
    """``OtherSessionsError`` naming every other client session of the database, if any."""
    others = _other_sessions_of(conn)
    if others:
        raise OtherSessionsError(
            f"Cannot restore {where}: {len(others)} other session(s) are connected to "
            f"database {conn.info.dbname}: "
            + "; ".join(s.describe() for s in others)
            + "; nothing was changed. Stop them, or pass --force to restore anyway.",
            others,
        )


def find_tools(bin_dir: Path | None = None) -> dict[str, str]:
    """pg_dump, pg_restore and psql, from ``bin_dir`` or PATH (``BackupError`` names the first
    missing one)."""
    found: dict[str, str] = {}
    for name in TOOLS:
        if bin_dir is not None:
            candidate = bin_dir / name
            program = str(candidate) if os.access(candidate, os.X_OK) else None
        else:
            program = shutil.which(name)
        if program is None:
            where = f"in {bin_dir}" if bin_dir is not None else "on PATH"
            raise BackupError(f"{name} was not found {where}")
        found[name] = program
    return found


def check_tools(conn: psycopg.Connection[Any], bin_dir: Path | None, action: str) -> dict[str, str]:
    """The client programs, each of the server's major version or newer, or one sentence why not.

    ``conn`` must be outside a transaction (or in autocommit mode)."""
    major = int(_scalar(conn, "SHOW server_version_num")) // 10000
    _end_transaction(conn)
    try:
        tools = find_tools(bin_dir)
    except BackupError as exc:
        raise BackupError(
            f"Cannot {action}: {exc.message}, so nothing was run; "
            + _INSTALL.format(major=major)
            + ", or run with --no-backup."
        ) from exc
    for name, program in tools.items():
        found = _tool_major(program)
        if found is None or found < major:
            seen = f"version {found}" if found is not None else "of an unknown version"
            raise BackupError(
                f"Cannot {action}: {name} is {seen} (at {program}) but the server is "
                f"PostgreSQL {major}, so nothing was run; "
                + _INSTALL.format(major=major)
                + ", or run with --no-backup."
            )
    return tools


# -- the backups folder -------------------------------------------------------------------------


class PgBackupManager(FolderBackups):
    """Takes, lists, prunes and restores the backups of one schema of one PostgreSQL database.

    Files are named ``<database>.<schema>-<UTC time>-v<version>.dump`` (with a ``.json``
    sidecar), so several databases and schemas can share one folder. The sidecar records the
    database's identity (``database_identity``): a backup of a same-named database of another
    server in the same folder is not listed, pruned or restored as this one's. When the server
    cannot be reached, backups are known by their names only.
    """

    def __init__(
        self,
        url: str,
        backup_dir: str | os.PathLike[str],
        *,
        schema: str = DEFAULT_SCHEMA,
        keep: int = DEFAULT_KEEP,
        bin_dir: str | os.PathLike[str] | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        dump_lock_wait: float = DEFAULT_DUMP_LOCK_WAIT,
    ) -> None:
        from psycopg.conninfo import conninfo_to_dict

        self.url = url
        self.schema = schema
        self.keep = check_keep(keep)
        self.folder = Path(backup_dir)
        self.bin_dir = Path(bin_dir) if bin_dir is not None else None
        self.connect_timeout = connect_timeout
        self.lock_timeout = lock_timeout
        self.dump_lock_wait = dump_lock_wait
        try:
            params = conninfo_to_dict(url)
        except Exception as exc:  # psycopg.ProgrammingError: not a conninfo string or URL
            raise BackupError(f"Cannot read the database URL: {_first_line(exc)}.") from exc
        params.pop("password", None)
        self._params: dict[str, Any] = params
        self.database = str(
            params.get("dbname")
            or os.environ.get("PGDATABASE")
            or params.get("user")
            or os.environ.get("PGUSER")
            or _login()
        )
        prefix = f"{quote(self.database, safe='_-')}.{quote(schema, safe='_-')}"
        self._identity: str | None = None
        self._files = BackupFolder(self.folder, prefix, SUFFIX, owner_id=self.database_id)

    def __repr__(self) -> str:
        return (
            f"PgBackupManager({self.display!r}, schema={self.schema!r}, "
            f"folder={str(self.folder)!r}, keep={self.keep})"
        )

    @property
    def display(self) -> str:
        """user@host:port/dbname, never the password."""
        p = self._params
        user = p.get("user") or os.environ.get("PGUSER") or _login()
        host = p.get("host") or os.environ.get("PGHOST") or "localhost"
        port = p.get("port") or os.environ.get("PGPORT") or "5432"
        return f"postgresql://{user}@{host}:{port}/{self.database}"

    @property
    def where(self) -> str:
        return f"schema {self.schema} of {self.display}"

    def database_id(self) -> str | None:
        """This database's identity (see ``database_identity``); None when the server cannot be
        reached or does not say (backups are then known by their names only)."""
        if self._identity is None:
            try:
                with self._connect("backups") as conn:
                    self._identity = database_identity(conn)
            except BackupError:
                return None
        return self._identity or None

    def take(
        self,
        conn: psycopg.Connection[Any] | None = None,
        *,
        reason: str = "manual",
        protect: Iterable[Path] = (),
        prune: bool = True,
    ) -> BackupInfo:
        """Dump the schema, read the archive back, keep it; raise ``BackupError`` saying why not.

        ``conn``: a connection to the database outside any transaction (the engine's own; a
        fresh one is opened when it is omitted). Nothing is left behind when no verified backup
        could be made. ``prune=False``: the caller prunes once its run has succeeded.
        """
        with self._connect("backup", conn) as conn:
            # Before the folder is made: a missing pg_dump or schema writes nothing.
            check_tools(conn, self.bin_dir, f"take a backup of {self.where}")
            if not _schema_exists(conn, self.schema):
                raise BackupError(
                    f"Cannot take a backup of {self.where}: the schema does not exist; nothing "
                    "was run. Check --schema."
                )
            self._files.prepare(self.where)
            final, created, facts = self._write(
                lambda temp: dump_schema(
                    conn, self.schema, temp, bin_dir=self.bin_dir, lock_wait=self.dump_lock_wait
                )
            )
        if facts.database_id:
            self._identity = facts.database_id
        return self._kept(
            final,
            created,
            facts,
            reason=reason,
            source=f"{self.display} schema {self.schema}",
            prune=prune,
            protect=protect,
        )

    def describe(self, path: Path) -> BackupInfo:
        """Read a backup (a custom-format archive of this schema); check pg_restore reads it."""
        facts = read_archive(path, self.schema, bin_dir=self.bin_dir)
        return self._described(path, facts, sidecar_fingerprint=True)

    def other_sessions(self) -> list[Session]:
        """Client sessions connected to this database, other than this manager's own."""
        with self._connect("restore") as conn:
            return other_sessions(conn)

    def restore(
        self, backup: str | os.PathLike[str] | BackupInfo, *, force: bool = False
    ) -> RestoreResult:
        """Put the schema back exactly as ``backup`` holds it, in one transaction.

        The current schema is itself backed up first (when it exists). See ``restore_schema``.
        """
        source_path = self.resolve(backup)
        info = self.describe(source_path)
        self._refuse_foreign(info)
        replaced: list[BackupInfo] = []

        def keep_current() -> None:
            with self._connect("backup") as conn:
                exists = _schema_exists(conn, self.schema)
            if exists:
                replaced.append(self.take(reason="before restore", protect=[source_path]))

        with self._connect("restore") as conn:
            restore_schema(
                conn,
                self.schema,
                source_path,
                keep_current,
                force=force,
                bin_dir=self.bin_dir,
                lock_timeout=self.lock_timeout,
                work_dir=self.folder if self.folder.is_dir() else None,
            )
        kept = replaced[0] if replaced else None
        self.prune(protect=[source_path] + ([kept.path] if kept else []))
        return RestoreResult(f"{self.display} schema {self.schema}", info, kept)

    def _refuse_foreign(self, info: BackupInfo) -> None:
        """A backup of another server's database is not restored over this one's schema (it may
        be, once the schema is dropped: then nothing of this database's is replaced)."""
        own = self.database_id()
        if not own or not info.database_id or info.database_id == own:
            return
        with self._connect("restore") as conn:
            if not _schema_exists(conn, self.schema):
                return
        origin = f"{info.source}, " if info.source else ""
        raise BackupError(
            f"Cannot restore {info.path}: it is a backup of another server's database "
            f"({origin}id {info.database_id}), not of {self.display} (id {own}); nothing was "
            f"changed. Restore one of this database's backups (metamigrate backups), or drop "
            f"schema {self.schema} first to put that one in its place."
        )

    @contextlib.contextmanager
    def _connect(
        self, command: str, given: psycopg.Connection[Any] | None = None
    ) -> Iterator[psycopg.Connection[Any]]:
        import psycopg

        if given is not None:
            try:
                yield given
            except psycopg.Error as exc:
                raise BackupError(
                    f"{self.where}: {_first_line(exc)}; nothing was changed."
                ) from exc
            return
        try:
            conn = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=max(1, round(self.connect_timeout)),
                application_name=_application_name(command),
            )
        except psycopg.Error as exc:
            raise BackupError(
                f"Cannot connect to {self.display}: {_first_line(exc)}; nothing was changed."
            ) from exc
        try:
            yield conn
        except psycopg.Error as exc:
            raise BackupError(f"{self.where}: {_first_line(exc)}; nothing was changed.") from exc
        finally:
            conn.close()


def backup_manager(
    location: str | os.PathLike[str],
    backup_dir: str | os.PathLike[str] | None,
    *,
    keep: int = DEFAULT_KEEP,
    options: ConnectOptions | None = None,
) -> PgBackupManager:
    """The backups of a PostgreSQL database for ``MigrationManager.backups`` (the backend
    module's ``backup_manager``): ``backup_dir`` defaults to ``backups/`` in the working
    directory (there is no database file to put them beside; see ``default_backup_folder``)."""
    from engine.settings import default_backup_folder

    options = options or ConnectOptions()
    folder = Path(backup_dir) if backup_dir is not None else default_backup_folder(location)
    return PgBackupManager(
        os.fspath(location),
        folder,
        schema=options.schema or DEFAULT_SCHEMA,
        keep=keep,
        connect_timeout=options.connect_timeout,
    )


# -- helpers on a connection ----------------------------------------------------------------------


def _where(conn: psycopg.Connection[Any], schema: str) -> str:
    info = conn.info
    return f"schema {schema} of postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"


@contextlib.contextmanager
def _snapshot(conn: psycopg.Connection[Any], where: str) -> Iterator[str]:
    """A read-only repeatable-read transaction on ``conn`` and its exported snapshot id."""
    _end_transaction(conn)
    autocommit = conn.autocommit
    conn.autocommit = False
    try:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield str(_scalar(conn, "SELECT pg_export_snapshot()"))
    finally:
        conn.rollback()
        conn.autocommit = autocommit


def _require_idle(conn: psycopg.Connection[Any], action: str) -> None:
    """Refuse a connection inside a transaction (ours would end it); after this, the implicit
    transactions our own reads open are ours to end."""
    from psycopg.pq import TransactionStatus

    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise BackupError(f"Cannot {action} from inside a transaction; commit or roll back first.")


def _end_transaction(conn: psycopg.Connection[Any]) -> None:
    """Close the implicit transaction a read opened on a non-autocommit connection."""
    from psycopg.pq import TransactionStatus

    if not conn.autocommit and conn.info.transaction_status == TransactionStatus.INTRANS:
        conn.rollback()


def _run(argv: list[str | os.PathLike[str]], env: dict[str, str], what: str, kept: str) -> None:
    try:
        done = subprocess.run(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    except OSError as exc:
        raise BackupError(f"{what}: {Path(argv[0]).name} cannot run ({exc}); {kept}.") from exc
    if done.returncode != 0:
        raise BackupError(
            f"{what}: {Path(argv[0]).name} failed ({_tool_error(done.stderr)}); {kept}."
        )


def _toc(tools: dict[str, str], path: Path, what: str) -> str:
    done = subprocess.run(
        [tools["pg_restore"], "--list", str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or "Format: CUSTOM" not in done.stdout:
        raise BackupError(
            f"{what}: pg_restore cannot read it as a pg_dump custom-format archive "
            f"({_tool_error(done.stderr) if done.stderr.strip() else 'not an archive'}); "
            "nothing was changed. Choose another backup."
        )
    return done.stdout


# -- the SQL of a restore ------------------------------------------------------------------------


def _restore_prelude(
    schema: str, *, force: bool, lock_timeout: float, own_pids: Iterable[int] = ()
) -> str:
    """Runs first in the restore transaction: refuse if others connected, clear the schema."""
    mine = ", ".join(str(int(pid)) for pid in (*own_pids, 0))
    refuse = (
        ""
        if force
        else f"""
DO $metamigrate$
DECLARE
    others text;
BEGIN
    SELECT string_agg(format('pid %s (%s, %s from %s)', pid,
                             coalesce(nullif(application_name, ''), 'no application_name'),
                             usename, coalesce(host(client_addr) || ':' || client_port,
                                               'local socket')), '; ')
      INTO others
      FROM pg_stat_activity
     WHERE datname = current_database() AND pid <> pg_backend_pid()
       AND pid NOT IN ({mine}) AND backend_type = 'client backend';
    IF others IS NOT NULL THEN
        RAISE EXCEPTION 'other sessions are connected to database %: %', current_database(),
                        others;
    END IF;
END
$metamigrate$;
"""
    )
    return f"""SET lock_timeout = '{int(lock_timeout * 1000)}ms';
{refuse}
{_clear_schema(schema)}"""


def _clear_schema(schema: str) -> str:
    """Drop the schema's own objects (not the schema, nor extension members), refusing when
    objects of another schema depend on them."""
    name = _literal(schema)
    return f"""
DO $metamigrate$
DECLARE
    target oid := (SELECT oid FROM pg_namespace WHERE nspname = {name});
    outside text;
    statements text[];
    statement text;
    leftover text;
BEGIN
    IF target IS NULL THEN
        RETURN;
    END IF;
    -- The schema's own objects (every object depends on its schema), minus extension members.
    DROP TABLE IF EXISTS pg_temp.metamigrate_restore_objects;
    CREATE TEMPORARY TABLE metamigrate_restore_objects ON COMMIT DROP AS
        SELECT d.classid, d.objid, (pg_identify_object(d.classid, d.objid, 0)).*
          FROM pg_depend d
         WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjid = target
           AND d.deptype = 'n' AND d.classid <> 'pg_extension'::regclass
           AND NOT EXISTS (SELECT 1 FROM pg_depend e
                            WHERE e.classid = d.classid AND e.objid = d.objid
                              AND e.deptype = 'e')
           -- Parts of another object (an identity column's sequence) go with their owner.
           AND NOT EXISTS (SELECT 1 FROM pg_depend i
                            WHERE i.classid = d.classid AND i.objid = d.objid
                              AND i.deptype = 'i');
    -- Dropping them must not reach into another schema (a view there on a table here).
    SELECT string_agg(DISTINCT pg_describe_object(dep.classid, dep.objid, 0), ', ')
      INTO outside
      FROM pg_depend dep
      JOIN metamigrate_restore_objects o
        ON dep.refclassid = o.classid AND dep.refobjid = o.objid
     WHERE dep.deptype IN ('n', 'a')
       AND coalesce(
             (SELECT n.oid FROM pg_namespace n
               WHERE n.nspname = (pg_identify_object(dep.classid, dep.objid, 0)).schema),
             -- Rules, triggers, defaults and policies belong to the schema of their table.
             (SELECT c.relnamespace FROM pg_class c
               WHERE c.oid = CASE dep.classid
                   WHEN 'pg_rewrite'::regclass THEN
                       (SELECT ev_class FROM pg_rewrite WHERE oid = dep.objid)
                   WHEN 'pg_trigger'::regclass THEN
                       (SELECT tgrelid FROM pg_trigger WHERE oid = dep.objid)
                   WHEN 'pg_attrdef'::regclass THEN
                       (SELECT adrelid FROM pg_attrdef WHERE oid = dep.objid)
                   WHEN 'pg_policy'::regclass THEN
                       (SELECT polrelid FROM pg_policy WHERE oid = dep.objid)
                 END),
             target) <> target;
    IF outside IS NOT NULL THEN
        RAISE EXCEPTION 'objects outside schema % depend on it (%)', {name}, outside;
    END IF;
    SELECT array_agg(format('DROP %s IF EXISTS %s CASCADE',
                            CASE type WHEN 'statistics object' THEN 'STATISTICS'
                                      ELSE upper(type) END,
                            identity))
      INTO statements
      FROM metamigrate_restore_objects;
    FOREACH statement IN ARRAY coalesce(statements, ARRAY[]::text[]) LOOP
        EXECUTE statement;
    END LOOP;
    SELECT string_agg((pg_identify_object(d.classid, d.objid, 0)).identity, ', ')
      INTO leftover
      FROM pg_depend d
     WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjid = target
       AND d.deptype = 'n' AND d.classid <> 'pg_extension'::regclass
       AND NOT EXISTS (SELECT 1 FROM pg_depend e
                        WHERE e.classid = d.classid AND e.objid = d.objid AND e.deptype = 'e');
    IF leftover IS NOT NULL THEN
        RAISE EXCEPTION 'schema % could not be cleared (% remain)', {name}, leftover;
    END IF;
END
$metamigrate$;
"""


def _reset_schema_privileges(schema: str, owner: str) -> str:
    """The kept schema back to the archive's owner and to the privileges it starts with (its
    initial ones, as ``public`` has, else the owner's): the archive's ACL entry, which pg_dump
    writes as the difference from those, then gives it exactly the privileges it had."""
    name, role = _literal(schema), _literal(owner)
    return f"""
DO $metamigrate$
DECLARE
    target oid := (SELECT oid FROM pg_namespace WHERE nspname = {name});
    entry record;
    initial boolean := false;
BEGIN
    IF (SELECT nspowner::regrole::text FROM pg_namespace WHERE oid = target) <> {role} THEN
        EXECUTE format('ALTER SCHEMA %I OWNER TO %I', {name}, {role});
    END IF;
    FOR entry IN SELECT DISTINCT a.grantee
                   FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.oid = target LOOP
        EXECUTE format('REVOKE ALL ON SCHEMA %I FROM %s', {name},
                       CASE entry.grantee WHEN 0 THEN 'PUBLIC'
                                          ELSE entry.grantee::regrole::text END);
    END LOOP;
    FOR entry IN SELECT a.grantee, a.privilege_type
                   FROM pg_init_privs p, aclexplode(p.initprivs) a
                  WHERE p.objoid = target AND p.classoid = 'pg_namespace'::regclass LOOP
        initial := true;
        EXECUTE format('GRANT %s ON SCHEMA %I TO %s', entry.privilege_type, {name},
                       CASE entry.grantee WHEN 0 THEN 'PUBLIC'
                                          ELSE entry.grantee::regrole::text END);
    END LOOP;
    IF NOT initial THEN
        EXECUTE format('GRANT ALL ON SCHEMA %I TO %I', {name}, {role});
    END IF;
END
$metamigrate$;
"""


def _restore_check(schema: str, version: int) -> str:
    """Runs last in the restore transaction: the schema holds the backup's version."""
    table = _literal(f"{_ident(schema)}.{_ident(VERSION_TABLE)}")
    return f"""
DO $metamigrate$
DECLARE
    found bigint := 0;
BEGIN
    IF to_regclass({table}) IS NOT NULL THEN
        EXECUTE format('SELECT coalesce(max(version), 0) FROM %s', {table}) INTO found;
    END IF;
    IF found <> {int(version)} THEN
        RAISE EXCEPTION 'the restored schema is at version % instead of %', found,
                        {int(version)};
    END IF;
END
$metamigrate$;
"""


# -- small pure helpers --------------------------------------------------------------------------

_SCHEMA_ENTRY = re.compile(r"^\d+; 2615 \d+ SCHEMA - (?P<name>.+) \S+$")


def _archive_schemas(toc: str) -> list[str]:
    """The schemas an archive's table of contents creates (2615 is pg_namespace)."""
    return [m["name"] for line in toc.splitlines() if (m := _SCHEMA_ENTRY.match(line))]


def _archive_schema_owner(toc: str, schema: str) -> str | None:
    """The owner of ``schema`` as the archive records it (None: the archive has no entry)."""
    for line in toc.splitlines():
        match = _SCHEMA_ENTRY.match(line)
        if match and match["name"] == schema:
            return line.rsplit(" ", 1)[1]
    return None


def _without_schema_entries(toc: str, kept: Iterable[str]) -> str:
    """The TOC with the CREATE SCHEMA of the schemas in ``kept`` commented out (they stay)."""
    names = set(kept)

    def keep(line: str) -> bool:
        match = _SCHEMA_ENTRY.match(line)
        return match is not None and match["name"] in names

    return "\n".join(f";{line}" if keep(line) else line for line in toc.splitlines()) + "\n"


def _companions(schema: str) -> tuple[str, ...]:
    """The schemas backed up and restored with ``schema``: its Iceberg catalog's."""
    from engine.settings import catalog_schema_of

    return (catalog_schema_of(schema),)


def _copy_max_version(script: str) -> int:
    """The highest ``version`` in the COPY block of the bookkeeping table of a pg_restore script."""
    lines = iter(script.splitlines())
    for line in lines:
        match = re.match(rf"^COPY .+\.{VERSION_TABLE} \((?P<columns>[^)]*)\) FROM stdin;$", line)
        if match is None:
            continue
        columns = [c.strip() for c in match["columns"].split(",")]
        index = columns.index("version")
        best = 0
        for row in lines:
            if row == "\\.":
                break
            best = max(best, int(row.split("\t")[index]))
        return best
    return 0


@functools.cache
def _tool_major(program: str) -> int | None:
    """The major version a client program reports (``pg_dump (PostgreSQL) 15.20``)."""
    try:
        done = subprocess.run(
            [program, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"\(PostgreSQL\) (\d+)(?:\.(\d+))?", done.stdout)
    if match is None:
        return None
    major = int(match[1])
    # Before PostgreSQL 10 the major version had two parts (9.6); any of them is too old here.
    return major if major >= 10 else 9


def _tool_error(stderr: str) -> str:
    """The first error line a client program printed, without its prefixes."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "ERROR:" in line:
            return line.split("ERROR:", 1)[1].strip()
    for line in lines:
        if "error:" in line:
            return line.split("error:", 1)[1].strip()
    return lines[0] if lines else "no message"


def _schema_exists(conn: psycopg.Connection[Any], schema: str) -> bool:
    return _scalar(conn, "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)) == 1


def _schema_version(conn: psycopg.Connection[Any], schema: str) -> int:
    table = f"{_ident(schema)}.{_ident(VERSION_TABLE)}"
    if _scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (table,)) is not True:
        return 0
    from psycopg import sql

    query = sql.SQL("SELECT coalesce(max(version), 0) FROM {}.{}").format(
        sql.Identifier(schema), sql.Identifier(VERSION_TABLE)
    )
    return int(_scalar(conn, query))


def _other_sessions_of(conn: psycopg.Connection[Any]) -> list[Session]:
    rows = conn.execute(
        """
        SELECT pid, coalesce(application_name, ''),
               coalesce(host(client_addr) || ':' || client_port, 'local socket'),
               coalesce(usename, ''), coalesce(state, '')
          FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()
           AND backend_type = 'client backend'
         ORDER BY pid
        """
    ).fetchall()
    return [Session(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]


def _scalar(conn: psycopg.Connection[Any], query: Any, params: tuple[object, ...] = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    return row[0] if row is not None else None


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _pattern(schema: str) -> str:
    """A pg_dump ``--schema`` pattern matching exactly this name (quoted: no wildcards)."""
    return _ident(schema)


def _application_name(command: str) -> str:
    import socket

    return f"metamigrate {command} {_login()}@{socket.gethostname()} {os.getpid()}"[:63]


_CHILD_PARAMETERS = frozenset(
    [
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "options",
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslcrl",
        "sslpassword",
        "sslcompression",
        "requiressl",
        "gssencmode",
        "krbsrvname",
        "service",
        "passfile",
        "target_session_attrs",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
    ]
)


def _child_conninfo(conn: psycopg.Connection[Any], command: str) -> tuple[str, dict[str, str]]:
    """(conninfo without the password, environment with it) for pg_dump/pg_restore/psql."""
    from psycopg.conninfo import make_conninfo

    # Only what every libpq understands: psycopg's own libpq may report newer options.
    params = {k: v for k, v in conn.info.get_parameters().items() if k in _CHILD_PARAMETERS}
    params["application_name"] = _application_name(command)
    params.setdefault("connect_timeout", "10")
    env = dict(os.environ)
    if conn.info.password:
        env["PGPASSWORD"] = conn.info.password
    return make_conninfo(**params), env


def _login() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__
