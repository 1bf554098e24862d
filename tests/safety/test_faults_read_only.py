"""Read-only: status and verify work, writes are refused in words, the file is untouched."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.safety.helpers import assert_clean_failure, files_digest, run_cli


@pytest.fixture
def at_version_2(tmp_path: Path) -> Path:
    db = tmp_path / "ro.db"
    assert run_cli("migrate", "--to", "2", "--db", str(db)).returncode == 0
    return db


def test_mode_ro_reads_and_refuses_every_write(at_version_2: Path) -> None:
    db = at_version_2
    before = files_digest(db)
    for command in (["status"], ["verify"], ["plan"], ["history"], ["backups"]):
        result = run_cli(*command, "--read-only", "--db", str(db))
        assert result.returncode == 0, (command, result.stderr)
    status = json.loads(run_cli("status", "--json", "--read-only", "--db", str(db)).stdout)
    assert status["current_version"] == 2
    assert_clean_failure(run_cli("migrate", "--read-only", "--db", str(db)), [1], "read-only")
    assert_clean_failure(
        run_cli("rollback", "--to", "1", "--yes", "--read-only", "--db", str(db)), [1], "read-only"
    )
    # A rehearsal needs no write: it runs on a throw-away copy.
    rehearsal = run_cli("migrate", "--rehearse", "--json", "--read-only", "--db", str(db))
    assert rehearsal.returncode == 0, rehearsal.stderr
    assert json.loads(rehearsal.stdout)["mode"] == "copy"
    assert files_digest(db) == before
    assert not (db.parent / "backups").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_a_file_without_write_permission_reads_and_refuses_writes(at_version_2: Path) -> None:
    db = at_version_2
    db.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    try:
        before = files_digest(db)
        assert run_cli("status", "--db", str(db)).returncode == 0
        assert run_cli("verify", "--db", str(db)).returncode == 0
        result = run_cli("migrate", "--no-backup", "--db", str(db))
        assert_clean_failure(result, [1], "read-only")
        assert files_digest(db) == before
    finally:
        db.chmod(stat.S_IRUSR | stat.S_IWUSR)
