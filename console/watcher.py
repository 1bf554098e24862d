"""DatabaseWatcher: notices, cheaply, when another connection changed the database file.

It owns one read-only connection, used only on its own daemon thread, and polls the backend's
change token (SQLite's ``PRAGMA data_version``, which changes only when another connection
commits) plus, for a database file, its identity, size and modification time (which change when
the file is replaced or removed). It
reports a change only when one happened, so an idle console does no work. The thread is a
daemon and waits at most ``busy_timeout`` on a lock, so it never keeps the process alive.

On a PostgreSQL server there is no file to look at: the watcher blocks in ``LISTEN`` (the engine
NOTIFYs each migration, rollback and stamp as it commits, ``engine.backends.pg_listen``), so a
change by another replica shows at once, and looks anyway every ``SERVER_CHECK_INTERVAL``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine import MetamigrateError
from engine.backends import is_file_location, open_backend, sqlite_path
from engine.backends.base import Backend, ConnectOptions

FileKey = tuple[int, int, int, int]

#: The key of a database that is not a local file (a server): only the change token tells.
_SERVER = (0, 0, 0, 0)
#: On a server the watcher sleeps in LISTEN (the engine NOTIFYs every migration, rollback and
#: stamp as it commits) and looks anyway this often, in case a change came another way.
SERVER_CHECK_INTERVAL = 2.0


def _file_key(path: Path | None) -> FileKey | None:
    if path is None:
        return _SERVER
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class DatabaseWatcher:
    """Calls ``on_change(reason)`` from its own thread whenever the database changed."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        on_change: Callable[[str], None],
        *,
        interval: float = 0.5,
        busy_timeout: float = 0.1,
        options: ConnectOptions | None = None,
    ) -> None:
        """``options``: how to reach a server (its schema above all: the watcher listens for
        that schema's changes); the watcher always connects read-only and never creates."""
        self.location = os.fspath(path)
        #: The database file (None for a server database).
        self.path: Path | None = (
            Path(sqlite_path(self.location)) if is_file_location(self.location) else None
        )
        self.on_change = on_change
        self.interval = interval
        self.busy_timeout = busy_timeout
        self.options = (options or ConnectOptions()).replace(
            read_only=True,
            busy_timeout=busy_timeout,
            create=False,
            application_name="metamigrate console watcher",
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metamigrate-watcher", daemon=True)
        self._conn: Backend | None = None
        self._listener: Any = None
        self._data_version: object | None = None
        self._file: FileKey | None = None
        self._polled = False
        self._paused = False
        self._lock = threading.Lock()
        #: Looks taken so far, paused ones included (tests wait for some instead of sleeping).
        self.looks = 0

    def start(self) -> None:
        """Start polling (from any thread; a second call does nothing)."""
        with self._lock:
            if not self._thread.is_alive() and not self._stop.is_set():
                self._thread.start()

    def prime(self) -> None:
        """Take the baseline now: any change after this call is reported by a later poll.

        The console calls it in its first load, just before reading the database, so no change
        can fall between what the table shows and what the watcher compares with.
        """
        self.poll()

    def pause(self) -> None:
        """Close the connection now and stop looking until ``resume`` (from any thread).

        A restore renames a new file over the database, and the engine refuses to restore a WAL
        database while any other connection is open: the console pauses the watcher around it.
        """
        with self._lock:
            self._paused = True
            self._close()

    def resume(self) -> None:
        """Look again, taking a new baseline now (in the caller's thread): the console's own
        change (the restored file) is not reported as someone else's, and any change after
        this call is. The console reloads after calling it, so nothing falls in between."""
        with self._lock:
            self._paused = False
            self._file = None
            self._data_version = None
            self._polled = True
            self._look(True)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Not looking while the console itself changes the database (a run, a restore): its
        own commits are not another connection's, and a poll that came just after its last
        commit would report them as such once the run had ended. The new baseline is taken
        when the block ends, before the console reloads."""
        self.pause()
        try:
            yield
        finally:
            self.resume()

    def stop(self) -> None:
        """Ask the thread to end; it does within one poll interval (and never blocks exit)."""
        self._stop.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def connected(self) -> bool:
        """Whether the watcher holds a connection to the database now."""
        return self._conn is not None

    @property
    def listening(self) -> bool:
        """Whether the watcher is subscribed to the engine's announcements (a server only)."""
        return self._listener is not None

    def _run(self) -> None:
        try:
            if not self._polled:
                self.poll()  # The baseline, at once: changes from now on are reported.
            while not self._wait():
                reason = self.poll()
                if reason is not None and not self._stop.is_set():
                    self.on_change(reason)
        finally:
            self._close()

    def _wait(self) -> bool:
        """Until the next look (True: asked to stop). A file is polled every ``interval``; a
        server database wakes the watcher with a notification, or after the periodic check."""
        if self.path is not None or self._paused:
            return self._stop.wait(self.interval)
        listener = self._listener
        if listener is None:
            try:
                from engine.backends.pg_listen import ChangeListener

                listener = self._listener = ChangeListener(self.location, self.options)
            except Exception:  # no server for now, or no LISTEN there: poll, try again later
                return self._stop.wait(self.interval)
        try:
            listener.wait(SERVER_CHECK_INTERVAL)
        except Exception:  # the connection went away: poll, and listen again next time
            self._close_listener()
            return self._stop.wait(self.interval)
        return self._stop.is_set()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                listener.close()

    def poll(self) -> str | None:
        """One look at the file; the reason it changed since the last look, or None."""
        with self._lock:
            self.looks += 1
            if self._paused:
                return None
            first, self._polled = not self._polled, True
            return self._look(first)

    def _look(self, first: bool) -> str | None:
        key = _file_key(self.path)
        previous, self._file = self._file, key
        if key is None:
            self._close()
            self._data_version = None
            return None if first or previous is None else "the database file disappeared"
        replaced = previous is not None and previous[:2] != key[:2]
        if replaced:
            self._close()
        if self._conn is None:
            try:
                self._conn = open_backend(self.location, self.options)
            except MetamigrateError:
                self._file = previous  # Not seen yet: look again next time.
                return None
            self._data_version = None
        try:
            version = self._conn.change_token()
        except self._conn.driver_errors:
            # Locked for a moment by a writer, or the file went bad: look again next time.
            self._close()
            return None
        last, self._data_version = self._data_version, version
        if first:
            return None
        if replaced:
            return "the database file was replaced"
        if previous is None:
            return "the database file appeared"
        if last is not None and version != last:
            return "another connection committed"
        if previous is not None and previous != key:
            return "the database file changed"
        return None

    def _close(self) -> None:
        # The listener is a session too: a restore refuses to run while other sessions are in.
        self._close_listener()
        if self._conn is not None:
            with contextlib.suppress(*self._conn.driver_errors):
                self._conn.close()
            self._conn = None
