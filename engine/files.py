"""Durable file operations shared by backups and restores: fsync, quiet unlink, dead temp files."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
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


#: The files SQLite keeps beside a database file while it writes it (a temporary copy too).
SQLITE_COMPANIONS = ("-journal", "-wal", "-shm")


def remove_dead_temps(folder: Path, prefix: str, suffix: str) -> None:
    """Delete ``<prefix>...<pid><suffix>`` files whose process is gone (killed mid-write), and
    the journal SQLite kept beside each (``<name>-journal``, ``-wal``, ``-shm``: a backup or a
    restore killed while writing its copy leaves one). Files of live processes are left alone."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            name = entry.name
            if not name.startswith(prefix):
                continue
            base = name
            for companion in SQLITE_COMPANIONS:
                if name.endswith(suffix + companion):
                    base = name[: -len(companion)]
                    break
            if not base.endswith(suffix):
                continue
            pid_text = base[: -len(suffix)].rsplit(".", 1)[-1]
            if pid_text.isdigit() and not process_alive(int(pid_text)):
                unlink_quietly(Path(entry.path))


#: What a file that is not a regular file is, for messages.
_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def special_kind(path: str | os.PathLike[str]) -> str | None:
    """What ``path`` is when it exists and is not a regular file ("a FIFO (named pipe)", ...);
    None for a regular file or nothing at all. Only ``stat`` is used (symlinks followed), never
    ``open``: opening a FIFO blocks until a writer comes, and SQLite retries such an open
    forever, even through Ctrl-C."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISREG(mode):
        return None
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "not a regular file"


def path_problem(path: str | os.PathLike[str], exc: OSError) -> str:
    """One sentence for an ``OSError`` about ``path``: what happened and what to do."""
    code = exc.errno
    if code == errno.ENAMETOOLONG:
        return (
            f"The path {path} is too long for the file system (a name or the whole path is over "
            "its limit); use a shorter one."
        )
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"Cannot reach {path}: permission denied (on it or on one of its folders); run as a "
            "user who may, or fix the permissions."
        )
    if code == errno.ENOTDIR:
        return f"Cannot reach {path}: a part of the path is a file, not a folder; check the path."
    if code == errno.ELOOP:
        return f"Cannot reach {path}: too many symbolic links (a loop?); check the path."
    if code == errno.EROFS:
        return f"Cannot write {path}: the file system is read-only; choose another location."
    if code == errno.ENOSPC:
        return f"Cannot write {path}: the disk is full; free space and retry."
    return f"Cannot use {path}: {exc.strerror or exc}; check the path and its permissions."


def exit_code_of(exc: OSError) -> int:
    """2 (bad input) for a path that cannot name a file, 1 for a refusal of a sound path."""
    return 2 if exc.errno in (errno.ENAMETOOLONG, errno.ENOTDIR, errno.ELOOP, errno.ENOENT) else 1
