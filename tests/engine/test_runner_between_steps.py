"""Another runner that commits between two of a run's steps: the run sees it under the next
step's lock (it does not trust what it knew from its own commits), so every migration is applied
or undone exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import Event, MigrationFinished, MigrationManager, Registry
from engine.errors import ConcurrentChangeError
from tests.conftest import MigrationFiles, table_migration
from tests.pg import Target


@pytest.fixture
def four(write_migrations: MigrationFiles) -> Path:
    return write_migrations(
        {f"000{i}_create_{name}.py": table_migration(name) for i, name in enumerate("abcd", 1)}
    )


def _runner(target: Target, folder: Path, after: int, other_run: str) -> MigrationManager:
    """A manager whose run lets another runner (its own connection) migrate or roll back once
    the step of version ``after`` has committed."""
    other = MigrationManager(target.spec, Registry.from_directory(folder), backup=False)

    def meanwhile(event: Event) -> None:
        if isinstance(event, MigrationFinished) and event.version == after:
            kind, version = other_run.split()
            if kind == "migrate":
                other.migrate_to(int(version), backup=False)
            else:
                other.rollback(int(version), backup=False)

    manager = MigrationManager(target.spec, Registry.from_directory(folder), backup=False)
    manager.on_event = meanwhile
    return manager


def _successful(target: Target, direction: str) -> list[int]:
    rows = target.query(
        f"SELECT version FROM schema_migration_history WHERE direction = '{direction}' "
        "AND success = 1 ORDER BY id"
    )
    return [int(row[0]) for row in rows]


def test_a_version_applied_by_another_runner_between_two_steps_is_skipped(
    backend: Target, four: Path
) -> None:
    manager = _runner(backend, four, after=1, other_run="migrate 3")
    result = manager.migrate_to_latest(backup=False)
    assert [s.version for s in result.done] == [1, 4]
    assert [s.version for s in result.skipped] == [2, 3]
    assert sorted(_successful(backend, "up")) == [1, 2, 3, 4]
    assert manager.current_version == 4 and manager.verify().ok


def test_a_version_undone_by_another_runner_between_two_steps_is_skipped(
    backend: Target, four: Path
) -> None:
    MigrationManager(backend.spec, Registry.from_directory(four)).migrate_to_latest(backup=False)
    manager = _runner(backend, four, after=4, other_run="rollback 2")
    result = manager.rollback(0, backup=False)
    assert [s.version for s in result.done] == [4, 2, 1]
    assert [s.version for s in result.skipped] == [3]
    assert sorted(_successful(backend, "down")) == [1, 2, 3, 4]
    assert manager.current_version == 0 and backend.tables() == set()


def test_a_runner_that_undid_this_runs_step_meanwhile_stops_the_run(
    backend: Target, four: Path
) -> None:
    manager = _runner(backend, four, after=2, other_run="rollback 1")
    with pytest.raises(ConcurrentChangeError, match="now at version 1"):
        manager.migrate_to_latest(backup=False)
    assert manager.current_version == 1
    assert backend.tables() == {"a"}
