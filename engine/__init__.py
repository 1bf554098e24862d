"""metamigrate's engine: transactional Python migrations for a SQLite or PostgreSQL metadata store.

Imports only the standard library, and lazily: ``import engine`` costs almost nothing, and each
name loads its module on first use (the CLI's ``status --json`` never loads verification code).
"""

# The TYPE_CHECKING imports exist for type checkers only; __all__ is derived from _EXPORTS.
# ruff: noqa: F401

from __future__ import annotations

import importlib

# Not ``from typing import TYPE_CHECKING``: importing typing is most of what ``import engine``
# would cost. Type checkers treat a module-level TYPE_CHECKING = False as the real thing.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from engine.backends.base import Backend, Capabilities
    from engine.backup import BackupInfo, RestoreResult
    from engine.deployment import (
        DeploymentManager,
        DeploymentStatus,
    )
    from engine.errors import (
        BackupError,
        ConcurrentChangeError,
        DatabaseError,
        DatabaseLockedError,
        DatabaseNotFoundError,
        DeploymentNotReady,
        DiskFullError,
        InvalidTargetError,
        IrreversibleMigrationError,
        MetamigrateError,
        MigrationError,
        NotADatabaseError,
        ReadOnlyDatabaseError,
        RegistryError,
        SchemaMismatchError,
    )
    from engine.events import (
        BackupTaken,
        Event,
        EventHandler,
        MigrationFailed,
        MigrationFinished,
        MigrationSkipped,
        MigrationStarted,
        RunFinished,
        RunStarted,
    )
    from engine.manager import MigrationManager
    from engine.migration import (
        Migration,
        Registry,
    )
    from engine.models import (
        MigrationStatus,
        PlanStep,
        RunResult,
    )
    from engine.recorder import HistoryEntry
    from engine.rehearsal import RehearsalReport, RollbackImpact
    from engine.settings import Settings
    from engine.store import Store
    from engine.tx import Tx
    from engine.verify import (
        CheckResult,
        VerificationReport,
    )

_EXPORTS: dict[str, str] = {
    "BackupError": "engine.errors",
    "BackupInfo": "engine.backup",
    "BackupTaken": "engine.events",
    "Backend": "engine.backends.base",
    "Capabilities": "engine.backends.base",
    "CheckResult": "engine.verify",
    "ConcurrentChangeError": "engine.errors",
    "DatabaseError": "engine.errors",
    "DatabaseLockedError": "engine.errors",
    "DatabaseNotFoundError": "engine.errors",
    "DeploymentManager": "engine.deployment",
    "DeploymentNotReady": "engine.errors",
    "DeploymentStatus": "engine.deployment",
    "DiskFullError": "engine.errors",
    "Event": "engine.events",
    "EventHandler": "engine.events",
    "HistoryEntry": "engine.recorder",
    "InvalidTargetError": "engine.errors",
    "IrreversibleMigrationError": "engine.errors",
    "MetamigrateError": "engine.errors",
    "Migration": "engine.migration",
    "MigrationError": "engine.errors",
    "MigrationFailed": "engine.events",
    "MigrationFinished": "engine.events",
    "MigrationManager": "engine.manager",
    "MigrationSkipped": "engine.events",
    "MigrationStarted": "engine.events",
    "MigrationStatus": "engine.models",
    "NotADatabaseError": "engine.errors",
    "PlanStep": "engine.models",
    "ReadOnlyDatabaseError": "engine.errors",
    "Registry": "engine.migration",
    "RegistryError": "engine.errors",
    "RehearsalReport": "engine.rehearsal",
    "RestoreResult": "engine.backup",
    "RollbackImpact": "engine.rehearsal",
    "RunFinished": "engine.events",
    "RunResult": "engine.models",
    "RunStarted": "engine.events",
    "SchemaMismatchError": "engine.errors",
    "Settings": "engine.settings",
    "Store": "engine.store",
    "Tx": "engine.tx",
    "VerificationReport": "engine.verify",
}

#: The public names, in one place: ``__all__``, ``dir(engine)`` and the lazy loader all read it
#: (tests/engine/test_exports.py checks that it agrees with the TYPE_CHECKING imports above).
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
