"""The Iceberg catalog and warehouse land exactly under the base path, whatever characters it holds.

A ``#`` or ``?`` in the base path used to cut the SQLAlchemy URL (SQLAlchemy 2.1 decodes the
database part of a URL string, 2.0 does not) and the ``file://`` warehouse location (PyIceberg
reads it with ``urlparse``), so tables were written into whatever file the shorter path named;
``%41`` made the catalog unopenable. CI runs this module on both SQLAlchemy lines the ``catalog``
extra allows (2.0 through the ``test`` extra's pins, and 2.1, what ``.[catalog]`` resolves to).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from engine.metadata import CATALOG_FILE, MetadataManager
from tests.metadata.conftest import orders_rows, orders_schema

NAMES = {
    "hash": "base#1",
    "question-mark": "base?x=1",
    "percent-escape": "base%41%2F",
    "space": "my base",
    "unicode": "bäse-データ",
    "semicolon": "base;v=2",
    "all-at-once": "a#b?c%41 d;é",
}


def every_file(root: Path) -> set[Path]:
    return {Path(folder) / name for folder, _dirs, files in os.walk(root) for name in files}


@pytest.mark.parametrize("name", list(NAMES.values()), ids=list(NAMES))
def test_the_catalog_and_its_tables_are_written_under_the_base_path(
    tmp_path: Path, name: str
) -> None:
    base = tmp_path / name
    with MetadataManager.open(base / "metadata.db", base) as meta:
        meta.create_database("sales")
        meta.create_table("sales", "orders", orders_schema())
        meta.load_table("sales", "orders").append(orders_rows())
        assert meta.check().passed
    stray = {p for p in every_file(tmp_path) if base not in p.parents}
    assert stray == set()
    conn = sqlite3.connect(base / CATALOG_FILE)
    try:
        rows = conn.execute("SELECT table_namespace, table_name FROM iceberg_tables").fetchall()
    finally:
        conn.close()
    assert rows == [("sales", "orders")]


@pytest.mark.parametrize("name", list(NAMES.values()), ids=list(NAMES))
def test_a_catalog_reopens_read_only_from_such_a_path(tmp_path: Path, name: str) -> None:
    base = tmp_path / name
    with MetadataManager.open(base / "metadata.db", base) as meta:
        meta.create_database("sales")
        meta.create_table("sales", "orders", orders_schema())
    from engine.metadata.manager import open_catalog

    catalog = open_catalog(base, read_only=True)
    assert catalog is not None
    try:
        assert catalog.namespaces() == ["sales"]
    finally:
        catalog.close()


@pytest.mark.parametrize("name", list(NAMES.values()), ids=list(NAMES))
def test_the_sqlalchemy_url_names_exactly_the_catalog_file(tmp_path: Path, name: str) -> None:
    from sqlalchemy import create_engine, text

    from engine.metadata.iceberg import catalog_url

    folder = tmp_path / name
    folder.mkdir()
    target = folder / "catalog.db"
    engine = create_engine(catalog_url(target, read_only=False, busy_timeout=1))
    try:
        with engine.connect() as conn:
            files = [row[2] for row in conn.execute(text("PRAGMA database_list"))]
    finally:
        engine.dispose()
    assert files == [str(target)]
    assert every_file(tmp_path) == {target}
