"""The checksum cache: a memo of each migration file's checksum, keyed by the file's text."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import engine.checksum
from engine import MigrationManager, Registry
from engine.checksum import source_checksum
from engine.checksum_cache import _CACHES, CACHE_NAME, FORMAT, cache_path, save_all, text_key
from tests.conftest import MigrationFiles

FIRST = 'def up(tx):\n    tx.execute("CREATE TABLE first (a)")\n'
#: The same size as FIRST: only the table's name differs.
EDITED = 'def up(tx):\n    tx.execute("CREATE TABLE fixst (a)")\n'


@pytest.fixture(autouse=True)
def _no_cache_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from what is on disk, as a new process would (one that may write
    bytecode: the test environment may set PYTHONDONTWRITEBYTECODE)."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    _CACHES.clear()


def _cache_file(folder: Path) -> Path:
    path = cache_path(str(folder / "0001_first.py"))
    assert path is not None
    return Path(path)


def _new_process() -> None:
    save_all()
    _CACHES.clear()


def _checksum(folder: Path) -> str:
    return Registry.from_directory(folder).get(1).checksum


def _parsing_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(source: str) -> str:
        raise AssertionError("parsed although the cache holds this text")

    monkeypatch.setattr(engine.checksum, "source_checksum", refuse)


def test_a_checksum_computed_once_is_read_from_the_cache_by_the_next_run(
    write_migrations: MigrationFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_migrations({"0001_first.py": FIRST})
    assert _checksum(folder) == source_checksum(FIRST)
    _new_process()
    assert _cache_file(folder).is_file()
    _parsing_forbidden(monkeypatch)
    assert _checksum(folder) == source_checksum(FIRST)  # the test's own reference is unpatched


def test_a_migration_run_writes_the_cache_for_the_next_run(
    write_migrations: MigrationFiles, db_path: Path
) -> None:
    folder = write_migrations({"0001_first.py": FIRST})
    MigrationManager(db_path, Registry.from_directory(folder)).migrate_to_latest()
    lines = _cache_file(folder).read_text().splitlines()
    assert lines[1:] == [f"{text_key(FIRST)} {source_checksum(FIRST)}"]


def test_an_edit_with_the_same_size_and_mtime_restored_is_not_hidden_by_the_cache(
    write_migrations: MigrationFiles, db_path: Path
) -> None:
    folder = write_migrations({"0001_first.py": FIRST})
    MigrationManager(db_path, Registry.from_directory(folder)).migrate_to_latest()
    _new_process()
    path = folder / "0001_first.py"
    stat = path.stat()
    path.write_text(EDITED, encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    assert _checksum(folder) == source_checksum(EDITED) != source_checksum(FIRST)
    report = MigrationManager(db_path, Registry.from_directory(folder)).verify()
    assert "0001_first was edited after it was applied" in " ".join(report.problems)


def test_an_edit_back_to_an_earlier_text_gets_that_texts_checksum(
    write_migrations: MigrationFiles,
) -> None:
    folder = write_migrations({"0001_first.py": FIRST})
    path = folder / "0001_first.py"
    assert _checksum(folder) == source_checksum(FIRST)
    path.write_text(EDITED, encoding="utf-8")
    assert _checksum(folder) == source_checksum(EDITED)
    _new_process()
    path.write_text(FIRST, encoding="utf-8")
    assert _checksum(folder) == source_checksum(FIRST)


@pytest.mark.parametrize(
    "content",
    [
        "not a cache at all\n",
        f"{CACHE_NAME} {FORMAT} {sys.implementation.cache_tag}\n{text_key(FIRST)} short\n",
        f"{CACHE_NAME} {FORMAT} {sys.implementation.cache_tag}\n{text_key(FIRST)} 0123 45\n",
        f"{CACHE_NAME} {FORMAT + 1} {sys.implementation.cache_tag}\n"
        f"{text_key(FIRST)} 0123456789abcdef\n",
        f"{CACHE_NAME} {FORMAT} cpython-0\n{text_key(FIRST)} 0123456789abcdef\n",
        "\udcff",
    ],
    ids=["garbage", "short value", "spaces", "other format", "other python", "undecodable"],
)
def test_a_corrupt_or_foreign_cache_is_ignored(
    write_migrations: MigrationFiles, content: str
) -> None:
    folder = write_migrations({"0001_first.py": FIRST})
    cache = _cache_file(folder)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(content.encode("utf-8", "surrogateescape"))
    assert _checksum(folder) == source_checksum(FIRST)
    _new_process()  # and it is replaced by a good one
    assert cache.read_text().splitlines()[1:] == [f"{text_key(FIRST)} {source_checksum(FIRST)}"]


def test_a_cache_that_cannot_be_written_does_not_fail_a_run(
    write_migrations: MigrationFiles, db_path: Path
) -> None:
    folder = write_migrations({"0001_first.py": FIRST})
    (folder / "__pycache__").write_text("a file where the folder would be")
    result = MigrationManager(db_path, Registry.from_directory(folder)).migrate_to_latest()
    assert result.to_version == 1
    assert (folder / "__pycache__").read_text() == "a file where the folder would be"


def test_a_cache_that_is_a_fifo_is_never_opened(write_migrations: MigrationFiles) -> None:
    folder = write_migrations({"0001_first.py": FIRST})
    cache = _cache_file(folder)
    cache.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(cache)
    assert _checksum(folder) == source_checksum(FIRST)  # returns: the FIFO was not read
    _new_process()


def test_no_cache_is_written_when_bytecode_writing_is_off(
    write_migrations: MigrationFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_migrations({"0001_first.py": FIRST})
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert _checksum(folder) == source_checksum(FIRST)
    _new_process()
    assert not _cache_file(folder).exists()
