"""HangupGuard: end the console when its terminal goes away, even if no SIGHUP arrives.

A dropped SSH connection normally sends SIGHUP, whose default action ends the process at once
(SQLite rolls back any migration that was in flight). When the terminal is closed without a
SIGHUP reaching us (the process is not in the terminal's foreground group, or SIGHUP is
ignored), Textual's input thread reads end-of-file forever and the process lingers at full CPU.
This daemon thread checks once a second that the terminal is still a terminal; when it is not,
it asks the app to exit and, if that has not happened within a few seconds, ends the process.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any

#: Exit status after a hangup, as a shell reports a process ended by SIGHUP (128 + 1).
HANGUP_EXIT = 129


class HangupGuard:
    def __init__(self, app: Any, fd: int, *, interval: float = 1.0, grace: float = 3.0) -> None:
        self.app = app
        self.fd = fd
        self.interval = interval
        self.grace = grace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metamigrate-hangup", daemon=True)

    def start(self) -> None:
        if os.isatty(self.fd):
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def terminal_present(self) -> bool:
        return os.isatty(self.fd)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.terminal_present():
                self._hang_up()
                return

    def _hang_up(self) -> None:
        # Ask politely on the app's own thread; a helper thread, so a wedged loop cannot stall us.
        threading.Thread(target=self._ask_app_to_exit, daemon=True).start()
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline:
            if self._stop.wait(0.1):
                return  # run_console returned: the app exited by itself.
        os._exit(HANGUP_EXIT)

    def _ask_app_to_exit(self) -> None:
        # An exception means the loop is gone already: the fallback in _hang_up ends the process.
        with contextlib.suppress(Exception):
            self.app.call_from_thread(self.app.exit, HANGUP_EXIT)
