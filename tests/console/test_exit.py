"""The console ends when its terminal goes away (a dropped SSH connection), and on q.

These start the real console in a pseudo-terminal, as an operator's shell would.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from console.__main__ import main, run_console

REPO = Path(__file__).resolve().parents[2]


class Terminal:
    """The console running in an 80x24 pseudo-terminal."""

    def __init__(self, *args: str) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TEXTUAL_THEME")}
        env.update(TERM="xterm-256color", PYTHONPATH=str(REPO))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "console", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.screen = b""

    def wait_for(self, text: bytes, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and text not in self.screen:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.screen += os.read(self.master, 65536)
                except OSError:
                    break
        return text in self.screen

    def exit_code(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        with contextlib.suppress(OSError):
            os.close(self.master)


@pytest.fixture
def terminal(tmp_path: Path):  # type: ignore[no-untyped-def]
    started: list[Terminal] = []

    def start(*args: str) -> Terminal:
        term = Terminal("--db", str(tmp_path / "metadata.db"), *args)
        started.append(term)
        return term

    yield start
    for term in started:
        term.close()


@pytest.mark.slow
def test_sighup_ends_the_console_at_once(terminal) -> None:  # type: ignore[no-untyped-def]
    term = terminal()
    assert term.wait_for(b"NO DATABASE")
    term.process.send_signal(signal.SIGHUP)
    assert term.exit_code(timeout=5) is not None


@pytest.mark.slow
def test_a_closed_terminal_without_sighup_ends_the_console(terminal) -> None:  # type: ignore[no-untyped-def]
    term = terminal()
    assert term.wait_for(b"NO DATABASE")
    os.close(term.master)
    assert term.exit_code(timeout=10) == 129


@pytest.mark.slow
def test_q_quits_with_status_0_and_a_missing_database_is_not_created(  # type: ignore[no-untyped-def]
    terminal, tmp_path: Path
) -> None:
    term = terminal()
    assert term.wait_for(b"NO DATABASE")
    os.write(term.master, b"q")
    assert term.exit_code(timeout=10) == 0
    assert not (tmp_path / "metadata.db").exists()


def test_read_only_on_a_missing_database_is_refused_with_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.db"
    assert run_console(missing, read_only=True) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: No database at {missing}: there is nothing to read")
    assert not missing.exists()


def test_a_file_that_is_not_a_database_is_refused_with_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello, not sqlite\n")
    assert main(["--db", str(bogus)]) == 2
    assert "is not a SQLite database" in capsys.readouterr().err


def test_missing_migrations_folder_is_refused_with_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(tmp_path / "m.db"), "--migrations", "./nope/"]) == 2
    assert "does not exist" in capsys.readouterr().err
