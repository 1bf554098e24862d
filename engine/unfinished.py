"""Migrations that began outside a transaction (``TRANSACTION = False``) and never finished.

Such a step commits an "in progress" history row before it runs and fills it in when it ends, so
a row still in progress means its process died in between (or is still running: then it holds
the migration lock). Nothing reruns or skips it silently: ``status``, ``verify`` and
``ensure-ready`` report it, ``migrate`` refuses, and ``repair`` clears it once an operator has
looked.
"""

from __future__ import annotations

from engine.backends.base import Backend
from engine.recorder import HistoryEntry, Recorder


def unfinished_problems(backend: Backend, recorder: Recorder | None = None) -> list[str]:
    """One sentence per unfinished attempt ([] when there is none)."""
    entries = (recorder or Recorder(backend)).all_unfinished()
    if not entries:
        return []
    holder_of = getattr(backend, "migration_lock_holder", None)
    running = holder_of() if callable(holder_of) else None
    return [describe(entry, running) for entry in entries]


def describe(entry: HistoryEntry, running: str | None = None) -> str:
    label = f"{entry.version:04d}_{entry.name}"
    when = entry.started_at[:19].replace("T", " ")
    who = f"started {when} UTC by {entry.user}@{entry.host} pid {entry.pid}"
    if running:
        return (
            f"Migration {entry.version} is running outside a transaction ({label}, {who}; the "
            f"migration lock is held by {running}); wait for it to finish."
        )
    return (
        f"Unfinished: migration {entry.version} was interrupted outside a transaction ({label}, "
        f"{who}); inspect it (an invalid index?), then repair it: metamigrate repair "
        f"{entry.version} --reason '...'."
    )
