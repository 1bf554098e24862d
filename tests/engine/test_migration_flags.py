"""Module constants of a migration file: TRANSACTION, LOCK_TIMEOUT, STATEMENT_TIMEOUT."""

from __future__ import annotations

import pytest

from engine import Registry
from engine.errors import RegistryError
from tests.conftest import MigrationFiles

BODY = '''
"""A migration."""
{constants}


def up(tx):
    tx.execute("SELECT 1")
'''


def _load(write_migrations: MigrationFiles, constants: str):  # type: ignore[no-untyped-def]
    folder = write_migrations({"0001_m.py": BODY.format(constants=constants)})
    return Registry.from_directory(folder).get(1)


def test_a_migration_runs_in_a_transaction_with_default_timeouts_unless_it_says_otherwise(
    write_migrations: MigrationFiles,
) -> None:
    migration = _load(write_migrations, "")
    assert (migration.transaction, migration.lock_timeout, migration.statement_timeout) == (
        True,
        None,
        None,
    )


def test_the_constants_are_read_from_the_module(write_migrations: MigrationFiles) -> None:
    migration = _load(
        write_migrations, 'TRANSACTION = False\nLOCK_TIMEOUT = "2s"\nSTATEMENT_TIMEOUT = 90'
    )
    assert (migration.transaction, migration.lock_timeout, migration.statement_timeout) == (
        False,
        "2s",
        "90s",
    )


@pytest.mark.parametrize(
    ("constants", "message"),
    [
        ('TRANSACTION = "no"', "use True or False"),
        ('LOCK_TIMEOUT = "soon"', 'write a duration such as "2s"'),
        ("STATEMENT_TIMEOUT = -1", 'write a duration such as "2s"'),
    ],
)
def test_a_bad_constant_is_a_registry_error_naming_the_file(
    write_migrations: MigrationFiles, constants: str, message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        _load(write_migrations, constants)
