"""Ctrl-C ends a command within a second, whatever it is waiting for.

Python raises ``KeyboardInterrupt`` only between bytecodes: while SQLite sleeps in its busy handler
(``--busy-timeout 600`` behind another writer), copies a large file or runs a long statement, the
main thread is in C and the signal waits. ``sigint_watchdog`` makes the signal also wake a small
thread (``signal.set_wakeup_fd``); if the normal path (``KeyboardInterrupt``: roll back, say so,
exit 130) has not ended the process ``grace`` seconds later, the thread says so and ends it with
exit code 130. That is as safe as a SIGKILL, which the safety tests check at random moments: SQLite
rolls an unfinished transaction back when the file is next opened, and temporary copies of a
killed process are removed by the next run.
"""

from __future__ import annotations

import _thread  # not threading: every command starts this thread, and threading costs its import
import contextlib
import os
import signal
import sys
from collections.abc import Iterator

#: Exit code of a command ended by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130

MESSAGE = (
    "error: Interrupted; anything the command had not committed is rolled back when the "
    "database is next opened.\n"
)


@contextlib.contextmanager
def sigint_watchdog(grace: float = 0.7) -> Iterator[None]:
    """Within the block, a Ctrl-C that Python cannot act on in ``grace`` seconds ends the process.

    Only on the main thread (``set_wakeup_fd`` refuses any other), with SIGINT at Python's
    default handler (otherwise, e.g. under a test runner or inside another program's handler, it
    does nothing).
    """
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler or not hasattr(
        signal, "set_wakeup_fd"
    ):
        yield
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    except (ValueError, OSError):  # ValueError: not the main thread
        os.close(read_end)
        os.close(write_end)
        yield
        return
    # Locks as events: ``running`` is held while the block runs, ``ended`` until the thread ends.
    running = _thread.allocate_lock()
    running.acquire()
    ended = _thread.allocate_lock()
    ended.acquire()

    def block_ended(wait: float = 0) -> bool:
        if running.acquire(timeout=wait) if wait else running.acquire(blocking=False):
            running.release()
            return True
        return False

    def watch() -> None:
        try:
            while True:
                try:
                    data = os.read(read_end, 64)
                except OSError:
                    return
                if not data or block_ended():
                    return
                if signal.SIGINT in data and not block_ended(grace):
                    with contextlib.suppress(OSError):
                        os.write(2, MESSAGE.encode())
                    os._exit(EXIT_INTERRUPTED)
        finally:
            ended.release()

    # A thread of _thread's is a daemon: it never holds the interpreter's exit.
    _thread.start_new_thread(watch, ())
    try:
        yield
    finally:
        running.release()
        with contextlib.suppress(ValueError, OSError):
            signal.set_wakeup_fd(previous)
        os.close(write_end)  # the thread's read returns b"" and it ends
        if ended.acquire(timeout=1):
            ended.release()
        os.close(read_end)
        sys.stderr.flush()
