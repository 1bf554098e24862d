"""Migration files: bytecode reused only when fresh, checksums computed only when needed."""

from __future__ import annotations

import os
import py_compile
from pathlib import Path

import pytest

from engine import Registry
from engine.checksum import source_checksum
from tests.conftest import MigrationFiles

FIRST = 'def up(tx):\n    tx.execute("CREATE TABLE first (a)")\n'
EDITED = 'def up(tx):\n    tx.execute("CREATE TABLE edited_table (a)")\n'


def _up_sql(folder: Path) -> str:
    seen: list[str] = []

    class Recording:
        def execute(self, sql: str) -> None:
            seen.append(sql)

    Registry.from_directory(folder).get(1).up(Recording())  # type: ignore[arg-type]
    return seen[0]


def test_a_fresh_bytecode_file_runs_the_same_code(write_migrations: MigrationFiles) -> None:
    folder = write_migrations({"0001_first.py": FIRST})
    py_compile.compile(str(folder / "0001_first.py"), doraise=True)
    assert _up_sql(folder) == "CREATE TABLE first (a)"


def test_a_stale_bytecode_file_is_ignored_after_an_edit(write_migrations: MigrationFiles) -> None:
    folder = write_migrations({"0001_first.py": FIRST})
    path = folder / "0001_first.py"
    py_compile.compile(str(path), doraise=True)
    stat = path.stat()
    path.write_text(EDITED, encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime: only the size differs
    assert _up_sql(folder) == "CREATE TABLE edited_table (a)"


def test_the_checksum_of_a_loaded_file_is_its_source_checksum(
    write_migrations: MigrationFiles,
) -> None:
    folder = write_migrations({"0001_first.py": FIRST})
    assert Registry.from_directory(folder).get(1).checksum == source_checksum(FIRST)


def test_the_same_relative_folder_in_another_working_directory_loads_its_own_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, source, table in (("one", FIRST, "first"), ("two", EDITED, "edited_table")):
        (tmp_path / name / "migrations").mkdir(parents=True)
        (tmp_path / name / "migrations" / "0001_first.py").write_text(source, encoding="utf-8")
        monkeypatch.chdir(tmp_path / name)
        assert _up_sql(Path("migrations")) == f"CREATE TABLE {table} (a)"
