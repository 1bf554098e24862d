"""The test fixtures themselves: a fresh database per test, dropped afterwards; skip or fail."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.pg import PgDatabase, Target, admin_connection, require_server

REPO = Path(__file__).resolve().parents[2]


def _exists(name: str) -> bool:
    require_server()
    with admin_connection() as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def test_pg_database_is_fresh_and_empty(pg_database: PgDatabase) -> None:
    assert _exists(pg_database.name)
    assert pg_database.tables() == set()
    pg_database.execute("CREATE TABLE t (id int)")
    assert pg_database.tables() == {"t"}


def test_backend_fixture_gives_each_kind_an_empty_database(backend: Target) -> None:
    assert backend.tables() == set()
    assert backend.kind in ("sqlite", "postgresql")
    if backend.kind == "postgresql":
        assert backend.spec.startswith("postgresql://")


def _run_pytest(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_probe.py"
    test.write_text(
        textwrap.dedent(
            """
            from pathlib import Path

            from tests.pg import PgDatabase


            def test_uses_it(pg_database: PgDatabase) -> None:
                Path("name.txt").write_text(pg_database.name)
                assert pg_database.query("SELECT 1") == [(1,)]
            """
        )
    )
    conftest = tmp_path / "conftest.py"
    conftest.write_text("from tests.pg import pg_database  # noqa: F401\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider", str(test)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        timeout=120,
    )


def test_unreachable_server_skips_with_one_reason(tmp_path: Path) -> None:
    result = _run_pytest(
        tmp_path,
        {
            "METAMIGRATE_TEST_POSTGRES": "postgresql://root@127.0.0.1:1/postgres",
            "METAMIGRATE_REQUIRE_POSTGRES": "",
        },
    )
    assert result.returncode == 0, result.stdout
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1, result.stdout
    assert "PostgreSQL tests need a server" in skipped[0]


def test_unreachable_server_fails_when_postgres_is_required(tmp_path: Path) -> None:
    result = _run_pytest(
        tmp_path,
        {
            "METAMIGRATE_TEST_POSTGRES": "postgresql://root@127.0.0.1:1/postgres",
            "METAMIGRATE_REQUIRE_POSTGRES": "1",
        },
    )
    assert result.returncode == 1, result.stdout
    assert "a skip is a failure" in result.stdout


def test_database_is_dropped_after_the_test(pg_database: PgDatabase, tmp_path: Path) -> None:
    result = _run_pytest(tmp_path, {"METAMIGRATE_REQUIRE_POSTGRES": "1"})
    assert result.returncode == 0, result.stdout
    name = (tmp_path / "name.txt").read_text()
    assert name.startswith("mm_test_")
    assert not _exists(name)
