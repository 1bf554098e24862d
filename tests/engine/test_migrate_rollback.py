"""Applying and undoing migrations: atomicity, bookkeeping, history, targets, events."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from engine import (
    Event,
    InvalidTargetError,
    IrreversibleMigrationError,
    Migration,
    MigrationError,
    MigrationFailed,
    MigrationFinished,
    MigrationManager,
    MigrationStarted,
    Registry,
    RunFinished,
    RunStarted,
    Tx,
)
from tests.conftest import MigrationFiles, table_migration, tables_in


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def file_bytes(path: Path) -> bytes:
    return path.read_bytes()


def test_migrate_to_latest_applies_everything_with_bookkeeping(
    manager: MigrationManager, db_path: Path
) -> None:
    result = manager.migrate_to_latest()
    assert [s.version for s in result.done] == [1, 2, 3]
    assert (result.from_version, result.to_version) == (0, 3)
    assert tables_in(db_path) == {"a", "b", "c"}
    assert manager.current_version == 3
    assert user_version(db_path) == 3
    statuses = manager.status()
    assert [s.status for s in statuses] == ["applied"] * 3
    assert all(s.checksum_ok and s.applied_at and s.applied_at.endswith("Z") for s in statuses)
    conn = sqlite3.connect(db_path)
    row = conn.execute(
        "SELECT name, checksum, fingerprint, applied_by FROM schema_migrations WHERE version = 3"
    ).fetchone()
    conn.close()
    assert row[0] == "create_c" and row[1] and row[2] and "@" in row[3]


def test_status_lists_json_fields_of_the_seed(manager: MigrationManager) -> None:
    manager.migrate_to(1)
    first, second = manager.status()[:2]
    assert list(first.to_dict())[:5] == ["version", "name", "description", "status", "applied_at"]
    assert first.status == "applied" and second.status == "pending"
    assert second.applied_at is None
    assert [p.version for p in manager.pending()] == [2, 3]


def test_nothing_to_do_when_already_at_target(manager: MigrationManager) -> None:
    manager.migrate_to_latest()
    result = manager.migrate_to_latest()
    assert result.nothing_to_do
    assert manager.rollback(3).nothing_to_do


def test_plan_lists_steps_in_order_both_ways(manager: MigrationManager) -> None:
    assert [(s.direction, s.version) for s in manager.plan()] == [("up", 1), ("up", 2), ("up", 3)]
    manager.migrate_to_latest()
    assert [(s.direction, s.version) for s in manager.plan(1)] == [("down", 3), ("down", 2)]
    assert manager.plan(3) == []


def test_rollback_to_zero_empties_the_schema(manager: MigrationManager, db_path: Path) -> None:
    manager.migrate_to_latest()
    result = manager.rollback(0)
    assert [s.version for s in result.done] == [3, 2, 1]
    assert tables_in(db_path) == set()
    assert manager.current_version == 0
    assert user_version(db_path) == 0


def test_rollback_to_a_chosen_version(manager: MigrationManager, db_path: Path) -> None:
    manager.migrate_to_latest()
    manager.rollback(1)
    assert tables_in(db_path) == {"a"}
    assert [s.status for s in manager.status()] == ["applied", "pending", "pending"]


@pytest.mark.parametrize(
    ("target", "message"),
    [(-1, "negative"), (4, "no migration 4"), (99, "latest version is 3")],
)
def test_bad_targets_are_refused(manager: MigrationManager, target: int, message: str) -> None:
    with pytest.raises(InvalidTargetError, match=message):
        manager.migrate_to(target)
    with pytest.raises(InvalidTargetError, match=message):
        manager.rollback(target)


def test_migrate_refuses_to_go_down_and_rollback_to_go_up(manager: MigrationManager) -> None:
    manager.migrate_to(2)
    with pytest.raises(InvalidTargetError, match="use rollback"):
        manager.migrate_to(1)
    with pytest.raises(InvalidTargetError, match="use migrate"):
        manager.rollback(3)


def test_a_failing_migration_leaves_the_last_good_version_and_is_in_history(
    write_migrations: MigrationFiles, db_path: Path
) -> None:
    folder = write_migrations(
        {
            "0001_create_a.py": table_migration("a"),
            "0002_broken.py": (
                "def up(tx):\n"
                '    tx.execute("CREATE TABLE half (id INTEGER)")\n'
                '    tx.execute("INSERT INTO no_such_table VALUES (1)")\n'
            ),
            "0003_create_c.py": table_migration("c"),
        }
    )
    manager = MigrationManager(db_path, Registry.from_directory(folder))
    with pytest.raises(MigrationError) as caught:
        manager.migrate_to_latest()
    message = str(caught.value)
    assert "0002_broken" in message and "no such table: no_such_table" in message
    assert "unchanged at version 1" in message
    assert caught.value.version == 2
    assert tables_in(db_path) == {"a"}  # "half" was rolled back with the failed step
    assert manager.current_version == 1 and user_version(db_path) == 1
    newest = manager.history()[0]
    assert (newest.version, newest.direction, newest.success) == (2, "up", False)
    assert newest.error and "no_such_table" in newest.error
    assert manager.verify().ok


def test_a_migration_that_commits_is_failed_and_undone(
    write_migrations: MigrationFiles, db_path: Path
) -> None:
    folder = write_migrations(
        {
            "0001_sneaky.py": (
                "def up(tx):\n"
                '    tx.execute("CREATE TABLE sneaky (id INTEGER)")\n'
                '    tx.connection.execute("COMMIT")\n'
            )
        }
    )
    manager = MigrationManager(db_path, Registry.from_directory(folder))
    with pytest.raises(MigrationError, match="must not control"):
        manager.migrate_to_latest()
    assert tables_in(db_path) == set()
    assert manager.current_version == 0


def test_a_migration_that_swallows_the_refused_commit_is_still_checked(db_path: Path) -> None:
    def up(tx: Tx) -> None:
        tx.execute("CREATE TABLE t (id INTEGER)")
        # The engine's authorizer refuses the COMMIT; the transaction stays intact.
        with contextlib.suppress(sqlite3.DatabaseError):
            tx.execute("COMMIT")

    manager = MigrationManager(db_path, Registry([Migration(1, "t", "", up)]))
    manager.migrate_to_latest()
    assert manager.current_version == 1 and tables_in(db_path) == {"t"}


def test_script_runs_statements_in_the_migration_transaction(db_path: Path) -> None:
    def up(tx: Tx) -> None:
        tx.script(
            """
            CREATE TABLE s (id INTEGER, note TEXT DEFAULT 'a;b');
            INSERT INTO s (id) VALUES (1);
            CREATE TRIGGER s_ins AFTER INSERT ON s BEGIN UPDATE s SET note = 'x;y'; END;
            """
        )
        raise RuntimeError("stop here")

    manager = MigrationManager(db_path, Registry([Migration(1, "s", "", up)]))
    with pytest.raises(MigrationError, match="RuntimeError: stop here"):
        manager.migrate_to_latest()
    assert tables_in(db_path) == set()  # nothing of the script was committed


def test_rollback_across_an_irreversible_migration_is_refused_before_anything_runs(
    write_migrations: MigrationFiles, db_path: Path
) -> None:
    folder = write_migrations(
        {
            "0001_create_a.py": table_migration("a"),
            "0002_create_b.py": table_migration("b", down=False),
            "0003_create_c.py": table_migration("c"),
        }
    )
    manager = MigrationManager(db_path, Registry.from_directory(folder))
    manager.migrate_to_latest()
    before = db_path.read_bytes()
    with pytest.raises(IrreversibleMigrationError, match="0002_create_b"):
        manager.rollback(0)
    assert db_path.read_bytes() == before
    manager.rollback(2)  # above the irreversible one is fine
    assert tables_in(db_path) == {"a", "b"}


def test_events_report_progress_in_order(db_path: Path, three_tables: Path) -> None:
    events: list[Event] = []
    manager = MigrationManager(db_path, three_tables, on_event=events.append)
    manager.migrate_to(2)
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "RunStarted",
        "MigrationStarted",
        "MigrationFinished",
        "MigrationStarted",
        "MigrationFinished",
        "RunFinished",
    ]
    assert isinstance(events[0], RunStarted) and events[0].steps == (
        (1, "create_a"),
        (2, "create_b"),
    )
    finished = [e for e in events if isinstance(e, MigrationFinished)]
    assert all(e.duration_ms >= 0 for e in finished)
    assert isinstance(events[-1], RunFinished) and events[-1].success and events[-1].to_version == 2


def test_failure_events_carry_the_error(db_path: Path) -> None:
    def up(tx: Tx) -> None:
        raise ValueError("bad data")

    events: list[Event] = []
    manager = MigrationManager(
        db_path, Registry([Migration(1, "bad", "", up)]), on_event=events.append
    )
    with pytest.raises(MigrationError):
        manager.migrate_to_latest()
    failed = [e for e in events if isinstance(e, MigrationFailed)]
    assert len(failed) == 1 and "bad data" in failed[0].error
    assert isinstance(events[-1], RunFinished) and not events[-1].success
    assert any(isinstance(e, MigrationStarted) for e in events)


def test_atomic_mode_applies_everything_in_one_transaction(
    manager: MigrationManager, db_path: Path
) -> None:
    commits: list[str] = []
    result = manager.migrate_to_latest(atomic=True)
    assert [s.version for s in result.done] == [1, 2, 3]
    assert tables_in(db_path) == {"a", "b", "c"}
    assert user_version(db_path) == 3
    assert manager.verify().ok
    del commits


def test_atomic_failure_leaves_the_starting_version(
    write_migrations: MigrationFiles, db_path: Path
) -> None:
    folder = write_migrations(
        {
            "0001_create_a.py": table_migration("a"),
            "0002_create_b.py": table_migration("b"),
            "0003_broken.py": "def up(tx):\n    raise RuntimeError('boom')\n",
        }
    )
    manager = MigrationManager(db_path, Registry.from_directory(folder))
    with pytest.raises(MigrationError, match="whole plan was rolled back"):
        manager.migrate_to_latest(atomic=True)
    assert tables_in(db_path) == set()
    assert manager.current_version == 0
    history = manager.history()
    assert len(history) == 1 and not history[0].success and history[0].version == 3


def test_one_commit_per_migration(manager: MigrationManager, db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    traced = MigrationManager(conn, manager.registry)
    traced.migrate_to_latest()
    conn.close()
    assert sum(1 for s in statements if s.strip().upper() == "COMMIT") == 3


def test_a_second_runner_finds_nothing_to_do(manager: MigrationManager, db_path: Path) -> None:
    other = MigrationManager(db_path, manager.registry)
    manager.migrate_to_latest()
    result = other.migrate_to_latest()
    assert result.nothing_to_do
    applied_ups = [h for h in manager.history() if h.direction == "up" and h.success]
    assert sorted(h.version for h in applied_ups) == [1, 2, 3]


def test_steps_done_by_another_runner_meanwhile_are_skipped(
    manager: MigrationManager, db_path: Path
) -> None:
    other = MigrationManager(db_path, manager.registry)
    steps = manager.plan()
    other.migrate_to(2)  # between planning and running, another runner applies 1 and 2
    from engine.executor import Executor

    with manager.connection() as conn:
        result = Executor(conn, manager.registry, busy_timeout=1).run(
            "up", steps, from_version=0, target=3
        )
    assert [s.version for s in result.skipped] == [1, 2]
    assert [s.version for s in result.done] == [3]


def test_timestamps_are_utc_with_milliseconds_and_follow_the_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine import recorder

    clock = iter([1_700_000_000.5, 1_700_000_000.75, 1_700_000_001.125, 1_700_000_061.25])
    monkeypatch.setattr(recorder.time, "time", lambda: next(clock))
    assert [recorder.utc_now() for _ in range(4)] == [
        "2023-11-14T22:13:20.500Z",
        "2023-11-14T22:13:20.750Z",
        "2023-11-14T22:13:21.125Z",
        "2023-11-14T22:14:21.250Z",
    ]
