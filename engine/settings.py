"""Every default of the engine, and ``Settings``: the options of one run, resolved once.

Resolution order, per setting: the command-line flag, then the environment variable (the option
table in ``engine.options`` names it), then a configuration file's value (``config=``, for the
configuration file support to fill), then the default below. Everything downstream (the CLI
commands, the console, ``MigrationManager``) reads the resolved ``Settings`` instead of falling
back to literals of its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from engine.records import Record

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: what status imports must not load typing

if TYPE_CHECKING:
    from typing import Any

    from engine.backends.base import ConnectOptions

#: The database when neither --db nor METAMIGRATE_DB says otherwise.
DEFAULT_DB = "metadata.db"
#: Seconds a writer waits for another writer's lock.
DEFAULT_BUSY_TIMEOUT = 5.0
#: Backups kept per database.
DEFAULT_KEEP_BACKUPS = 10
#: The folder that holds a database's backups: beside a SQLite file; for a server database in
#: the service's folder (``base_path``) when one is configured, else in the working directory.
DEFAULT_BACKUP_FOLDER = "backups"

#: PostgreSQL: the schema of the bookkeeping and the application.
DEFAULT_SCHEMA = "public"
#: PostgreSQL: the Iceberg catalog's tables of a store in schema S live in schema S + this.
CATALOG_SCHEMA_SUFFIX = "_iceberg"
#: PostgreSQL: seconds to wait for the migration lock another migrator holds.
DEFAULT_LOCK_WAIT = 60.0
#: PostgreSQL: lock_timeout of the statements inside migrations.
DEFAULT_DDL_LOCK_TIMEOUT = "5s"
#: Servers: seconds to wait for a connection.
DEFAULT_CONNECT_TIMEOUT = 10.0

#: Environment variables (flags win over them).
ENV_DB = "METAMIGRATE_DB"
ENV_BASE_PATH = "METAMIGRATE_BASE_PATH"
ENV_SCHEMA = "METAMIGRATE_SCHEMA"


class Settings(Record):
    """The resolved options of one run (field names are the option table's ``dest`` names)."""

    __slots__ = (
        "backup_dir",
        "base_path",
        "busy_timeout",
        "connect_timeout",
        "db",
        "ddl_lock_timeout",
        "json",
        "keep_backups",
        "lock_retries",
        "lock_timeout",
        "migrations",
        "no_backup",
        "read_only",
        "rehearse",
        "schema",
        "statement_timeout",
    )
    #: A SQLite file path, ``sqlite:///path`` or a ``postgresql://`` URL.
    db: str
    #: Folder or package of migration files (None: the built-in store migrations).
    migrations: str | None
    json: bool
    busy_timeout: float
    read_only: bool
    #: PostgreSQL (servers): the schema; migration lock wait (s); DDL lock_timeout; statement
    #: timeout; lock_timeout retries; connect timeout (s).
    schema: str | None
    lock_timeout: float | None
    ddl_lock_timeout: str | None
    statement_timeout: str | None
    lock_retries: int
    connect_timeout: float
    #: The metadata service's folder (adds the Iceberg catalog check), None when not configured.
    base_path: str | None
    no_backup: bool
    backup_dir: str | None
    keep_backups: int
    rehearse: bool

    def __init__(
        self,
        db: str = DEFAULT_DB,
        migrations: str | None = None,
        json: bool = False,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        read_only: bool = False,
        schema: str | None = None,
        lock_timeout: float | None = None,
        ddl_lock_timeout: str | None = None,
        statement_timeout: str | None = None,
        lock_retries: int = 0,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        base_path: str | None = None,
        no_backup: bool = False,
        backup_dir: str | None = None,
        keep_backups: int = DEFAULT_KEEP_BACKUPS,
        rehearse: bool = False,
    ) -> None:
        self._set(
            db,
            migrations,
            json,
            busy_timeout,
            read_only,
            schema,
            lock_timeout,
            ddl_lock_timeout,
            statement_timeout,
            lock_retries,
            connect_timeout,
            base_path,
            no_backup,
            backup_dir,
            keep_backups,
            rehearse,
        )

    @property
    def backup(self) -> bool:
        """Take a verified backup before migrate/rollback change anything."""
        return not self.no_backup

    @property
    def base_path_or_none(self) -> Path | None:
        return Path(self.base_path) if self.base_path else None

    def backup_folder(self) -> Path:
        """Where this run's backups go: ``backup_dir``, else the default for ``db``."""
        if self.backup_dir:
            return Path(self.backup_dir)
        return default_backup_folder(self.db, self.base_path)

    @classmethod
    def resolve(
        cls,
        flags: Mapping[str, Any],
        environ: Mapping[str, str] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Flags (values that are not None), then environment, then ``config``, then defaults.

        ``flags`` maps option names to parsed values (None: not given); unknown names are ignored.
        """
        from engine.options import OPTIONS

        env = os.environ if environ is None else environ
        config = config or {}
        names = set(cls.field_names())
        values: dict[str, Any] = {}
        for option in OPTIONS:
            name = option.dest
            if name not in names:
                continue
            value = flags.get(name)
            if value is None and option.env:
                raw = env.get(option.env)
                value = option.convert(raw) if raw else None
            if value is None:
                value = config.get(name)
            if value is not None:
                values[name] = value
        return cls(**values)

    def db_is_file(self) -> bool:
        from engine.backends import is_file_location

        return is_file_location(self.db)

    def connect_options(self) -> ConnectOptions:
        """The backend's connection options for these settings."""
        from engine.backends.base import ConnectOptions

        return ConnectOptions(
            read_only=self.read_only,
            busy_timeout=self.busy_timeout,
            schema=self.schema,
            lock_wait=self.lock_timeout,
            lock_timeout=self.ddl_lock_timeout,
            statement_timeout=self.statement_timeout,
            lock_retries=self.lock_retries,
            connect_timeout=self.connect_timeout,
        )

    def manager_options(self) -> dict[str, Any]:
        """Keyword arguments of ``MigrationManager`` these settings ask for."""
        return {
            "busy_timeout": self.busy_timeout,
            "read_only": self.read_only,
            "backup": self.backup,
            # A server database's default folder depends on base_path, which the manager lacks.
            "backup_dir": self.backup_dir if self.db_is_file() else str(self.backup_folder()),
            "keep_backups": self.keep_backups,
            "connect_options": self.connect_options(),
        }


def default_backup_folder(
    db: str | os.PathLike[str], base_path: str | os.PathLike[str] | None = None
) -> Path:
    """The backups folder of ``db`` when none is given (absolute): ``backups/`` beside a SQLite
    file (the file a symlink points at); for a server database, which has no file to sit
    beside, ``backups/`` in the service's folder ``base_path`` (where ``Store`` keeps them), else
    in the working directory. A server URL is never read as a path."""
    from engine.backends import is_file_location, sqlite_path

    if is_file_location(db):
        path = Path(sqlite_path(db))
        if str(path) != ":memory:":
            path = Path(os.path.realpath(path))
        return path.absolute().parent / DEFAULT_BACKUP_FOLDER
    base = Path(base_path) if base_path else Path.cwd()
    return base.absolute() / DEFAULT_BACKUP_FOLDER


def catalog_schema_of(store_schema: str) -> str:
    """The PostgreSQL schema of the Iceberg catalog's tables for a store in ``store_schema``
    (its backups include it: the store and its catalog are restored together)."""
    return f"{store_schema}{CATALOG_SCHEMA_SUFFIX}"
