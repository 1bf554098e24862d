"""The consistency check: do the store and the Iceberg catalog describe the same tables?

It runs as one more check of ``verify()`` (``MigrationManager.extra_checks``), so the deployment
status, the CLI and the console's readiness panel show it. It never writes to either half.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from engine.backends import as_backend
from engine.backends.base import Backend
from engine.settings import DEFAULT_BUSY_TIMEOUT
from engine.verify import CheckResult

if TYPE_CHECKING:
    from engine.manager import MigrationManager

CHECK_NAME = "iceberg_catalog"
CHECK_TITLE = "Store and Iceberg catalog agree"

#: The store's value of ``tables.table_format`` for tables that live in the Iceberg catalog.
ICEBERG_FORMAT = "ICEBERG"


class CatalogView(Protocol):
    """What the check needs from a catalog (``engine.metadata.iceberg.IcebergCatalog`` has it)."""

    def namespaces(self) -> list[str]: ...

    def table_locations(self) -> dict[tuple[str, str], str | None]: ...

    def metadata_exists(self, location: str) -> bool: ...


@dataclass(frozen=True)
class StoreContents:
    """What the store lists: database names and its Iceberg tables with their metadata locations."""

    databases: list[str]
    tables: dict[tuple[str, str], str]


def read_store(conn: Backend | Any) -> StoreContents:
    """Read the store's databases and Iceberg tables, at whatever schema version it is
    (``conn``: the store's backend, or a raw connection to wrap)."""
    backend = as_backend(conn)
    if not backend.table_exists("databases"):
        return StoreContents([], {})
    databases = [row[0] for row in backend.execute("SELECT name FROM databases ORDER BY name")]
    columns = set(backend.columns("tables"))
    # table_format arrived in migration 0003; before it every table was an Iceberg table.
    only_iceberg = "WHERE t.table_format = ?" if "table_format" in columns else ""
    params = (ICEBERG_FORMAT,) if only_iceberg else ()
    rows = backend.execute(
        backend.sql(
            "SELECT d.name, t.name, t.metadata_location FROM tables AS t "
            f"JOIN databases AS d ON d.id = t.database_id {only_iceberg} ORDER BY d.name, t.name"
        ),
        params,
    ).fetchall()
    return StoreContents(databases, {(db, name): location for db, name, location in rows})


@dataclass(frozen=True)
class TableState:
    """One table as each half sees it; ``state`` is "ok" or what is wrong."""

    database: str
    name: str
    store_location: str | None
    catalog_location: str | None
    state: str  # ok | not_in_catalog | not_in_store | location_differs | metadata_missing

    @property
    def problem(self) -> str | None:
        where = f"{self.database}.{self.name}"
        return {
            "ok": None,
            "not_in_catalog": (
                f"Table {where} is in the store but its Iceberg table is gone from the catalog."
            ),
            "not_in_store": (
                f"Iceberg table {where} is in the catalog but the store does not know it."
            ),
            "location_differs": (
                f"Table {where}: the store records metadata location {self.store_location} but "
                f"the Iceberg catalog has {self.catalog_location}."
            ),
            "metadata_missing": (
                f"Table {where}: its Iceberg metadata file {self.store_location} is missing "
                "(deleted outside the service); the table cannot be read."
            ),
        }[self.state]

    def to_dict(self) -> dict[str, object]:
        return {
            "database": self.database,
            "name": self.name,
            "state": self.state,
            "store_metadata_location": self.store_location,
            "catalog_metadata_location": self.catalog_location,
        }


def database_states(store: StoreContents, catalog: CatalogView) -> dict[str, tuple[bool, bool]]:
    """Every database name with (in the store, in the catalog)."""
    namespaces = set(catalog.namespaces())
    names = sorted(namespaces | set(store.databases))
    return {name: (name in store.databases, name in namespaces) for name in names}


def table_states(store: StoreContents, catalog: CatalogView) -> list[TableState]:
    in_catalog = catalog.table_locations()
    states: list[TableState] = []
    for key in sorted(set(store.tables) | set(in_catalog)):
        ours = store.tables.get(key)
        theirs = in_catalog.get(key)
        if key not in store.tables:
            state = "not_in_store"
        elif key not in in_catalog:
            state = "not_in_catalog"
        elif ours != theirs:
            state = "location_differs"
        elif not catalog.metadata_exists(str(ours)):
            state = "metadata_missing"
        else:
            state = "ok"
        states.append(TableState(key[0], key[1], ours, theirs, state))
    return states


def compare(store: StoreContents, catalog: CatalogView) -> CheckResult:
    """Every disagreement between the two halves, one sentence each."""
    problems: list[str] = []
    for name, (in_store, in_catalog) in database_states(store, catalog).items():
        if not in_catalog:
            problems.append(
                f"Database {name!r} is in the store but the Iceberg catalog has no such namespace."
            )
        elif not in_store:
            problems.append(f"Iceberg namespace {name!r} is not a database the store knows.")
    problems.extend(s.problem for s in table_states(store, catalog) if s.problem)
    detail = f"{len(store.tables)} table(s) and {len(store.databases)} database(s) compared"
    return CheckResult(CHECK_NAME, CHECK_TITLE, not problems, problems, detail)


def could_not_run(reason: str) -> CheckResult:
    return CheckResult(CHECK_NAME, CHECK_TITLE, False, [f"{CHECK_TITLE} could not run: {reason}"])


def check_with(conn: Backend | Any, open_catalog: Callable[[], CatalogView | None]) -> CheckResult:
    """Run the check on ``conn`` against the catalog ``open_catalog`` gives (None: no catalog yet).

    A check must never break the readiness report, so any failure becomes a failed check.
    """
    try:
        store = read_store(conn)
        catalog = open_catalog()
        if catalog is None:
            if store.databases:
                problem = (
                    f"The store lists {len(store.databases)} database(s) and {len(store.tables)} "
                    "Iceberg table(s) but there is no Iceberg catalog under the base path; check "
                    "the base path."
                )
                return CheckResult(CHECK_NAME, CHECK_TITLE, False, [problem], "no Iceberg catalog")
            return CheckResult(CHECK_NAME, CHECK_TITLE, True, [], "no Iceberg catalog yet")
        return compare(store, catalog)
    except Exception as exc:  # any failure is a failed check, never a crashed verify()
        message = getattr(exc, "message", None) or f"{exc.__class__.__name__}: {exc}"
        return could_not_run(str(message).rstrip(".") + ".")


class CatalogCheck:
    """The check as an extra check of ``verify()`` for the catalog under ``base_path``.

    For managers that are not a MetadataManager's (the CLI's, the console's): the catalog is
    opened read-only for each run and closed after it, so it can run on any thread.
    """

    def __init__(
        self,
        base_path: str | os.PathLike[str],
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        store: str | os.PathLike[str] | None = None,
        schema: str | None = None,
    ) -> None:
        self.base_path = Path(base_path)
        self.busy_timeout = busy_timeout
        #: The store's location when it is on a server (the catalog's tables are in it).
        self.store = store
        self.schema = schema

    def __call__(self, conn: Backend | Any) -> CheckResult:
        from engine.metadata.manager import open_catalog

        opened: list[Any] = []

        def open_it() -> CatalogView | None:
            catalog = open_catalog(
                self.base_path,
                read_only=True,
                busy_timeout=self.busy_timeout,
                store=self.store,
                schema=self.schema,
            )
            if catalog is not None:
                opened.append(catalog)
            return catalog

        try:
            return check_with(conn, open_it)
        finally:
            for catalog in opened:
                catalog.close()


def attach_catalog_check(manager: MigrationManager, base_path: str | os.PathLike[str]) -> None:
    """Make ``manager.verify()`` (and so the deployment status) include the catalog check.

    PyIceberg is imported now, so a missing ``catalog`` extra is reported at once, in one sentence.
    """
    from engine.metadata.manager import load_adapter

    load_adapter()
    manager.extra_checks.append(
        CatalogCheck(
            base_path,
            busy_timeout=manager.busy_timeout,
            store=None if manager.is_file_backed else manager.location,
            schema=manager.connect_options().schema,
        )
    )
