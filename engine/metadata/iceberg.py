"""The only module that imports PyIceberg: a small adapter over its ``SqlCatalog``.

The rest of ``engine.metadata`` sees plain values and this package's errors (and the PyIceberg
``Table`` that ``load_table`` hands to the caller), never a PyIceberg or SQLAlchemy exception, and
imports this module only when a catalog is opened. The catalog is a
SQLite file and the warehouse a local folder, both under the service's ``base_path``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlparse

from pyiceberg.catalog import (
    MANIFEST,
    MANIFEST_LIST,
    METADATA,
    PREVIOUS_METADATA,
    delete_data_files,
    delete_files,
)
from pyiceberg.catalog.sql import (
    IcebergNamespaceProperties,
    IcebergTables,
    SqlCatalog,
    SqlCatalogBaseTable,
)
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NamespaceNotEmptyError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.io import load_file_io
from pyiceberg.table import CommitTableResponse
from pyiceberg.table import Table as IcebergTable
from sqlalchemy import URL, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from engine.metadata.errors import (
    CatalogAlreadyExistsError,
    CatalogConflictError,
    CatalogError,
    CatalogNotFoundError,
)
from engine.settings import DEFAULT_BUSY_TIMEOUT, catalog_schema_of

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.schema import Schema
    from pyiceberg.table.update import TableRequirement, TableUpdate

#: The catalog name recorded in every row of the catalog's tables.
CATALOG_NAME = "metamigrate"
#: How many times ``IcebergCatalog.retry_commits`` tries a change that another process beat.
DEFAULT_COMMIT_ATTEMPTS = 5
#: The metadata files the current thread's create_table wrote (None outside create_table).
_written = threading.local()
#: The advisory lock that serialises creating the catalog's tables on PostgreSQL.
_INIT_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"metamigrate iceberg catalog tables").digest()[:8], "big", signed=True
)

#: Wraps every table commit: called with (namespace, name, commit, undo); ``commit()`` makes the
#: commit and returns the new metadata location, ``undo()`` puts the catalog back as it was.
CommitHook = Callable[[str, str, Callable[[], str], Callable[[], None]], None]


class _HookedSqlCatalog(SqlCatalog):
    """SqlCatalog whose table commits (appends, schema changes, ...) go through a hook."""

    commit_hook: CommitHook | None = None
    adapter: IcebergCatalog | None = None
    #: PostgreSQL: the schema that holds the catalog's tables (created with them).
    pg_schema: str | None = None

    def __init__(self, name: str, *, pg_schema: str | None = None, **properties: str) -> None:
        self.pg_schema = pg_schema
        super().__init__(name, **properties)

    @staticmethod
    def _write_metadata(metadata: Any, io: Any, metadata_path: str) -> None:
        # Remember each metadata file this thread writes: a failed create_table deletes exactly
        # its own file, never the one another process is creating in the same folder.
        written = getattr(_written, "paths", None)
        if written is not None:
            written.append(metadata_path)
        SqlCatalog._write_metadata(metadata, io, metadata_path)

    def create_tables(self) -> None:
        if self.engine.dialect.name != "postgresql":
            super().create_tables()
            return
        # Several replicas opening a new catalog at once: one creates the tables, the others wait
        # for it and then find them (create_all checks first, in the same transaction).
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _INIT_LOCK_KEY})
            if self.pg_schema is not None:
                quoted = '"' + self.pg_schema.replace('"', '""') + '"'
                conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
            SqlCatalogBaseTable.metadata.create_all(conn)

    def create_namespace(
        self, namespace: str | tuple[str, ...], properties: Mapping[str, str] | None = None
    ) -> None:
        try:
            super().create_namespace(namespace, dict(properties or {}))
        except IntegrityError as exc:
            # Another process created it between PyIceberg's check and its insert.
            raise NamespaceAlreadyExistsError(f"Namespace {namespace} already exists") from exc

    def commit_table(
        self,
        table: IcebergTable,
        requirements: tuple[TableRequirement, ...],
        updates: tuple[TableUpdate, ...],
    ) -> CommitTableResponse:
        try:
            return self._commit_table(table, requirements, updates)
        except CommitFailedException as exc:
            name = ".".join(table.name())
            raise CatalogConflictError(
                f"Another process committed to the Iceberg table {name} first, so this change was "
                "not made; load the table again and retry (MetadataManager.update_table retries "
                "by itself)."
            ) from exc

    def _commit_table(
        self,
        table: IcebergTable,
        requirements: tuple[TableRequirement, ...],
        updates: tuple[TableUpdate, ...],
    ) -> CommitTableResponse:
        hook, adapter = self.commit_hook, self.adapter
        if hook is None or adapter is None:
            return super().commit_table(table, requirements, updates)
        *namespace_parts, name = table.name()
        namespace = ".".join(namespace_parts)
        before, previous = adapter.locations_of(namespace, name)
        responses: list[CommitTableResponse] = []
        plain_commit = super().commit_table

        def commit() -> str:
            responses.append(plain_commit(table, requirements, updates))
            return str(responses[0].metadata_location)

        def undo() -> None:
            if responses and before is not None and responses[0].metadata_location != before:
                adapter.restore_location(
                    namespace, name, str(responses[0].metadata_location), before, previous
                )

        hook(namespace, name, commit, undo)
        return responses[0]


def catalog_url(catalog_file: Path, *, read_only: bool, busy_timeout: float) -> URL:
    """The SQLAlchemy URL of the catalog file: names exactly that file, whatever its path holds.

    Built as a ``URL`` object, never parsed from a string: SQLAlchemy 2.1 percent-decodes the
    database part of a URL string and 2.0 does not, so no string is right for both (a ``#`` or
    ``?`` in the path cut it short, a ``%41`` became ``A``). The path is percent-encoded once, for
    SQLite's own URI parser (``uri=true``), which decodes it exactly once. SQLite's read-only mode
    means nothing (not even table creation) can write the file; the timeout is how long a write
    waits for another writer's lock, as for the store.
    """
    path = quote(str(catalog_file.absolute()), safe="/")
    return URL.create(
        "sqlite",
        database=f"file:{path}",
        query={
            "mode": "ro" if read_only else "rwc",
            "uri": "true",
            "timeout": f"{busy_timeout:g}",
        },
    )


def warehouse_location(warehouse: Path) -> str:
    """The warehouse as PyIceberg will read it back: a ``file://`` URI when the path survives one.

    PyIceberg takes the path of a ``file://`` location from ``urlparse`` without decoding it, so
    a ``#``, ``?``, ``;`` or newline in the path would cut it short (metadata would be written to
    whatever file the shorter path names) and a percent-encoded path would name another folder.
    Such a warehouse is given as a plain absolute path, which PyIceberg uses exactly as it is.
    """
    path = str(warehouse.absolute())
    uri = f"file://{path}"
    probe = f"{uri}/namespace/table/metadata/00000-x.metadata.json"
    if urlparse(uri).path == path and urlparse(probe).path == probe[len("file://") :]:
        return uri
    return path


class IcebergCatalog:
    """One PyIceberg SqlCatalog on a local SQLite file with a local file warehouse.

    Every method either does what it says or raises a ``CatalogError`` with one sentence.
    """

    def __init__(
        self,
        catalog_file: Path,
        warehouse: Path,
        *,
        read_only: bool = False,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        self.catalog_file = catalog_file
        self.warehouse = warehouse
        self.read_only = read_only
        properties: dict[str, Any] = {
            "uri": catalog_url(catalog_file, read_only=read_only, busy_timeout=busy_timeout),
            "warehouse": warehouse_location(warehouse),
            "init_catalog_tables": "false" if read_only else "true",
        }
        with self._translate(f"open the Iceberg catalog {catalog_file}"):
            self._catalog = _HookedSqlCatalog(CATALOG_NAME, **properties)
        self._catalog.adapter = self

    #: The SQLite file of the catalog (None: its tables are in a PostgreSQL database).
    catalog_file: Path | None
    #: Where the catalog's tables are, for messages (None: the SQLite catalog file).
    _where: str | None = None

    @classmethod
    def on_postgres(
        cls,
        url: str,
        warehouse: Path,
        *,
        schema: str = "public",
        read_only: bool = False,
        connect_timeout: float = 10.0,
    ) -> IcebergCatalog:
        """The catalog's tables in a PostgreSQL database, the warehouse a folder.

        Its tables (``iceberg_tables``, ``iceberg_namespace_properties``) live in their own schema
        ``<schema>_iceberg`` beside the store's ``schema`` (so they are not part of the store's
        schema, its fingerprint and drift check), created on first use, once even when several
        processes open a new catalog at once.
        """
        self = cls.__new__(cls)
        self.catalog_file = None
        self.warehouse = warehouse
        self.read_only = read_only
        catalog_schema = catalog_schema_of(schema)
        uri, self._where = postgres_catalog_uri(
            url, catalog_schema, read_only=read_only, connect_timeout=connect_timeout
        )
        properties = {
            "uri": uri,
            "warehouse": warehouse_location(warehouse),
            "init_catalog_tables": "false" if read_only else "true",
        }
        with self._translate("open the Iceberg catalog"):
            self._catalog = _HookedSqlCatalog(CATALOG_NAME, pg_schema=catalog_schema, **properties)
        self._catalog.adapter = self
        return self

    @property
    def where(self) -> str:
        """The catalog for messages: its SQLite file, or its PostgreSQL database (no password)."""
        return self._where or f"catalog file {self.catalog_file}"

    def retry_commits(
        self,
        load: Callable[[], IcebergTable],
        change: Callable[[IcebergTable], object],
        *,
        attempts: int = DEFAULT_COMMIT_ATTEMPTS,
    ) -> IcebergTable:
        """Apply ``change`` to a freshly loaded table; when another process committed first, load
        it again and re-apply, at most ``attempts`` times in all (with a short random backoff).

        Returns the table as this change left it; ``CatalogConflictError`` when every attempt lost.
        """
        for attempt in range(1, attempts + 1):
            table = load()
            try:
                change(table)
            except CatalogConflictError as exc:
                if attempt == attempts:
                    name = ".".join(table.name())
                    raise CatalogConflictError(
                        f"Other processes kept committing to the Iceberg table {name}: this change "
                        f"lost {attempts} times in a row and was not made; retry it later."
                    ) from exc
                time.sleep(random.uniform(0, 0.05 * 2**attempt))
                continue
            return table
        raise AssertionError("unreachable")  # pragma: no cover

    def on_commit(self, hook: CommitHook | None) -> None:
        """Route every table commit made through this catalog's tables through ``hook``."""
        self._catalog.commit_hook = hook

    def close(self) -> None:
        self._catalog.close()

    @property
    def warehouse_uri(self) -> str:
        return str(self._catalog.properties["warehouse"])

    def namespace_location(self, namespace: str) -> str:
        """Where PyIceberg puts the tables of ``namespace`` by default."""
        return f"{self.warehouse_uri.rstrip('/')}/{namespace}"

    # -- namespaces ---------------------------------------------------------------------------

    def namespaces(self) -> list[str]:
        with self._translate("list the Iceberg namespaces"):
            return sorted(".".join(ns) for ns in self._catalog.list_namespaces())

    def create_namespace(self, namespace: str, properties: Mapping[str, str] | None = None) -> None:
        try:
            with self._translate(f"create the Iceberg namespace {namespace!r}"):
                self._catalog.create_namespace(namespace, dict(properties or {}))
        except NamespaceAlreadyExistsError as exc:
            raise CatalogAlreadyExistsError(
                f"The Iceberg catalog already has a namespace {namespace!r} that the store does "
                "not know; nothing was changed (run 'metamigrate catalog check')."
            ) from exc

    def drop_namespace(self, namespace: str) -> None:
        try:
            with self._translate(f"drop the Iceberg namespace {namespace!r}"):
                self._catalog.drop_namespace(namespace)
        except NoSuchNamespaceError as exc:
            raise CatalogNotFoundError(
                f"The Iceberg catalog has no namespace {namespace!r}; nothing was changed "
                "(run 'metamigrate catalog check')."
            ) from exc
        except NamespaceNotEmptyError as exc:
            raise CatalogError(
                f"The Iceberg namespace {namespace!r} still has tables the store does not list; "
                "nothing was changed (run 'metamigrate catalog check')."
            ) from exc

    # -- tables -------------------------------------------------------------------------------

    def create_table(
        self,
        namespace: str,
        name: str,
        schema: Schema | pa.Schema,
        properties: Mapping[str, str] | None = None,
    ) -> str:
        """Create the table (metadata file and catalog row) and return its metadata location."""
        if (namespace, name) in self.table_locations():
            # Checked first: PyIceberg writes the metadata file before it finds the duplicate.
            raise CatalogAlreadyExistsError(
                f"The Iceberg catalog already has a table {namespace}.{name} that the store does "
                "not know; nothing was changed (run 'metamigrate catalog check')."
            )
        _written.paths = []
        try:
            table = self._create_table(namespace, name, schema, properties)
        except BaseException:
            # PyIceberg writes the metadata file before the catalog row: if the row failed, the
            # file is an orphan. Delete what this call wrote (only that: another process may be
            # creating the same table in the same folder), so the warehouse is unchanged too.
            for orphan in _written.paths:
                with contextlib.suppress(OSError):
                    self._local_path(orphan).unlink(missing_ok=True)
            self._prune_empty_folders(f"{self.namespace_location(namespace)}/{name}")
            raise
        finally:
            _written.paths = None
        return str(table.metadata_location)

    def _create_table(
        self,
        namespace: str,
        name: str,
        schema: Schema | pa.Schema,
        properties: Mapping[str, str] | None,
    ) -> IcebergTable:
        try:
            with self._translate(f"create the Iceberg table {namespace}.{name}"):
                return self._catalog.create_table(
                    (namespace, name), schema, properties=dict(properties or {})
                )
        except NoSuchNamespaceError as exc:
            raise CatalogNotFoundError(
                f"The Iceberg catalog has no namespace {namespace!r} although the store has that "
                "database; nothing was changed (run 'metamigrate catalog check')."
            ) from exc
        except TableAlreadyExistsError as exc:
            raise CatalogAlreadyExistsError(
                f"The Iceberg catalog already has a table {namespace}.{name}; nothing was changed."
            ) from exc

    def load_table(self, namespace: str, name: str) -> IcebergTable:
        try:
            with self._translate(f"load the Iceberg table {namespace}.{name}"):
                return self._catalog.load_table((namespace, name))
        except NoSuchTableError as exc:
            raise CatalogNotFoundError(
                f"The Iceberg catalog has no table {namespace}.{name} although the store lists it "
                "(run 'metamigrate catalog check')."
            ) from exc

    def drop_table(self, namespace: str, name: str) -> None:
        """Remove the table from the catalog; its files stay (see ``delete_files``)."""
        try:
            with self._translate(f"drop the Iceberg table {namespace}.{name}"):
                self._catalog.drop_table((namespace, name))
        except NoSuchTableError as exc:
            raise CatalogNotFoundError(
                f"The Iceberg catalog has no table {namespace}.{name}; nothing was changed "
                "(run 'metamigrate catalog check', or drop with force=True)."
            ) from exc

    def register_table(self, namespace: str, name: str, metadata_location: str) -> None:
        """Put a dropped table back in the catalog from its metadata file (used to undo a drop)."""
        with self._translate(f"restore the Iceberg table {namespace}.{name}"):
            self._catalog.register_table((namespace, name), metadata_location)

    def table_locations(self) -> dict[tuple[str, str], str | None]:
        """Every table in the catalog with the metadata location the catalog records for it."""
        with self._translate("list the Iceberg tables"), Session(self._catalog.engine) as session:
            rows = session.execute(
                select(
                    IcebergTables.table_namespace,
                    IcebergTables.table_name,
                    IcebergTables.metadata_location,
                ).where(IcebergTables.catalog_name == CATALOG_NAME)
            ).all()
        return {(str(ns), str(name)): location for ns, name, location in rows}

    def locations_of(self, namespace: str, name: str) -> tuple[str | None, str | None]:
        """The table's current and previous metadata locations in the catalog (None: no table)."""
        with self._translate("read the Iceberg tables"), Session(self._catalog.engine) as session:
            row = session.execute(
                select(
                    IcebergTables.metadata_location, IcebergTables.previous_metadata_location
                ).where(
                    IcebergTables.catalog_name == CATALOG_NAME,
                    IcebergTables.table_namespace == namespace,
                    IcebergTables.table_name == name,
                )
            ).first()
        return (None, None) if row is None else (row[0], row[1])

    def restore_location(
        self, namespace: str, name: str, current: str, location: str, previous: str | None
    ) -> None:
        """Undo a commit: point the table back at ``location`` and delete the new metadata file.

        Only if the catalog still points at ``current`` (nobody committed since).
        """
        with self._translate(f"restore the Iceberg table {namespace}.{name}"):
            with Session(self._catalog.engine) as session:
                result = session.execute(
                    update(IcebergTables)
                    .where(
                        IcebergTables.catalog_name == CATALOG_NAME,
                        IcebergTables.table_namespace == namespace,
                        IcebergTables.table_name == name,
                        IcebergTables.metadata_location == current,
                    )
                    .values(metadata_location=location, previous_metadata_location=previous)
                )
                session.commit()
            if getattr(result, "rowcount", 0) == 1:
                self._io(current).delete(current)

    def has_catalog_tables(self) -> bool:
        """False for a catalog file that PyIceberg never initialised (read-only opening)."""
        try:
            with Session(self._catalog.engine) as session:
                session.execute(select(IcebergNamespaceProperties.namespace).limit(1))
        except SQLAlchemyError:
            return False
        return True

    # -- files --------------------------------------------------------------------------------

    def metadata_exists(self, location: str) -> bool:
        with self._translate(f"read {location}"):
            return bool(self._io(location).new_input(location).exists())

    def delete_new_table_files(self, metadata_location: str, table_location: str) -> None:
        """Undo the files of a table created moments ago: its metadata file and emptied folders."""
        with self._translate(f"delete {metadata_location}"):
            self._io(metadata_location).delete(metadata_location)
        self._prune_empty_folders(table_location)

    def delete_files(self, table: IcebergTable) -> None:
        """Delete a dropped table's files as PyIceberg's purge does, then its emptied folders.

        Data files, manifests, manifest lists and every metadata version; a file that cannot be
        deleted is logged by PyIceberg and left behind.
        """
        io = self._io(table.metadata_location)
        manifests = []
        manifest_lists = set()
        with self._translate(f"delete the files of {table.location()}"):
            for snapshot in table.metadata.snapshots:
                manifests += snapshot.manifests(io)
                manifest_lists.add(snapshot.manifest_list)
            delete_data_files(io, manifests)
            delete_files(io, {m.manifest_path for m in manifests}, MANIFEST)
            delete_files(io, manifest_lists, MANIFEST_LIST)
            previous = {log.metadata_file for log in table.metadata.metadata_log}
            delete_files(io, previous, PREVIOUS_METADATA)
            delete_files(io, {table.metadata_location}, METADATA)
        self._prune_empty_folders(table.location())

    def _prune_empty_folders(self, table_location: str) -> None:
        """Remove the table's emptied folders, and its parents up to the warehouse if emptied."""
        root = self.warehouse.absolute()
        table_folder = self._local_path(table_location)
        if root not in table_folder.parents or not table_folder.is_dir():
            return
        for path, _subfolders, _files in os.walk(table_folder, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(path)  # only succeeds when empty
        parent = table_folder.parent
        while parent != root and root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                return
            parent = parent.parent

    @staticmethod
    def _local_path(location: str) -> Path:
        """The local path of a location (the warehouse is always local here): the path of a
        ``file://`` URI as PyIceberg reads it, or a plain path as it is."""
        if location.startswith("file:"):
            return Path(urlparse(location).path)
        return Path(location)

    def _io(self, location: str) -> Any:
        return load_file_io(properties=self._catalog.properties, location=location)

    # -- errors -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        """Turn SQLAlchemy and file errors into one CatalogError sentence."""
        try:
            yield
        except SQLAlchemyError as exc:
            reason = getattr(exc, "orig", None) or exc.__class__.__name__
            raise CatalogError(f"Could not {action}: {reason} ({self.where}).") from exc
        except OSError as exc:
            raise CatalogError(f"Could not {action}: {exc.strerror or exc}.") from exc


def postgres_catalog_uri(
    url: str, schema: str = "public", *, read_only: bool = False, connect_timeout: float = 10.0
) -> tuple[str, str]:
    """(SQLAlchemy URL for psycopg 3, the same without its password for messages) of a libpq
    ``postgresql://`` URL, with the catalog's tables in ``schema`` (its ``search_path``)."""
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy.engine import URL

    libpq = "postgresql://" + url.split("://", 1)[1] if "://" in url else url
    params: dict[str, Any] = dict(conninfo_to_dict(libpq))
    options = [str(params.pop("options", "") or "")]
    options.append("-c search_path=" + _option_value('"' + schema.replace('"', '""') + '"'))
    if read_only:
        options.append("-c default_transaction_read_only=on")
    query = {"options": " ".join(o for o in options if o)}
    query["connect_timeout"] = str(params.pop("connect_timeout", max(1, round(connect_timeout))))
    for key, value in params.items():
        if key not in ("host", "port", "dbname", "user", "password"):
            query[key] = str(value)
    sa_url = URL.create(
        "postgresql+psycopg",
        username=params.get("user"),
        password=params.get("password"),
        host=params.get("host"),
        port=int(params["port"]) if params.get("port") else None,
        database=params.get("dbname"),
        query=query,
    )
    shown = (
        f"PostgreSQL database {sa_url.database or '(default)'} on {sa_url.host or 'localhost'}:"
        f"{sa_url.port or 5432} as {sa_url.username or '(default user)'}, schema {schema}"
    )
    return sa_url.render_as_string(hide_password=False), shown


def _option_value(value: str) -> str:
    """A value inside libpq ``options``: spaces and backslashes escaped with a backslash."""
    return value.replace("\\", "\\\\").replace(" ", "\\ ")
