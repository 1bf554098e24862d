"""In-process probe of the metamigrate library API: statements and commits per operation.

Run as a script: ``python bench/library_probe.py MIGRATIONS_DIR DB_PATH``. Every
``sqlite3.connect`` made by the engine gets a trace callback, so each BEGIN / COMMIT / ROLLBACK
the engine sends to SQLite is counted. Prints one JSON object.

Operations (each from a fresh file): ``migrate_to_latest()``, ``migrate_to(latest, atomic=True)``,
then ``status()`` and ``rollback(0)`` on the migrated file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections import Counter
from typing import Any

_real_connect = sqlite3.connect
COUNTS: Counter[str] = Counter()


def _trace(statement: str) -> None:
    word = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
    COUNTS["statements"] += 1
    if word in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA"):
        COUNTS[word] += 1
    elif word == "END":
        COUNTS["COMMIT"] += 1


def _traced_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
    conn = _real_connect(*args, **kwargs)
    conn.set_trace_callback(_trace)
    return conn


sqlite3.connect = _traced_connect  # type: ignore[assignment]


def _import_api() -> tuple[Any, Any, str]:
    try:
        from engine import MigrationManager, Registry

        return Registry, MigrationManager, "from engine import Registry, MigrationManager"
    except ImportError:
        from engine.manager import MigrationManager
        from engine.migration import Registry

        return Registry, MigrationManager, "engine.manager / engine.migration (not re-exported)"


def _measure(label: str, call: Any, out: dict[str, Any]) -> Any:
    COUNTS.clear()
    start = time.perf_counter()
    value = call()
    out[label] = {"seconds": time.perf_counter() - start, **dict(COUNTS)}
    return value


def _fresh(db: str) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)


def main() -> int:
    migrations, db = sys.argv[1], sys.argv[2]
    registry_cls, manager_cls, imported = _import_api()
    out: dict[str, Any] = {"import": imported}

    def manager() -> Any:
        return manager_cls(db, registry_cls.from_directory(migrations))

    _fresh(db)
    latest = manager().latest_version
    out["migrations"] = latest
    _measure("migrate_to_latest", lambda: manager().migrate_to_latest(), out)
    _measure("status", lambda: manager().status(), out)
    _measure("rollback_0", lambda: manager().rollback(0), out)
    _fresh(db)
    _measure("migrate_to_atomic", lambda: manager().migrate_to(latest, atomic=True), out)
    _fresh(db)
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
