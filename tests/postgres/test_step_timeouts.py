"""A migration's own timeouts last for that migration only, in or outside a transaction."""

from __future__ import annotations

import pytest

from engine import MigrationError, MigrationManager
from tests.conftest import MigrationFiles
from tests.pg import PgDatabase

pytest.importorskip("psycopg")

SLOW = '"""Slow."""\n\n\ndef up(tx):\n    tx.execute("SELECT pg_sleep(0.3)")\n'


@pytest.mark.parametrize("transaction", [True, False])
def test_a_migrations_statement_timeout_does_not_outlive_it(
    pg_database: PgDatabase, write_migrations: MigrationFiles, transaction: bool
) -> None:
    # A non-transactional step sets its timeouts for the session (SET LOCAL needs a
    # transaction): the next migration on the same connection must be back to the run's.
    folder = write_migrations(
        {
            "0001_short.py": f'"""Short."""\n\nTRANSACTION = {transaction}\n'
            'STATEMENT_TIMEOUT = "100ms"\n\n\n'
            'def up(tx):\n    tx.execute("CREATE TABLE a (id int)")\n',
            "0002_slow.py": SLOW,
        }
    )
    MigrationManager(pg_database.url, folder, backup=False).migrate_to_latest()
    assert pg_database.query("SELECT max(version) FROM schema_migrations") == [(2,)]


def test_the_statement_timeout_of_a_migration_is_enforced(
    pg_database: PgDatabase, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations(
        {
            "0001_slow.py": SLOW.replace(
                '"""Slow."""\n', '"""Slow."""\n\nSTATEMENT_TIMEOUT = "50ms"\n'
            )
        }
    )
    manager = MigrationManager(pg_database.url, folder, backup=False)
    with pytest.raises(MigrationError, match="statement_timeout"):
        manager.migrate_to_latest()
    assert pg_database.query("SELECT count(*) FROM schema_migrations") == [(0,)]
