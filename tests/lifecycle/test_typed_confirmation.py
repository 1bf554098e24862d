"""On a terminal, stamp/unmark/repair/baseline ask for the version to be typed."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from engine import MigrationManager, Registry
from engine.cli import main


def _on_a_terminal(args: list[str], typed: str) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdin/stdout, type ``typed``, return (code, output)."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("METAMIGRATE_")}
    env.update({"NO_COLOR": "1", "COLUMNS": "200"})
    process = subprocess.Popen(
        [sys.executable, "-m", "engine", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    os.write(leader, typed.encode() + b"\n")
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    code = process.wait(timeout=60)
    os.close(leader)
    return code, output.decode(errors="replace")


def test_stamp_on_a_terminal_applies_when_the_version_is_typed(
    db_path: Path, three_tables: Path
) -> None:
    common = ["--db", str(db_path), "--migrations", str(three_tables)]
    assert main(["migrate", "--to", "0", *common]) == 0
    code, output = _on_a_terminal(["stamp", "2", "--reason", "by hand", *common], "2")
    assert code == 0, output
    assert "Type the version (2) to confirm" in output and "marked applied" in output
    assert MigrationManager(db_path, Registry.from_directory(three_tables)).current_version == 2


def test_stamp_on_a_terminal_is_cancelled_by_a_wrong_answer(
    db_path: Path, three_tables: Path
) -> None:
    common = ["--db", str(db_path), "--migrations", str(three_tables)]
    assert main(["migrate", "--to", "0", *common]) == 0
    code, output = _on_a_terminal(["stamp", "2", "--reason", "by hand", *common], "3")
    assert code == 1 and "cancelled" in output
    manager = MigrationManager(db_path, Registry.from_directory(three_tables))
    assert manager.current_version == 0 and manager.history() == []
