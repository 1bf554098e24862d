"""A run made for the plan the operator saw: ``expect_current`` refuses a database that moved."""

from __future__ import annotations

import os
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import ConcurrentChangeError, DeploymentManager, MigrationManager, Registry
from engine.events import BackupTaken, Event
from tests.conftest import tables_in


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def other_runner(db_path: Path, three_tables: Path) -> MigrationManager:
    """A second manager on the same file: another terminal."""
    return MigrationManager(db_path, Registry.from_directory(three_tables), backup=False)


def test_rollback_refuses_when_the_database_is_not_at_the_expected_version(
    manager: MigrationManager, db_path: Path
) -> None:
    manager.migrate_to(3)
    with pytest.raises(ConcurrentChangeError, match="now at version 3, not 2"):
        manager.rollback(1, expect_current=2)
    assert user_version(db_path) == 3
    assert tables_in(db_path) == {"a", "b", "c"}


def test_a_refused_run_takes_no_backup(manager: MigrationManager, db_path: Path) -> None:
    manager.migrate_to(3)
    before = manager.list_backups()
    with pytest.raises(ConcurrentChangeError):
        manager.rollback(1, expect_current=2)
    assert manager.list_backups() == before
    assert manager.last_backup is None


def test_migrate_refuses_when_the_database_is_not_at_the_expected_version(
    manager: MigrationManager, db_path: Path
) -> None:
    manager.migrate_to(2)
    with pytest.raises(ConcurrentChangeError, match="now at version 2, not 1"):
        manager.migrate_to(3, expect_current=1)
    with pytest.raises(ConcurrentChangeError, match="now at version 2, not 1"):
        manager.migrate_to_latest(expect_current=1)
    assert user_version(db_path) == 2
    assert tables_in(db_path) == {"a", "b"}


def test_the_expected_version_lets_the_run_go_ahead(
    manager: MigrationManager, db_path: Path
) -> None:
    assert manager.migrate_to_latest(expect_current=0).to_version == 3
    assert manager.rollback(1, expect_current=3).to_version == 1
    assert manager.migrate_to(2, expect_current=1).to_version == 2
    assert tables_in(db_path) == {"a", "b"}


def test_a_plan_with_nothing_to_do_is_refused_when_the_database_moved(
    manager: MigrationManager, db_path: Path
) -> None:
    """The operator saw "already at 1"; another runner went to 3: nothing must run."""
    manager.migrate_to(3)
    with pytest.raises(ConcurrentChangeError):
        manager.rollback(1, expect_current=1)
    assert user_version(db_path) == 3


def test_deployment_rollback_to_version_passes_the_expected_version(
    manager: MigrationManager, db_path: Path
) -> None:
    manager.migrate_to(3)
    deployment = DeploymentManager(manager)
    with pytest.raises(ConcurrentChangeError):
        deployment.rollback_to_version(1, expect_current=2)
    assert user_version(db_path) == 3
    assert deployment.rollback_to_version(1, expect_current=3).to_version == 1


@pytest.mark.parametrize("atomic", [False, True], ids=["per-step", "atomic"])
def test_a_change_after_the_first_check_is_refused_under_the_write_lock(
    db_path: Path, three_tables: Path, atomic: bool
) -> None:
    """Another runner migrates between the start of the run and its first step (while the
    backup is being taken): the check under the write lock refuses, nothing is undone."""
    other_runner(db_path, three_tables).migrate_to(2)

    raced: list[str] = []

    def meanwhile(event: Event) -> None:
        if isinstance(event, BackupTaken):
            other_runner(db_path, three_tables).migrate_to(3)
            raced.append(event.path)

    manager = MigrationManager(db_path, Registry.from_directory(three_tables), on_event=meanwhile)
    with pytest.raises(ConcurrentChangeError, match="now at version 3, not 2"):
        manager.rollback(1, atomic=atomic, expect_current=2)
    assert raced  # the race was inside the backup's window
    # The run failed before its first change: the backup it took is not kept (issue 10).
    assert manager.last_backup is None and not Path(raced[0]).exists()
    assert user_version(db_path) == 3
    assert tables_in(db_path) == {"a", "b", "c"}
    assert all(entry.success for entry in manager.history())


def test_without_expect_current_a_run_follows_the_database_as_before(
    manager: MigrationManager, db_path: Path
) -> None:
    manager.migrate_to(3)
    assert manager.rollback(1).from_version == 3


# -- the CLI's typed confirmation -----------------------------------------------------------------


def _read_until(fd: int, marker: bytes, output: bytearray, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while marker not in output:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {marker!r} in {bytes(output)!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                chunk = b""
            assert chunk, f"the CLI ended before {marker!r}: {bytes(output)!r}"
            output += chunk


def _read_to_end(fd: int, output: bytearray, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], deadline - time.monotonic())
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return
        if not chunk:
            return
        output += chunk


def test_cli_rollback_refuses_when_the_database_changes_between_prompt_and_answer(
    db_path: Path, three_tables: Path
) -> None:
    """The operator is shown "from version 2 to 1, undo 0002"; while they type, another
    terminal migrates to 3. Typing 1 must not undo 0003 (which the prompt never showed)."""
    other_runner(db_path, three_tables).migrate_to(2)
    leader, follower = os.openpty()
    cli = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "rollback",
            "--to",
            "1",
            "--db",
            str(db_path),
            "--migrations",
            str(three_tables),
        ],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        close_fds=True,
    )
    os.close(follower)
    output = bytearray()
    try:
        _read_until(leader, b"to confirm", output)
        other_runner(db_path, three_tables).migrate_to(3)  # another terminal, meanwhile
        os.write(leader, b"1\n")
        _read_to_end(leader, output)
        code = cli.wait(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        os.close(leader)
    text = " ".join(output.decode(errors="replace").split())
    assert "from version 2 to version 1" in text
    assert code == 1, text
    assert "now at version 3, not 2" in text
    assert "Traceback" not in text
    assert user_version(db_path) == 3
    assert tables_in(db_path) == {"a", "b", "c"}
