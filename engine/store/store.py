"""The metadata store: the catalog of databases, tables and user preferences in one SQLite file.

``Store.open`` migrates the file to the code's latest version before anything else touches it and
fails fast, naming the version and the cause, when a migration fails.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from engine.backends import open_backend
from engine.backends.base import Backend, ConnectOptions, error_kind_of
from engine.backup_folder import DEFAULT_FOLDER as DEFAULT_BACKUP_FOLDER
from engine.errors import MetamigrateError
from engine.manager import MigrationManager, RegistrySpec
from engine.recorder import utc_now
from engine.settings import DEFAULT_BUSY_TIMEOUT


class StoreError(MetamigrateError):
    """A store operation was refused (missing or duplicate database, table, ...)."""

    exit_code = 2


class NotFoundError(StoreError):
    pass


class AlreadyExistsError(StoreError):
    pass


@dataclass(frozen=True)
class Database:
    id: int
    name: str
    description: str
    location: str | None
    created_at: str


@dataclass(frozen=True)
class Table:
    id: int
    database: str
    name: str
    metadata_location: str
    table_format: str
    created_at: str
    updated_at: str
    properties: dict[str, str] = field(default_factory=dict)


class Store:
    """Open with ``Store.open(path)``; close it (or use it as a context manager) when done."""

    def __init__(self, backend: Backend, migrations: MigrationManager, base_path: Path) -> None:
        #: The store's one connection, as a backend (``connection`` is its raw connection).
        self.backend = backend
        self._conn: Any = backend.connection
        self.migrations = migrations
        self.base_path = base_path
        self.db_path = migrations.db_path
        self._depth = 0

    @classmethod
    def open(
        cls,
        db_path: str | os.PathLike[str],
        base_path: str | os.PathLike[str] | None = None,
        *,
        migrations: RegistrySpec = None,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        schema: str | None = None,
    ) -> Store:
        """Open (creating folders and file if needed) and migrate to the latest version.

        ``db_path`` is a SQLite file path or a ``postgresql://`` URL (``schema``: the schema that
        holds the store there, default ``public``). ``base_path`` (the folder of the Iceberg
        warehouse) defaults to the SQLite file's folder, or the working directory on a server.
        """
        from engine.backends import is_url, scheme_of

        server = is_url(db_path) and scheme_of(db_path) != "sqlite"
        location: str | os.PathLike[str] = db_path if server else Path(db_path)
        backend = open_backend(
            location, ConnectOptions(busy_timeout=busy_timeout, foreign_keys=True, schema=schema)
        )
        try:
            if base_path is not None:
                base = Path(base_path)
            elif backend.path is not None:
                base = backend.path.absolute().parent
            else:
                base = Path.cwd()
            manager = MigrationManager(
                backend,
                migrations,
                busy_timeout=busy_timeout,
                # A server's backups go under the service's folder (there is no file beside).
                backup_dir=None if backend.path is not None else base / DEFAULT_BACKUP_FOLDER,
            )
            # plan() also refuses a database that is ahead of the code: fail fast, before serving.
            if manager.plan():
                manager.migrate_to_latest()
            base.mkdir(parents=True, exist_ok=True)
        except BaseException:
            backend.close()
            raise
        return cls(backend, manager, base)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def connection(self) -> Any:
        """The raw connection (``sqlite3.Connection``, ``psycopg.Connection``)."""
        return self._conn

    def _execute(self, sql: str, params: tuple[object, ...] = ()) -> Any:
        """Store SQL, written with ``?`` placeholders, in the backend's own style."""
        return self.backend.execute(self.backend.sql(sql), params)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """All store calls inside commit together or not at all (nested blocks are savepoints)."""
        backend = self.backend
        if self._depth:
            name = f"store_{self._depth}"
            backend.savepoint(name)
            self._depth += 1
            try:
                yield self._conn
            except BaseException:
                backend.rollback_to_savepoint(name)
                backend.release_savepoint(name)
                raise
            else:
                backend.release_savepoint(name)
            finally:
                self._depth -= 1
            return
        backend.begin_write()
        self._depth = 1
        try:
            yield self._conn
        except BaseException:
            backend.rollback()
            raise
        else:
            try:
                backend.commit()
            except backend.driver_errors as exc:
                # A COMMIT that fails (a reader holding the file past the busy timeout) leaves the
                # transaction open: roll it back so the store stays usable, and say why.
                backend.rollback()
                raise backend.translate_error(exc) from exc
        finally:
            self._depth = 0

    def _is_duplicate(self, exc: BaseException) -> bool:
        return error_kind_of(self.backend, exc) == "constraint"

    # -- databases ----------------------------------------------------------------------------

    def create_database(
        self, name: str, *, description: str = "", location: str | None = None
    ) -> Database:
        _require_name(name, "database")
        with self.transaction():
            try:
                self._execute(
                    "INSERT INTO databases (name, description, location, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (name, description, location, utc_now()),
                )
            except self.backend.driver_errors as exc:
                if not self._is_duplicate(exc):
                    raise
                raise AlreadyExistsError(f"Database {name!r} already exists.") from exc
        return self.get_database(name)

    def list_databases(self) -> list[Database]:
        rows = self._execute(
            "SELECT id, name, description, location, created_at FROM databases ORDER BY name"
        ).fetchall()
        return [Database(*row) for row in rows]

    def get_database(self, name: str) -> Database:
        row = self._execute(
            "SELECT id, name, description, location, created_at FROM databases WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"Database {name!r} does not exist.")
        return Database(*row)

    def drop_database(self, name: str, *, cascade: bool = False) -> None:
        with self.transaction():
            database = self.get_database(name)
            count = self._execute(
                "SELECT count(*) FROM tables WHERE database_id = ?", (database.id,)
            ).fetchone()[0]
            if count and not cascade:
                raise StoreError(
                    f"Database {name!r} still has {count} table(s); "
                    "drop them first or pass cascade=True."
                )
            self._execute("DELETE FROM tables WHERE database_id = ?", (database.id,))
            self._execute("DELETE FROM databases WHERE id = ?", (database.id,))

    # -- tables -------------------------------------------------------------------------------

    def create_table(
        self,
        database: str,
        name: str,
        *,
        metadata_location: str,
        table_format: str = "ICEBERG",
        properties: Mapping[str, str] | None = None,
    ) -> Table:
        _require_name(name, "table")
        now = utc_now()
        with self.transaction():
            db = self.get_database(database)
            try:
                row = self._execute(
                    "INSERT INTO tables (database_id, name, metadata_location, table_format, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    (db.id, name, metadata_location, table_format, now, now),
                ).fetchone()
            except self.backend.driver_errors as exc:
                if not self._is_duplicate(exc):
                    raise
                raise AlreadyExistsError(f"Table {database}.{name} already exists.") from exc
            self._write_properties(int(row[0]), properties or {})
        return self.get_table(database, name)

    def list_tables(self, database: str) -> list[Table]:
        db = self.get_database(database)
        rows = self._execute(
            f"{_TABLE_SELECT} WHERE t.database_id = ? ORDER BY t.name", (db.id,)
        ).fetchall()
        return [self._table(row) for row in rows]

    def get_table(self, database: str, name: str) -> Table:
        row = self._execute(
            f"{_TABLE_SELECT} WHERE d.name = ? AND t.name = ?", (database, name)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"Table {database}.{name} does not exist.")
        return self._table(row)

    def update_table_location(self, database: str, name: str, metadata_location: str) -> Table:
        with self.transaction():
            table = self.get_table(database, name)
            self._execute(
                "UPDATE tables SET metadata_location = ?, updated_at = ? WHERE id = ?",
                (metadata_location, utc_now(), table.id),
            )
        return self.get_table(database, name)

    def set_table_properties(self, database: str, name: str, properties: Mapping[str, str]) -> None:
        with self.transaction():
            table = self.get_table(database, name)
            self._execute("DELETE FROM table_properties WHERE table_id = ?", (table.id,))
            self._write_properties(table.id, properties)

    def drop_table(self, database: str, name: str) -> None:
        with self.transaction():
            table = self.get_table(database, name)
            self._execute("DELETE FROM table_properties WHERE table_id = ?", (table.id,))
            self._execute("DELETE FROM tables WHERE id = ?", (table.id,))

    def _write_properties(self, table_id: int, properties: Mapping[str, str]) -> None:
        for key, value in properties.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise StoreError(f"Table property {key!r} must map a string to a string.")
        if properties:
            self.backend.executemany(
                self.backend.sql(
                    "INSERT INTO table_properties (table_id, key, value) VALUES (?, ?, ?)"
                ),
                [(table_id, k, v) for k, v in sorted(properties.items())],
            )

    def _table(self, row: tuple[object, ...]) -> Table:
        table_id = int(str(row[0]))
        props = dict(
            self._execute(
                "SELECT key, value FROM table_properties WHERE table_id = ? ORDER BY key",
                (table_id,),
            ).fetchall()
        )
        return Table(
            id=table_id,
            database=str(row[1]),
            name=str(row[2]),
            metadata_location=str(row[3]),
            table_format=str(row[4]),
            created_at=str(row[5]),
            updated_at=str(row[6]),
            properties=props,
        )

    # -- user preferences ---------------------------------------------------------------------

    def set_preference(self, user: str, key: str, value: object) -> None:
        """Store any JSON-serialisable value for (user, key)."""
        with self.transaction():
            self._execute(
                "INSERT INTO user_preferences (user_name, key, value, updated_at) "
                "VALUES (?, ?, ?, ?) "
                "ON CONFLICT (user_name, key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                (user, key, json.dumps(value), utc_now()),
            )

    def get_preference(self, user: str, key: str, default: object = None) -> object:
        row = self._execute(
            "SELECT value FROM user_preferences WHERE user_name = ? AND key = ?", (user, key)
        ).fetchone()
        return default if row is None else json.loads(row[0])

    def preferences(self, user: str) -> dict[str, object]:
        rows = self._execute(
            "SELECT key, value FROM user_preferences WHERE user_name = ? ORDER BY key", (user,)
        ).fetchall()
        return {key: json.loads(value) for key, value in rows}

    def delete_preference(self, user: str, key: str) -> None:
        with self.transaction():
            self._execute(
                "DELETE FROM user_preferences WHERE user_name = ? AND key = ?", (user, key)
            )


_TABLE_SELECT = (
    "SELECT t.id, d.name, t.name, t.metadata_location, t.table_format, t.created_at, t.updated_at "
    "FROM tables AS t JOIN databases AS d ON d.id = t.database_id"
)


def _require_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise StoreError(f"A {what} needs a non-empty name.")
