"""Migration code that ends the engine's transaction never gets the database called "unchanged".

Code can remove the guard that denies BEGIN/COMMIT/ROLLBACK (``tx.connection.set_authorizer``),
commit part of its work, begin a new transaction, or close the connection. The engine notices that
its transaction ended or was replaced, records nothing as applied, and says what it knows: the
version in the bookkeeping, that part of the migration may be committed, and to run verify.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import MigrationManager
from engine.errors import MigrationError
from tests.conftest import tables_in
from tests.safety.helpers import applied_versions, assert_clean_failure, run_cli, write_files

FIRST = 'def up(tx):\n    tx.execute("CREATE TABLE a (id INTEGER)")\n'

ESCAPES = {
    "commit-and-begin-then-raise": """
        conn.set_authorizer(None)
        conn.execute("COMMIT")
        conn.execute("BEGIN")
        tx.execute("CREATE TABLE rest (id INTEGER)")
        raise ValueError("second half failed")
    """,
    "commit-and-begin-then-return": """
        conn.set_authorizer(None)
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        tx.execute("CREATE TABLE rest (id INTEGER)")
    """,
    "commit-then-return": """
        conn.set_authorizer(None)
        conn.execute("COMMIT")
    """,
    "own-authorizer-then-commit": """
        conn.set_authorizer(lambda *args: 0)
        conn.execute("COMMIT")
        conn.execute("BEGIN")
    """,
    "rollback-and-begin": """
        conn.set_authorizer(None)
        conn.execute("ROLLBACK")
        conn.execute("BEGIN")
        tx.execute("CREATE TABLE rest (id INTEGER)")
    """,
}


def escaping(body: str) -> str:
    lines = [line.strip() for line in body.strip().splitlines()]
    return (
        "def up(tx):\n"
        "    conn = tx.connection\n"
        '    tx.execute("CREATE TABLE part (id INTEGER)")\n'
        + "".join(f"    {line}\n" for line in lines)
        + '\n\ndef down(tx):\n    tx.execute("DROP TABLE part")\n'
    )


def setup(tmp_path: Path, body: str) -> tuple[Path, Path]:
    db = tmp_path / "app.db"
    folder = write_files(tmp_path / "m", {"0001_a.py": FIRST, "0002_b.py": escaping(body)})
    MigrationManager(db, folder, backup=False).migrate_to(1)
    return db, folder


@pytest.mark.parametrize("escape", list(ESCAPES), ids=list(ESCAPES))
def test_a_migration_that_ends_the_transaction_is_never_reported_unchanged(
    tmp_path: Path, escape: str
) -> None:
    db, folder = setup(tmp_path, ESCAPES[escape])
    result = run_cli("--db", str(db), "--migrations", str(folder), "migrate", "--no-backup")
    assert_clean_failure(result, [1], "0002_b", "may have been committed", "verify")
    assert "unchanged" not in result.stderr
    assert applied_versions(db) == [1]


def test_the_message_says_what_the_bookkeeping_records(tmp_path: Path) -> None:
    db, folder = setup(tmp_path, ESCAPES["commit-and-begin-then-raise"])
    with pytest.raises(MigrationError, match="bookkeeping says version 1") as caught:
        MigrationManager(db, folder, backup=False).migrate_to_latest()
    assert "unchanged" not in caught.value.message
    # What the message warns about is real: the first half was committed.
    assert "part" in tables_in(db)


def test_atomic_mode_notices_the_ended_transaction_too(tmp_path: Path) -> None:
    db, folder = setup(tmp_path, ESCAPES["commit-then-return"])
    result = run_cli(
        "--db", str(db), "--migrations", str(folder), "migrate", "--atomic", "--no-backup"
    )
    assert_clean_failure(result, [1], "may have been committed")
    assert applied_versions(db) == [1]


def test_a_run_that_may_have_committed_keeps_its_backup(tmp_path: Path) -> None:
    db, folder = setup(tmp_path, ESCAPES["commit-then-return"])
    manager = MigrationManager(db, folder)
    with pytest.raises(MigrationError):
        manager.migrate_to_latest()
    assert manager.last_backup is not None and manager.last_backup.path.exists()


def test_a_rehearsal_whose_step_commits_says_the_database_may_have_changed(
    tmp_path: Path,
) -> None:
    db, folder = setup(tmp_path, ESCAPES["commit-then-return"])
    result = run_cli("--db", str(db), "--migrations", str(folder), "migrate", "--rehearse")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    flat = " ".join(result.stdout.split())
    assert "may have been changed" in flat and "Nothing was changed" not in flat


def test_an_intact_failure_still_says_unchanged(tmp_path: Path) -> None:
    db, folder = setup(tmp_path, 'raise ValueError("plain failure")')
    result = run_cli("--db", str(db), "--migrations", str(folder), "migrate", "--no-backup")
    assert_clean_failure(result, [1], "unchanged at version 1")


# -- the connection closed by migration code ---------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["migrate"],
        ["migrate", "--atomic"],
        ["migrate", "--rehearse"],
        ["ensure-ready", "--migrate"],
    ],
    ids=["migrate", "atomic", "rehearse", "ensure-ready"],
)
def test_a_migration_that_closes_the_connection_fails_in_one_sentence(
    tmp_path: Path, command: list[str]
) -> None:
    db, folder = setup(tmp_path, "conn.close()")
    result = run_cli("--db", str(db), "--migrations", str(folder), *command)
    assert_clean_failure(result, [1])
    assert "closed" in result.stderr + result.stdout
    assert applied_versions(db) == [1]


def test_a_down_that_closes_the_connection_fails_rollback_and_plan_cleanly(
    tmp_path: Path,
) -> None:
    db = tmp_path / "app.db"
    source = escaping("pass").replace(
        'def down(tx):\n    tx.execute("DROP TABLE part")',
        "def down(tx):\n    tx.connection.close()",
    )
    folder = write_files(tmp_path / "m", {"0001_a.py": FIRST, "0002_b.py": source})
    MigrationManager(db, folder, backup=False).migrate_to(2)
    for command in (["plan", "--to", "1"], ["rollback", "--to", "1", "--yes"]):
        result = run_cli("--db", str(db), "--migrations", str(folder), *command)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stdout + result.stderr
    assert applied_versions(db) == [1, 2]
