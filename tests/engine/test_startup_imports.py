"""What the read-only commands import at start: not the modules that made start-up slow.

``status --json`` of a thousand migrations was mostly interpreter start and imports; ``dataclasses``
(with the ``inspect``, ``ast``, ``dis`` and ``tokenize`` it imports) and ``typing`` were a third
of them. Each test runs the command in a fresh interpreter and lists what it imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine import MigrationManager

#: Modules none of these commands may import on a SQLite database (shutil: argparse asks it the
#: terminal's width; threading: the Ctrl-C watchdog's thread is a _thread one).
SLOW_MODULES = ("dataclasses", "inspect", "typing", "rich", "shutil", "threading")


def imported_by(argv: list[str], cwd: Path) -> tuple[int, list[str]]:
    """(exit code, the SLOW_MODULES it imported) of ``metamigrate ARGV`` in a fresh interpreter
    (in ``cwd``: a ``pyproject.toml`` there is read with ``tomllib``, which imports ``typing``)."""
    code = (
        "import contextlib, io, json, sys\n"
        "before = set(sys.modules)\n"
        "from engine.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = main({argv!r})\n"
        f"slow = [m for m in {SLOW_MODULES!r} if m in sys.modules and m not in before]\n"
        "print(json.dumps([code, slow]))\n"
    )
    root = Path(__file__).resolve().parents[2]  # where ``engine`` is, whatever the cwd
    out = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(root)!r})\n" + code],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
    )
    exit_code, slow = json.loads(out.stdout)
    return exit_code, slow


@pytest.mark.parametrize(
    ("command", "exit_code"),
    [
        ("status", 0),
        ("current", 0),
        ("history", 0),
        ("plan", 0),
        ("verify", 0),
        ("ensure-ready", 1),  # not ready: one migration is pending
    ],
)
def test_read_only_commands_import_none_of_the_slow_modules(
    command: str,
    exit_code: int,
    manager: MigrationManager,
    db_path: Path,
    three_tables: Path,
    tmp_path: Path,
) -> None:
    manager.migrate_to(2)  # one pending: its header is read from the file
    argv = ["--db", str(db_path), "--migrations", str(three_tables), command, "--json"]
    assert imported_by(argv, tmp_path) == (exit_code, [])


def test_ensure_ready_piped_prints_its_lines_without_rich(
    manager: MigrationManager, db_path: Path, three_tables: Path, tmp_path: Path
) -> None:
    # N replicas of a service starting at once each run it with output to a log, not a terminal.
    manager.migrate_to(2)
    argv = ["--db", str(db_path), "--migrations", str(three_tables), "ensure-ready"]
    assert imported_by(argv, tmp_path) == (1, [])
    shown = subprocess.run(
        [sys.executable, "-m", "engine", *argv],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert shown.returncode == 1
    assert shown.stdout.splitlines()[0] == "PENDING: version 2 of 3, 1 pending, schema valid"
    assert "run migrate" in shown.stdout.splitlines()[1]
