"""Durable file operations shared by backups and restores: fsync, quiet unlink, dead temp files."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable; not every platform can open a folder."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
        path.unlink()


def process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_temps(folder: Path, prefix: str, suffix: str) -> None:
    """Delete ``<prefix>...<pid><suffix>`` files whose process is gone (killed mid-write)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if not (entry.name.startswith(prefix) and entry.name.endswith(suffix)):
                continue
            pid_text = entry.name[: -len(suffix)].rsplit(".", 1)[-1]
            if pid_text.isdigit() and not process_alive(int(pid_text)):
                unlink_quietly(Path(entry.path))
