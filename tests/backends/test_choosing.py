"""Choosing a backend by location: plain paths and sqlite:/// are SQLite, postgresql:// is lazy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.backends import open_backend, scheme_of, sqlite_path
from engine.backends.base import Backend, ConnectOptions
from engine.backends.sqlite import SQLiteBackend
from engine.errors import EXIT_BAD_INPUT, DatabasePathError

ROOT = Path(__file__).resolve().parents[2]


def test_a_plain_path_opens_the_sqlite_backend(tmp_path: Path) -> None:
    backend = open_backend(tmp_path / "plain.db")
    try:
        assert isinstance(backend, SQLiteBackend)
        assert backend.path == tmp_path / "plain.db"
    finally:
        backend.close()


def test_the_sqlite_backend_satisfies_the_backend_protocol(tmp_path: Path) -> None:
    backend = open_backend(str(tmp_path / "p.db"))
    try:
        assert isinstance(backend, Backend)
        assert backend.capabilities.name == "sqlite"
    finally:
        backend.close()


def test_an_absolute_sqlite_url_opens_that_file(tmp_path: Path) -> None:
    target = tmp_path / "url.db"
    backend = open_backend(f"sqlite:///{target}")
    try:
        backend.begin_write()
        backend.execute("CREATE TABLE t (a)")
        backend.commit()
    finally:
        backend.close()
    assert target.exists()


def test_a_relative_sqlite_url_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert sqlite_path("sqlite:///rel.db") == "rel.db"
    backend = open_backend("sqlite:///rel.db")
    backend.close()
    assert (tmp_path / "rel.db").exists()


def test_a_path_with_a_colon_is_still_a_path() -> None:
    assert scheme_of("C:/data/meta.db") == "sqlite"
    assert scheme_of(Path("data:/meta.db")) == "sqlite"


def test_a_server_url_that_went_through_path_is_refused_never_a_file() -> None:
    # Path("postgresql://u@h/db") is postgresql:/u@h/db: SQLite would create that file.
    with pytest.raises(DatabasePathError, match="was turned into a file path"):
        scheme_of(Path("postgresql://root@127.0.0.1:5432/test"))


@pytest.mark.parametrize(
    "location",
    ["postgresql:", "postgres:db.internal/meta", "postgresql+psycopg:x", "sqlite:", "sqlite:x.db"],
)
def test_a_half_written_url_is_refused_and_no_file_is_created(
    location: str, tmp_path: Path
) -> None:
    # SQLite would take "postgresql:" for a file name and create it in the working directory.
    result = subprocess.run(
        [sys.executable, "-m", "engine", "--db", location, "--migrations", "m", "migrate"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == EXIT_BAD_INPUT, result.stderr
    assert "Traceback" not in result.stderr
    assert "is not a database URL" in result.stderr and f"./{location}" in result.stderr
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DatabasePathError, match="is not a database URL"):
        open_backend(Path(location))


def test_a_file_whose_name_starts_like_a_scheme_is_opened_as_written(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    open_backend("./postgresql:old.db").close()
    assert (tmp_path / "postgresql:old.db").exists()


def test_postgres_schemes_and_driver_suffixes_name_postgresql() -> None:
    assert scheme_of("postgres://u@h/db") == "postgres"
    assert scheme_of("postgresql+psycopg://u@h/db") == "postgresql"


def test_an_unknown_scheme_is_refused_with_a_sentence() -> None:
    with pytest.raises(DatabasePathError, match="Unknown database URL scheme mysql://") as info:
        open_backend("mysql://u@h/db")
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_a_sqlite_url_without_a_path_is_refused() -> None:
    with pytest.raises(DatabasePathError, match="names no database file"):
        open_backend("sqlite:///")


def test_opening_a_sqlite_database_imports_no_postgres_driver(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from engine.backends import open_backend\n"
        f"open_backend({str(tmp_path / 'x.db')!r}).close()\n"
        "assert 'psycopg' not in sys.modules, 'psycopg imported'\n"
        "assert 'engine.backends.postgres' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


@pytest.mark.skipif(
    not (ROOT / "engine" / "backends" / "postgres.py").exists(),
    reason="the PostgreSQL backend module has not landed yet",
)
def test_a_postgres_url_without_psycopg_says_how_to_install_it() -> None:
    code = (
        "import sys\n"
        "sys.modules['psycopg'] = None  # as if the postgres extra were not installed\n"
        "from engine.backends import open_backend\n"
        "from engine.errors import MetamigrateError\n"
        "try:\n"
        "    open_backend('postgresql://root@127.0.0.1:5432/postgres')\n"
        "except MetamigrateError as exc:\n"
        "    print(exc, exc.exit_code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ},
    )
    assert "pip install 'metamigrate[postgres]'" in result.stdout
    assert result.stdout.strip().endswith("2")


def test_connect_options_reach_the_backend(tmp_path: Path) -> None:
    backend = open_backend(tmp_path / "o.db", ConnectOptions(busy_timeout=1.5))
    try:
        assert backend.options.busy_timeout == 1.5
    finally:
        backend.close()
