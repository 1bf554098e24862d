"""The catalog's part of the command line: ``--base-path`` and ``metamigrate catalog list|check``.

``engine/cli.py`` registers this with one call and attaches the check in ``_manager``. The catalog
is only ever read from here (SQLite ``mode=ro``); Rich and PyIceberg load only when a command
needs them, so commands without a base path import neither.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import EXIT_BAD_INPUT, EXIT_FAILED, MetamigrateError
from engine.options import COMMON, CommandRegistry, flags_of, parent
from engine.settings import ENV_BASE_PATH, Settings

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: what status imports must not load typing

if TYPE_CHECKING:
    from typing import Any

    from engine.cli import Output
    from engine.manager import MigrationManager
    from engine.verify import CheckResult

BASE_PATH_ENV = ENV_BASE_PATH

#: Commands that take ``--base-path`` and then include the catalog check.
CHECKED_COMMANDS = ("status", "verify", "ensure-ready", "console")


class CatalogUsageError(MetamigrateError):
    exit_code = EXIT_BAD_INPUT


# -- parsing -------------------------------------------------------------------------------------


def register(commands: CommandRegistry) -> None:
    """The ``catalog`` command with its ``list`` and ``check`` actions (``--base-path`` is a row
    of the option table, taken by the checked commands and by these)."""
    catalog = commands.add(
        "catalog", "List or check the Iceberg catalog against the store.", cmd_catalog, ("catalog",)
    )
    actions = catalog.add_subparsers(dest="catalog_action", metavar="ACTION")
    actions.required = True
    for name, text in (
        ("list", "List databases and tables as the store and the Iceberg catalog see them."),
        ("check", "Check that the store and the Iceberg catalog describe the same tables."),
    ):
        actions.add_parser(name, help=text, description=text, parents=[parent(*COMMON, "catalog")])


def base_path_of(args: argparse.Namespace) -> Path | None:
    """The resolved ``--base-path`` (flag, else $METAMIGRATE_BASE_PATH); None when not set."""
    settings: Settings | None = getattr(args, "settings", None)
    if settings is None:  # a namespace not made by engine.cli.parse_args
        from engine.config import load_settings

        settings = load_settings(flags_of(args))[0]
    return settings.base_path_or_none


# -- the check on the CLI's MigrationManager -----------------------------------------------------


def attach_from_args(manager: MigrationManager, args: argparse.Namespace) -> None:
    """Called by the CLI for every command: attach the check when a base path is configured."""
    if args.command not in CHECKED_COMMANDS:
        return
    base = base_path_of(args)
    if base is not None:
        from engine.metadata.consistency import attach_catalog_check

        attach_catalog_check(manager, base)


def catalog_report(manager: MigrationManager) -> CheckResult | None:
    """Run only the attached catalog check (for ``status``); None when none is attached."""
    if not manager.extra_checks:
        return None  # the common case, without loading any verification code
    from engine.metadata.consistency import CatalogCheck

    checks = [c for c in manager.extra_checks if isinstance(c, CatalogCheck)]
    if not checks:
        return None
    with manager.connection() as conn:
        return checks[0](conn)


def check_line(check: CheckResult) -> str:
    """One Rich line for a check, as ``verify`` prints it."""
    from rich.markup import escape

    mark = "[green]✓ pass[/]" if check.passed else "[bold red]✗ FAIL[/]"
    detail = f" ({escape(check.detail)})" if check.detail else ""
    lines = [f"{mark}  {escape(check.title)}{detail}"]
    lines += [f"        {escape(problem)}" for problem in check.problems]
    return "\n".join(lines)


# -- metamigrate catalog list | check ------------------------------------------------------------


def cmd_catalog(args: argparse.Namespace, out: Output) -> int:
    from engine.backends import open_backend
    from engine.backends.base import ConnectOptions
    from engine.metadata.consistency import check_with, database_states, read_store, table_states
    from engine.metadata.manager import (
        catalog_paths,
        is_server_location,
        load_adapter,
        open_catalog,
    )

    base = base_path_of(args)
    if base is None:
        raise CatalogUsageError(
            f"The catalog commands need the service's base path: pass --base-path PATH or set "
            f"{BASE_PATH_ENV}."
        )
    load_adapter()
    settings: Settings | None = getattr(args, "settings", None)
    schema = settings.schema if settings is not None else getattr(args, "schema", None)
    conn = open_backend(
        args.db, ConnectOptions(read_only=True, busy_timeout=args.busy_timeout, schema=schema)
    )
    server = is_server_location(args.db)
    catalog = None
    try:
        catalog = open_catalog(
            base, read_only=True, store=args.db if server else None, schema=schema
        )
        if args.catalog_action == "check":
            result = check_with(conn, lambda: catalog)
            if out.as_json:
                out.json(result.to_dict())
            else:
                out.console.print(check_line(result))
            return 0 if result.passed else EXIT_FAILED
        catalog_file: Path | str = catalog_paths(base)[0]
        if server:
            catalog_file = conn.location  # the catalog's tables are in the store's database
        if catalog is None:
            raise CatalogUsageError(
                f"There is no Iceberg catalog at {catalog_file}; check --base-path (the service "
                "creates it when it first opens the catalog)."
            )
        store = read_store(conn)
        databases = database_states(store, catalog)
        tables = table_states(store, catalog)
    finally:
        if catalog is not None:
            catalog.close()
        conn.close()
    if out.as_json:
        out.json(
            {
                "database": str(args.db),
                "catalog": str(catalog_file),
                "databases": [
                    {"name": name, "in_store": in_store, "in_catalog": in_catalog}
                    for name, (in_store, in_catalog) in databases.items()
                ],
                "tables": [t.to_dict() for t in tables],
            }
        )
        return 0
    _print_list(out, catalog_file, databases, tables)
    return 0


def _print_list(out: Output, catalog_file: Path | str, databases: Any, tables: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    marks = {
        "ok": "[green]✓ ok[/]",
        "not_in_catalog": "[red]✗ not in catalog[/]",
        "not_in_store": "[red]✗ not in store[/]",
        "location_differs": "[red]✗ location differs[/]",
        "metadata_missing": "[red]✗ metadata missing[/]",
    }
    by_database: dict[str, list[Any]] = {name: [] for name in databases}
    for table in tables:
        by_database.setdefault(table.database, []).append(table)
    view = Table(title=f"Iceberg catalog {escape(str(catalog_file))}")
    for column in ("Database", "Table", "State", "Metadata location"):
        view.add_column(column)
    for name, (in_store, in_catalog) in databases.items():
        if not (in_store and in_catalog):
            state = "[red]✗ not in catalog[/]" if in_store else "[red]✗ not in store[/]"
            view.add_row(escape(name), "", state, "")
        for table in by_database.get(name, []):
            location = table.store_location or table.catalog_location or ""
            view.add_row(escape(name), escape(table.name), marks[table.state], escape(location))
    if not databases:
        out.console.print("The store and the Iceberg catalog have no databases yet.")
        return
    out.console.print(view)
