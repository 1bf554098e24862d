"""Helpers for the safety tests: the real CLI in a real process, file digests, slow migrations."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", "PYTHONPATH": str(REPO)}
    env.pop("METAMIGRATE_DB", None)
    env.update(extra or {})
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine", *args]


def run_cli(
    *args: str, timeout: float = 60, stdin: str = "", **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """The console script in a real process, stdin not a terminal, as a deploy script runs it."""
    return subprocess.run(
        cli_command(*args),
        capture_output=True,
        text=True,
        env=cli_env(),
        input=stdin,
        timeout=timeout,
        **kwargs,
    )


def answer_on_terminal(*args: str, answer: str, prompt: bytes = b"confirm") -> tuple[int, str]:
    """The CLI on a real terminal (a pty): wait for ``prompt``, type ``answer`` and Enter;
    return (exit code, everything it printed)."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(sys.executable, cli_command(*args), cli_env({"COLUMNS": "200"}))
    output = b""
    while prompt not in output:
        chunk = os.read(fd, 4096)
        assert chunk, output
        output += chunk
    os.write(fd, answer.encode() + b"\n")
    with contextlib.suppress(OSError):  # EIO once the child has closed the terminal
        while chunk := os.read(fd, 4096):
            output += chunk
    return os.waitpid(pid, 0)[1] >> 8, output.decode(errors="replace")


def assert_clean_failure(
    result: subprocess.CompletedProcess[str], codes: Sequence[int], *texts: str
) -> None:
    """Exit code in ``codes``, no traceback anywhere, each text in the one-line error."""
    assert result.returncode in codes, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    flat = " ".join(result.stderr.split())
    for text in texts:
        assert text in flat, (text, result.stderr)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_digest(path: Path) -> dict[str, str]:
    """The database and any -wal/-shm/-journal beside it, by name."""
    found = {}
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = Path(str(path) + suffix)
        if candidate.exists() and candidate.is_file():
            found[candidate.name] = digest(candidate)
    return found


def write_files(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (folder / name).write_text(textwrap.dedent(source), encoding="utf-8")
    return folder


def query(path: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def applied_versions(path: Path) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations'"
        ).fetchone()
        if not exists:
            return []
        return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    finally:
        conn.close()


def user_version(path: Path) -> int:
    return int(query(path, "PRAGMA user_version")[0][0])


HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2]:
    conn.execute("PRAGMA journal_mode = " + sys.argv[2])
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


@contextlib.contextmanager
def write_lock_held(db: Path, journal_mode: str = "") -> Iterator[None]:
    """Another process holds the write lock (BEGIN IMMEDIATE) until the block ends.

    A separate process, not a connection in this one: closing any descriptor of the file in this
    process (reading it to compare bytes) would drop this process's POSIX locks.
    """
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db), journal_mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "locked"
        yield
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
