"""Migration files: bytecode reused only when fresh, checksums computed only when needed."""

from __future__ import annotations

import os
import py_compile
from pathlib import Path

import pytest

from engine import Registry, loader
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


SAME_SIZE = FIRST.replace("first", "other")


def _age(path: Path, seconds: int = 10) -> None:
    """Move the file's mtime into the past, as for a file deployed before it was compiled."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - seconds * 1_000_000_000))


def _compiling_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading from here on may only use bytecode: compiling a source raises."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the source was compiled although its bytecode is fresh")

    monkeypatch.setattr(loader, "compile", refuse, raising=False)


def test_a_fresh_bytecode_file_is_used_and_runs_the_same_code(
    write_migrations: MigrationFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_migrations({"0001_first.py": FIRST})
    _age(folder / "0001_first.py")
    py_compile.compile(str(folder / "0001_first.py"), doraise=True)
    _compiling_fails(monkeypatch)
    assert _up_sql(folder) == "CREATE TABLE first (a)"


def test_a_checked_hash_bytecode_file_is_used_when_its_hash_matches(
    write_migrations: MigrationFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_migrations({"0001_first.py": FIRST})
    py_compile.compile(
        str(folder / "0001_first.py"),
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )
    _compiling_fails(monkeypatch)
    assert _up_sql(folder) == "CREATE TABLE first (a)"


@pytest.mark.parametrize(
    "mode",
    [py_compile.PycInvalidationMode.TIMESTAMP, py_compile.PycInvalidationMode.CHECKED_HASH],
)
def test_a_same_size_edit_with_the_mtime_put_back_runs_the_new_code(
    write_migrations: MigrationFiles, mode: py_compile.PycInvalidationMode
) -> None:
    # Compiled in the source's second, then edited within that second: the timestamp pyc's
    # recorded mtime (whole seconds) and size both still match, yet it holds the old code.
    folder = write_migrations({"0001_first.py": FIRST})
    path = folder / "0001_first.py"
    py_compile.compile(str(path), doraise=True, invalidation_mode=mode)
    stat = path.stat()
    path.write_text(SAME_SIZE, encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    assert _up_sql(folder) == "CREATE TABLE other (a)"


def test_a_file_edited_after_it_was_loaded_in_this_process_loads_again(
    write_migrations: MigrationFiles,
) -> None:
    # A console left open while someone fixes a pending migration: the code that runs must be
    # the code whose checksum is recorded, not the module imported before the edit.
    folder = write_migrations({"0001_first.py": FIRST})
    assert _up_sql(folder) == "CREATE TABLE first (a)"
    path = folder / "0001_first.py"
    stat = path.stat()
    path.write_text(SAME_SIZE, encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _up_sql(folder) == "CREATE TABLE other (a)"
    assert Registry.from_directory(folder).get(1).checksum == source_checksum(SAME_SIZE)


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


def test_a_file_edited_between_the_scan_and_the_load_runs_the_new_code(
    write_migrations: MigrationFiles,
) -> None:
    # A console scans when it refreshes and imports when the operator migrates, maybe minutes
    # later: the bytecode must be checked against the file as it is then, not as scanned.
    folder = write_migrations({"0001_first.py": FIRST})
    path = folder / "0001_first.py"
    _age(path)
    py_compile.compile(str(path), doraise=True)  # fresh for the scanned file
    registry = Registry.from_directory(folder)
    path.write_text(EDITED, encoding="utf-8")
    seen: list[str] = []

    class Recording:
        def execute(self, sql: str) -> None:
            seen.append(sql)

    migration = registry.get(1)
    migration.up(Recording())  # type: ignore[arg-type]
    assert seen == ["CREATE TABLE edited_table (a)"]
    assert migration.checksum == source_checksum(EDITED)


def test_a_file_with_windows_line_endings_loads_as_its_text_reads(
    write_migrations: MigrationFiles,
) -> None:
    folder = write_migrations({"0001_first.py": FIRST})
    path = folder / "0001_first.py"
    path.write_bytes(FIRST.replace("\n", "\r\n").encode("utf-8"))
    registry = Registry.from_directory(folder)
    entry = registry.file_of(1)
    assert entry is not None
    migration = registry.get(1)
    # The text loaded is the one a text stream reads (newlines translated), so its checksum is
    # the one the file's own checksum, status and verify compute.
    assert migration.checksum == registry.checksum_of(1) == source_checksum(entry.read_source())
    assert _up_sql(folder) == "CREATE TABLE first (a)"
