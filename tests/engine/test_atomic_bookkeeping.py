"""``--atomic`` writes the plan's bookkeeping after its last step, in the same transaction: what
it leaves is what one transaction per migration leaves."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import MigrationManager, Registry
from engine.errors import MigrationError
from tests.conftest import MigrationFiles, table_migration
from tests.pg import Target

FAILING = 'def up(tx):\n    tx.execute("CREATE TABLE d (i INTEGER)")\n    raise RuntimeError("x")\n'


@pytest.fixture
def four(write_migrations: MigrationFiles) -> Path:
    return write_migrations(
        {f"000{i}_create_{name}.py": table_migration(name) for i, name in enumerate("abcd", 1)}
    )


def _bookkeeping(target: Target) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    applied = target.query(
        "SELECT version, name, description, checksum, source_key, reversible, "
        "fingerprint IS NOT NULL, schema_facts IS NOT NULL FROM schema_migrations ORDER BY version"
    )
    history = target.query(
        "SELECT version, name, direction, success, error FROM schema_migration_history ORDER BY id"
    )
    return applied, history


def _run(target: Target, folder: Path, *, atomic: bool) -> tuple[object, ...]:
    manager = MigrationManager(target.spec, Registry.from_directory(folder))
    manager.migrate_to(2, atomic=atomic, backup=False)
    manager.migrate_to_latest(atomic=atomic, backup=False)
    after_up = _bookkeeping(target)
    manager.rollback(1, atomic=atomic, backup=False)
    return after_up, _bookkeeping(target), manager.current_version, manager.verify().ok


def test_an_atomic_run_leaves_the_bookkeeping_of_one_transaction_per_migration(
    backend: Target,
    four: Path,
    tmp_path: Path,
) -> None:
    atomic = _run(backend, four, atomic=True)
    for table in "abcd":
        backend.query(f"DROP TABLE IF EXISTS {table}")
    backend.query("DROP TABLE schema_migrations")
    backend.query("DROP TABLE schema_migration_history")
    per_step = _run(backend, four, atomic=False)
    assert atomic == per_step
    (applied, _), (_, history_after), version, ok = atomic
    assert [row[0] for row in applied] == [1, 2, 3, 4]
    # The fingerprint is taken where each run came to rest: versions 2 and 4.
    assert [row[6] for row in applied] == [False, True, False, True]
    assert [row[2] for row in history_after[4:]] == ["down", "down", "down"]
    assert version == 1 and ok


def test_a_failing_step_of_an_atomic_run_leaves_no_bookkeeping_of_the_steps_before_it(
    backend: Target,
    write_migrations: MigrationFiles,
) -> None:
    folder = write_migrations(
        {
            "0001_create_a.py": table_migration("a"),
            "0002_create_b.py": table_migration("b"),
            "0003_fail.py": FAILING,
        }
    )
    manager = MigrationManager(backend.spec, Registry.from_directory(folder))
    with pytest.raises(MigrationError, match="whole plan was rolled back"):
        manager.migrate_to_latest(atomic=True, backup=False)
    assert manager.current_version == 0
    assert backend.query("SELECT count(*) FROM schema_migrations") == [(0,)]
    history = backend.query("SELECT version, success FROM schema_migration_history")
    assert [tuple(row) for row in history] == [(3, 0)]
