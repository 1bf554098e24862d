"""The backend boundary: SQLite specifics live in engine/backends/sqlite.py and a short list of
SQLite-only modules, nowhere else in engine/ or console/."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The modules allowed to use SQLite directly, each for a reason.
SQLITE_ONLY = {
    "engine/backends/sqlite.py": "the SQLite backend itself",
    "engine/sqlite.py": "the old name of the SQLite backend's functions (a re-export)",
    "engine/rebuild.py": "SQLite's 12-step table rebuild (Tx.rebuild_table, SQLite only)",
    "console/screenshots.py": "writes the SQLite fixture database the screenshots show",
}
#: SQLite-only folders: the metadata store's own migrations.
SQLITE_ONLY_FOLDERS = ("engine/store/migrations/",)

SQLITE_MODULES = {"sqlite3", "engine.sqlite", "engine.backends.sqlite"}
#: Vendor SQL that only the SQLite backend may send.
SQLITE_SQL = ("PRAGMA ", "sqlite_master", "BEGIN IMMEDIATE", "sqlite_schema")


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for folder in ("engine", "console"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name in SQLITE_ONLY or name.startswith(SQLITE_ONLY_FOLDERS):
                continue
            yield name, ast.parse(path.read_text(encoding="utf-8"), filename=name)


def _imported(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _docstrings(tree: ast.Module) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def test_no_module_outside_the_sqlite_backend_imports_sqlite() -> None:
    found = [
        f"{name}:{line} imports {module}"
        for name, tree in _sources()
        for line, module in _imported(tree)
        if module in SQLITE_MODULES
    ]
    assert found == []


def test_no_module_outside_the_sqlite_backend_sends_sqlite_sql() -> None:
    found = []
    for name, tree in _sources():
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and any(marker in node.value for marker in SQLITE_SQL)
            ):
                found.append(f"{name}:{node.lineno}: {node.value[:60]!r}")
    assert found == []


@pytest.mark.parametrize("name", sorted(SQLITE_ONLY))
def test_each_sqlite_only_module_exists(name: str) -> None:
    assert (ROOT / name).is_file(), f"{name} is listed as SQLite-only but does not exist"


def test_the_import_check_notices_a_sqlite_import() -> None:
    tree = ast.parse("import os\nfrom engine import sqlite as sq\nimport sqlite3\n")
    assert [m for _, m in _imported(tree) if m in SQLITE_MODULES] == ["engine.sqlite", "sqlite3"]
