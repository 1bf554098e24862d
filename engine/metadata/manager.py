"""MetadataManager: one coordinator over the migrated store and the Iceberg catalog.

Every operation changes both halves or neither. The store half runs in a store transaction
(``BEGIN IMMEDIATE``, so no other writer slips in between the two halves); the catalog half runs
inside it. If the catalog half fails, the store transaction rolls back; if the store half fails
after it, the catalog change is undone (a created table is dropped and its files deleted, a
dropped one registered again, a namespace removed or put back).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from engine.backends import is_url, scheme_of
from engine.metadata.consistency import check_with
from engine.metadata.errors import (
    INSTALL_HINT,
    CatalogNotFoundError,
    CatalogNotInstalledError,
    CatalogUnavailableError,
)
from engine.settings import DEFAULT_BUSY_TIMEOUT
from engine.store.store import (
    AlreadyExistsError,
    Database,
    NotFoundError,
    Store,
    StoreError,
    Table,
)

if TYPE_CHECKING:
    from types import ModuleType

    import pyarrow as pa
    from pyiceberg.schema import Schema
    from pyiceberg.table import Table as IcebergTable

    from engine.manager import RegistrySpec
    from engine.metadata.iceberg import IcebergCatalog
    from engine.verify import CheckResult

#: How many times ``update_table`` tries a change that another process beat to the commit.
DEFAULT_COMMIT_ATTEMPTS = 5

#: The catalog's SQLite file and the table warehouse, both relative to the service's base path.
CATALOG_FILE = "iceberg_catalog.db"
WAREHOUSE_DIR = "warehouse"

#: Third-party modules the catalog needs; an ImportError naming one of them means "not installed".
_CATALOG_MODULES = ("pyiceberg", "sqlalchemy", "pyarrow")

#: Database and table names: they become Iceberg identifiers and warehouse folder names.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")

_MISSING = object()
_T = TypeVar("_T")
_Undo = list[Callable[[], object]]
_log = logging.getLogger(__name__)


def load_adapter() -> ModuleType:
    """Import the PyIceberg adapter, or say in one sentence how to install PyIceberg."""
    try:
        from engine.metadata import iceberg
    except ImportError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in _CATALOG_MODULES:
            raise
        raise CatalogNotInstalledError(
            f"The Iceberg catalog needs PyIceberg ({missing} is not installed); install it with "
            f"{INSTALL_HINT}."
        ) from exc
    return iceberg


def is_server_location(location: str | os.PathLike[str]) -> bool:
    """True for a database server URL (``postgresql://``), False for a SQLite file or URL."""
    return is_url(location) and scheme_of(location) != "sqlite"


def catalog_paths(base_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The catalog file and the warehouse folder under ``base_path``."""
    base = Path(base_path)
    return base / CATALOG_FILE, base / WAREHOUSE_DIR


def open_catalog(
    base_path: str | os.PathLike[str],
    *,
    read_only: bool = False,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    store: str | os.PathLike[str] | None = None,
    schema: str | None = None,
) -> IcebergCatalog | None:
    """The catalog of the service under ``base_path``; read-only returns None when there is no
    catalog yet.

    With a store on PostgreSQL (``store``: its ``postgresql://`` URL, ``schema``: the store's
    schema) the catalog's tables are in that same database and schema (PyIceberg calls its
    SQLite catalog development-only); otherwise they are in a SQLite file under ``base_path``.
    The warehouse is always ``base_path``/warehouse.
    """
    adapter = load_adapter()
    catalog_file, warehouse = catalog_paths(base_path)
    if store is not None and is_server_location(store):
        if not read_only:
            warehouse.mkdir(parents=True, exist_ok=True)
        catalog: IcebergCatalog = adapter.IcebergCatalog.on_postgres(
            os.fspath(store), warehouse, schema=schema or "public", read_only=read_only
        )
    else:
        if read_only and not catalog_file.exists():
            return None
        if not read_only:
            warehouse.mkdir(parents=True, exist_ok=True)
        catalog = adapter.IcebergCatalog(
            catalog_file, warehouse, read_only=read_only, busy_timeout=busy_timeout
        )
    if read_only and not catalog.has_catalog_tables():
        catalog.close()
        return None
    return catalog


class MetadataManager:
    """The store and the Iceberg catalog, kept describing the same databases and tables.

    Open with ``MetadataManager.open(db_path, base_path)``; close it (or use ``with``) when done.
    """

    def __init__(self, store: Store, catalog: IcebergCatalog | None) -> None:
        self.store = store
        self._catalog = catalog
        if catalog is not None:
            store.migrations.extra_checks.append(self.check)
            catalog.on_commit(self._record_commit)

    @classmethod
    def open(
        cls,
        db_path: str | os.PathLike[str],
        base_path: str | os.PathLike[str],
        *,
        catalog: bool = True,
        migrations: RegistrySpec = None,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        schema: str | None = None,
    ) -> MetadataManager:
        """Open the store (migrating it, failing fast like ``Store.open``), then the catalog.

        ``db_path``: a SQLite file, or a ``postgresql://`` URL (``schema``: the store's schema
        there), whose database then also holds the Iceberg catalog's tables. With
        ``catalog=False`` only the store is opened and PyIceberg is never imported.
        """
        if catalog:
            load_adapter()  # a missing extra fails before the store is touched
        store = Store.open(
            db_path, base_path, migrations=migrations, busy_timeout=busy_timeout, schema=schema
        )
        try:
            opened = (
                open_catalog(
                    store.base_path,
                    busy_timeout=busy_timeout,
                    store=db_path,
                    schema=getattr(store.backend, "schema", None),
                )
                if catalog
                else None
            )
        except BaseException:
            store.close()
            raise
        return cls(store, opened)

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()
        self.store.close()

    def __enter__(self) -> MetadataManager:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def base_path(self) -> Path:
        return self.store.base_path

    @property
    def has_catalog(self) -> bool:
        return self._catalog is not None

    @property
    def catalog(self) -> IcebergCatalog:
        """The Iceberg half (``engine.metadata.iceberg.IcebergCatalog``)."""
        if self._catalog is None:
            raise CatalogUnavailableError(
                "This MetadataManager was opened with catalog=False; open it with catalog=True "
                "to use Iceberg tables."
            )
        return self._catalog

    # -- databases ----------------------------------------------------------------------------

    def create_database(self, name: str, *, description: str = "") -> Database:
        """A store row and an Iceberg namespace, or neither."""
        _check_name(name, "database")
        catalog = self.catalog

        def work(undo: _Undo) -> None:
            location = catalog.namespace_location(name)
            self.store.create_database(name, description=description, location=location)
            catalog.create_namespace(name)
            undo.append(lambda: catalog.drop_namespace(name))

        self._in_both_halves(work)
        return self.store.get_database(name)

    def list_databases(self) -> list[Database]:
        return self.store.list_databases()

    def get_database(self, name: str) -> Database:
        return self.store.get_database(name)

    def drop_database(self, name: str) -> None:
        """Drop an empty database from both halves (drop its tables first)."""
        catalog = self.catalog

        def work(undo: _Undo) -> None:
            self.store.drop_database(name)
            catalog.drop_namespace(name)
            undo.append(lambda: catalog.create_namespace(name))

        self._in_both_halves(work)

    # -- tables -------------------------------------------------------------------------------

    def create_table(
        self,
        database: str,
        name: str,
        schema: Schema | pa.Schema,
        *,
        properties: dict[str, str] | None = None,
    ) -> Table:
        """Create the Iceberg table in the warehouse; the store records its metadata location."""
        _check_name(name, "table")
        catalog = self.catalog

        def work(undo: _Undo) -> None:
            # Checked under the store's write lock, before anything is written to the catalog.
            self.store.get_database(database)
            self._refuse_existing_table(database, name)
            location = catalog.create_table(database, name, schema, properties)
            undo.append(lambda: self._discard_new_table(database, name, location))
            self.store.create_table(
                database, name, metadata_location=location, properties=properties
            )

        self._in_both_halves(work)
        return self.store.get_table(database, name)

    def list_tables(self, database: str) -> list[Table]:
        return self.store.list_tables(database)

    def get_table(self, database: str, name: str) -> Table:
        """The store's row for the table (its metadata location, format and properties)."""
        return self.store.get_table(database, name)

    def load_table(self, database: str, name: str) -> IcebergTable:
        """The PyIceberg table, after checking the store lists it.

        Its commits (``append``, ``update_schema().commit()``, ...) also update the store's metadata
        location, both or neither, so the consistency check stays green.
        """
        self.store.get_table(database, name)
        return self.catalog.load_table(database, name)

    def update_table(
        self,
        database: str,
        name: str,
        change: Callable[[IcebergTable], object],
        *,
        attempts: int = DEFAULT_COMMIT_ATTEMPTS,
    ) -> IcebergTable:
        """Apply ``change`` (e.g. ``lambda t: t.append(rows)``) to the table, retrying when another
        process or replica committed to it first: the table is loaded again and ``change`` run
        again, at most ``attempts`` times; then ``CatalogConflictError`` says so in one sentence.
        Each commit updates the store's metadata location too, both or neither."""
        return self.catalog.retry_commits(
            lambda: self.load_table(database, name), change, attempts=attempts
        )

    def drop_table(
        self, database: str, name: str, *, purge: bool = False, force: bool = False
    ) -> None:
        """Drop the table from both halves.

        ``purge`` also deletes its data and metadata files once both halves agree it is gone;
        ``force`` removes the store row even when the Iceberg table is missing from the catalog.
        """
        catalog = self.catalog

        def work(undo: _Undo) -> IcebergTable | None:
            self.store.get_table(database, name)
            recorded = catalog.table_locations().get((database, name), _MISSING)
            if recorded is _MISSING and not force:
                raise CatalogNotFoundError(
                    f"The Iceberg catalog has no table {database}.{name}; nothing was changed "
                    "(drop it with force=True to remove the store's row)."
                )
            in_catalog = recorded is not _MISSING
            table = catalog.load_table(database, name) if purge and in_catalog else None
            self.store.drop_table(database, name)
            if in_catalog:
                catalog.drop_table(database, name)
                undo.append(lambda: catalog.register_table(database, name, str(recorded)))
            return table

        dropped = self._in_both_halves(work)
        if dropped is not None:
            catalog.delete_files(dropped)

    # -- checking -----------------------------------------------------------------------------

    def check(self, conn: Any = None) -> CheckResult:
        """The consistency check (also run by ``store.migrations.verify()``); ``conn``: the
        store's backend or a raw connection (default: the store's own)."""
        if conn is None:
            with self.store.migrations.backend() as own:
                return self.check(own)
        return check_with(conn, lambda: self._catalog)

    # -- helpers ------------------------------------------------------------------------------

    def _in_both_halves(self, work: Callable[[_Undo], _T]) -> _T:
        """Run ``work`` in one store transaction; on any failure undo what it did to the catalog.

        ``work`` does its store half and its catalog half and, right after each catalog change,
        appends the action that undoes it. If anything fails later (the rest of the store half, or
        COMMIT itself), the store rolls back and those actions run, newest first.
        """
        if self.store.backend.in_transaction:
            raise StoreError(
                "A MetadataManager operation cannot run inside an open store transaction: its "
                "Iceberg half could not be undone with it; call it outside the transaction."
            )
        undo: _Undo = []
        try:
            with self.store.transaction():
                return work(undo)
        except BaseException as exc:
            backend = self.store.backend
            backend.rollback()  # a failed COMMIT leaves the transaction open
            for action in reversed(undo):
                _undo(action)
            if isinstance(exc, backend.driver_errors):
                raise backend.translate_error(exc) from exc
            raise

    def _record_commit(
        self,
        database: str,
        name: str,
        commit: Callable[[], str],
        undo: Callable[[], None],
    ) -> None:
        """A commit to a loaded table (append, schema change, ...): the store follows it."""
        try:
            self.store.get_table(database, name)
        except NotFoundError:
            commit()  # not a table of this service; the consistency check reports it
            return

        def work(undo_list: _Undo) -> None:
            location = commit()
            undo_list.append(undo)
            self.store.update_table_location(database, name, location)

        self._in_both_halves(work)

    def _refuse_existing_table(self, database: str, name: str) -> None:
        try:
            self.store.get_table(database, name)
        except NotFoundError:
            return
        raise AlreadyExistsError(f"Table {database}.{name} already exists.")

    def _discard_new_table(self, database: str, name: str, metadata_location: str) -> None:
        catalog = self.catalog
        catalog.drop_table(database, name)
        table_location = metadata_location.rsplit("/metadata/", 1)[0]
        catalog.delete_new_table_files(metadata_location, table_location)


def _check_name(name: Any, what: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise StoreError(
            f"{what.capitalize()} name {name!r} is not allowed; use letters, digits, '_' and '-' "
            "(it becomes an Iceberg identifier and a warehouse folder)."
        )


def _undo(action: Callable[[], object]) -> None:
    """Run a compensating action; the caller re-raises the original error either way."""
    try:
        action()
    except Exception as exc:
        _log.error("Could not undo the catalog half (%s); run 'metamigrate catalog check'.", exc)
