"""Checksums of migration files remembered across runs, keyed by the text they are computed from.

A migration's checksum parses its source and serialises the syntax tree (0.1-0.2 ms a file, most
of the engine's own time when a thousand migrations are applied in one transaction). The cache maps
the SHA-256 of that very text to its checksum, so it is a memo of ``source_checksum(text)``: any
edit, whatever it does to the file's size, timestamps or inode, is another key and is parsed
afresh. There is no stat key, so no timestamp granularity to reason about.

It lives beside Python's own bytecode (``__pycache__/metamigrate-checksums``, or under
``PYTHONPYCACHEPREFIX``), which is trusted as much: whoever can write there can already change the
code that runs. Each file is tagged with the checksum's format and the Python version that computed
it, and a file with another tag is ignored. Reading or writing the cache never fails a command: a
missing, unreadable, corrupt or unwritable cache only means parsing again.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import os
import sys

#: Bump when ``engine.checksum``'s algorithm changes (its values are stored in databases, so it
#: should not; the tag makes an old cache harmless if it ever does).
FORMAT = 1
CACHE_NAME = "metamigrate-checksums"
#: More entries than this are not kept (the oldest, those of edited or removed files, go first).
MAX_ENTRIES = 100_000

_HEX = frozenset("0123456789abcdef")


def _tag() -> str:
    return f"{CACHE_NAME} {FORMAT} {sys.implementation.cache_tag}"


def cache_path(migration_path: str) -> str | None:
    """Where the cache of the folder holding ``migration_path`` lives (None: nowhere)."""
    return _cache_of_folder(os.path.dirname(migration_path))


@functools.lru_cache(maxsize=64)
def _cache_of_folder(folder: str) -> str | None:
    import importlib.util

    try:
        pycache = os.path.dirname(importlib.util.cache_from_source(os.path.join(folder, "_.py")))
    except (NotImplementedError, ValueError):
        return None  # no cache tag on this interpreter
    return os.path.join(pycache, CACHE_NAME)


def text_key(text: str) -> str:
    """The cache key of a source text (its UTF-8 bytes' SHA-256, truncated to 128 bits)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class ChecksumCache:
    """The checksums of one folder's migrations, loaded on first use, saved when new ones were
    computed (by ``save``, or at exit)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._entries: dict[str, str] | None = None
        self._new = False

    def _load(self) -> dict[str, str]:
        if self._entries is None:
            self._entries = _read(self.path)
        return self._entries

    def checksum(self, text: str) -> str:
        """``source_checksum(text)``, from the cache when it holds it."""
        entries = self._load()
        key = text_key(text)
        value = entries.get(key)
        if value is None:
            from engine.checksum import source_checksum

            value = source_checksum(text)
            entries[key] = value
            if not self._new:
                self._new = True
                atexit.register(self.save)
        return value

    def save(self) -> None:
        """Write the cache if this process computed checksums it did not hold (best effort)."""
        if not self._new or self._entries is None or sys.dont_write_bytecode:
            return
        self._new = False
        entries = {**_read(self.path), **self._entries}  # keep what another process added
        lines = [f"{key} {value}\n" for key, value in entries.items()][-MAX_ENTRIES:]
        directory = os.path.dirname(self.path)
        temp = f"{self.path}.{os.getpid()}.tmp"
        try:
            os.makedirs(directory, exist_ok=True)
            with open(temp, "w", encoding="ascii") as handle:
                handle.write(_tag() + "\n")
                handle.writelines(lines)
            os.replace(temp, self.path)
        except OSError:
            # A read-only folder (a deployed image), a full disk: the next run parses again.
            with contextlib.suppress(OSError):
                os.unlink(temp)


def _read(path: str) -> dict[str, str]:
    """The entries of a cache file; {} when it is missing, unreadable, foreign or corrupt."""
    from stat import S_ISREG

    try:
        if not S_ISREG(os.stat(path).st_mode):
            return {}  # never opened: a FIFO there would block the read
        with open(path, encoding="ascii") as handle:
            if handle.readline().rstrip("\n") != _tag():
                return {}
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    entries: dict[str, str] = {}
    for line in lines:
        key, _, value = line.partition(" ")
        if len(key) != 32 or len(value) != 16 or not _HEX.issuperset(key + value):
            return {}  # not written by this module: trust none of it
        entries[key] = value
    return entries


_CACHES: dict[str, ChecksumCache] = {}


def file_checksum(migration_path: str, text: str) -> str:
    """The checksum of the text of the migration file at ``migration_path``, through the cache of
    its folder."""
    path = cache_path(migration_path)
    if path is None:
        from engine.checksum import source_checksum

        return source_checksum(text)
    cache = _CACHES.get(path)
    if cache is None:
        cache = _CACHES[path] = ChecksumCache(path)
    return cache.checksum(text)


def save_all() -> None:
    """Write every cache that learnt new checksums (the end of a run; also done at exit)."""
    for cache in _CACHES.values():
        cache.save()
