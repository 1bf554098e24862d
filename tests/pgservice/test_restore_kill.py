"""A restore killed at any moment leaves the schema either as it was or as the backup holds it."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.backends.pg_backup import PgBackupManager
from tests.pg import PgDatabase

psycopg = pytest.importorskip("psycopg")
ROOT = Path(__file__).resolve().parents[2]

RESTORE = (
    "import sys; from engine.backends.pg_backup import PgBackupManager;"
    "PgBackupManager(sys.argv[1], sys.argv[2]).restore(sys.argv[3], force=True)"
)


def state(db: PgDatabase) -> tuple[set[str], int]:
    tables = {r[0] for r in db.query("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    rows = db.query("SELECT count(*) FROM big")[0][0] if "big" in tables else -1
    return tables, int(rows)


@pytest.mark.slow
def test_sigkill_during_restore_leaves_the_old_schema_or_the_backup(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    pg_database.execute(
        "CREATE TABLE schema_migrations (version int PRIMARY KEY);"
        "INSERT INTO schema_migrations VALUES (1);"
        "CREATE TABLE big AS SELECT g AS id, repeat('x', 200) AS pad "
        "FROM generate_series(1, 50000) g"
    )
    backups = PgBackupManager(pg_database.url, tmp_path)
    info = backups.take()
    backed_up = state(pg_database)
    rng = random.Random(7)
    for _ in range(8):
        pg_database.execute("DROP TABLE IF EXISTS newer; CREATE TABLE newer (id int)")
        pg_database.execute("DELETE FROM big WHERE id % 2 = 0")
        before = state(pg_database)
        proc = subprocess.Popen(
            [sys.executable, "-c", RESTORE, pg_database.url, str(tmp_path), str(info.path)],
            cwd=ROOT,
        )
        time.sleep(rng.uniform(0.05, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # psql may still be finishing the transaction it was given: wait for it to end.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and pg_database.query(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name LIKE 'metamigrate%' AND pid <> pg_backend_pid()"
        ) != [(0,)]:
            time.sleep(0.05)
        after = state(pg_database)
        assert after in (before, backed_up), after
    # The next restore cleans up after the killed ones and completes.
    backups.restore(info, force=True)
    assert state(pg_database) == backed_up
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
