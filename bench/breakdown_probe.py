"""Attribute the library's time to engine functions: self time per function, in process.

Run as a script: ``python bench/breakdown_probe.py MIGRATIONS_DIR DB_PATH RAW_SQL_DIR``. Wraps
a list of engine functions with timers (self time: a wrapped callee's time is not counted twice),
runs ``migrate_to_latest`` / ``rollback(0)`` per migration and atomic, from a fresh file each, and
the raw baseline on the same N in the same process for reference. Prints one JSON object.
Functions the engine does not have (renamed, removed) are skipped, not an error.
"""

from __future__ import annotations

import functools
import glob
import importlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import Any

WRAP = (
    ("engine.migration", "Registry.from_directory", "discover migration files"),
    ("engine.migration", "MigrationFile.read_header", "read headers (ast.parse)"),
    ("engine.migration", "MigrationFile.checksum", "checksums of files (verify)"),
    ("engine.checksum", "source_checksum", "checksum of a migration's source (cache misses)"),
    ("engine.checksum_cache", "ChecksumCache.checksum", "checksum cache lookups"),
    ("engine.loader", "load_migration_file", "import migration modules"),
    ("engine.backends.sqlite", "connect", "connect and validate the file"),
    ("engine.backends.sqlite", "table_exists", "bookkeeping: table_exists (scans sqlite_master)"),
    ("engine.recorder", "Recorder.ensure_tables", "bookkeeping: ensure_tables"),
    ("engine.recorder", "Recorder.applied", "bookkeeping: read applied rows"),
    ("engine.recorder", "Recorder.applied_set", "bookkeeping: read applied versions (once a run)"),
    ("engine.backends.sqlite", "data_version", "bookkeeping: step precondition (data_version)"),
    ("engine.backends.sqlite", "table_shapes", "rollback data-loss check: row counts"),
    ("engine.recorder", "Recorder.head", "bookkeeping: head (max + count)"),
    ("engine.recorder", "Recorder.head_and_applied", "bookkeeping: step precondition"),
    ("engine.recorder", "Recorder.record_applied_many", "bookkeeping: insert applied rows"),
    ("engine.recorder", "Recorder.record_unapplied_many", "bookkeeping: delete applied rows"),
    ("engine.recorder", "Recorder.fill_fingerprint", "bookkeeping: fill fingerprint"),
    ("engine.recorder", "Recorder.append_history_many", "bookkeeping: history rows"),
    ("engine.backends.sqlite", "set_user_version", "bookkeeping: PRAGMA user_version"),
    ("engine.steps", "describe", "schema description + fingerprint (where a run rests)"),
    ("engine.backends.sqlite", "TransactionGuard.__enter__", "transaction guard: install"),
    ("engine.backends.sqlite", "TransactionGuard.check", "transaction guard: check, remove"),
    ("engine.backends.sqlite", "begin_immediate", "BEGIN IMMEDIATE"),
    ("engine.executor", "Executor._commit", "COMMIT (journal + fsync)"),
    ("engine.tx", "Tx.execute", "the migrations' own SQL (tx.execute)"),
)

STATS: dict[str, list[float]] = {}
STACK: list[list[float]] = []


def _wrap(label: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def timed(*args: Any, **kwargs: Any) -> Any:
        frame = [0.0]  # time spent in wrapped callees
        STACK.append(frame)
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - start
            STACK.pop()
            if STACK:
                STACK[-1][0] += elapsed
            entry = STATS.setdefault(label, [0, 0.0])
            entry[0] += 1
            entry[1] += elapsed - frame[0]

    return timed


def install() -> list[str]:
    missing = []
    for module_name, qualname, label in WRAP:
        try:
            owner: Any = importlib.import_module(module_name)
            *path, name = qualname.split(".")
            for part in path:
                owner = getattr(owner, part)
            original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        except (ImportError, AttributeError, KeyError):
            missing.append(f"{module_name}.{qualname}")
            continue
        if isinstance(original, (classmethod, staticmethod)):
            kind = type(original)
            setattr(owner, name, kind(_wrap(label, original.__func__)))
            continue
        wrapped = _wrap(label, original)
        setattr(owner, name, wrapped)
        # Modules that did ``from engine.x import f`` hold their own reference: rebind it too.
        for module in list(sys.modules.values()):
            in_engine = getattr(module, "__name__", "").startswith("engine")
            if in_engine and module is not owner and getattr(module, name, None) is original:
                setattr(module, name, wrapped)
    return missing


def fresh(db: str) -> None:
    for path in glob.glob(db + "*"):
        os.remove(path)


def measured(call: Callable[[], Any]) -> dict[str, Any]:
    STATS.clear()
    start = time.perf_counter()
    call()
    total = time.perf_counter() - start
    parts = {k: {"calls": int(v[0]), "seconds": v[1]} for k, v in STATS.items()}
    attributed = sum(p["seconds"] for p in parts.values())
    return {"total_s": total, "parts": parts, "unattributed_s": total - attributed}


def _migrate(manager: Any, registry: Any, migrations: str, atomic: bool) -> None:
    manager(registry.from_directory(migrations)).migrate_to_latest(atomic=atomic)


def _rollback(manager: Any, registry: Any, migrations: str, atomic: bool) -> None:
    manager(registry.from_directory(migrations)).rollback(0, atomic=atomic)


def main() -> int:
    migrations, db, raw_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    missing = install()
    from engine.manager import MigrationManager
    from engine.migration import Registry

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import raw_sqlite

    out: dict[str, Any] = {"unwrapped": missing}
    # An untimed cycle first, as the benchmark's warm-up: the checksum cache is written, the
    # page cache is warm.
    fresh(db)
    _migrate(functools.partial(MigrationManager, db), Registry, migrations, True)
    _rollback(functools.partial(MigrationManager, db), Registry, migrations, True)
    for atomic in (False, True):
        mode = "atomic" if atomic else "per_migration"
        fresh(db)
        manager = functools.partial(MigrationManager, db)
        out[f"migrate_{mode}"] = measured(
            functools.partial(_migrate, manager, Registry, migrations, atomic)
        )
        out[f"rollback_{mode}"] = measured(
            functools.partial(_rollback, manager, Registry, migrations, atomic)
        )
        fresh(db)
        conn = sqlite3.connect(db, isolation_level=None)
        start = time.perf_counter()
        raw_sqlite.apply(conn, raw_dir, atomic)
        out[f"raw_apply_{mode}_s"] = time.perf_counter() - start
        start = time.perf_counter()
        raw_sqlite.rollback(conn, raw_dir, atomic)
        out[f"raw_rollback_{mode}_s"] = time.perf_counter() - start
        conn.close()
    fresh(db)
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
