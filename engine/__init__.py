"""metamigrate's engine: transactional Python migrations for a SQLite metadata store.

Imports only the standard library (the CLI's Rich is loaded inside the CLI).
"""

from engine.deployment import DeploymentManager, DeploymentStatus
from engine.errors import (
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
from engine.migration import Migration, Registry
from engine.models import MigrationStatus, PlanStep, RunResult
from engine.recorder import HistoryEntry
from engine.store import Store
from engine.tx import Tx
from engine.verify import CheckResult, VerificationReport

__all__ = [
    "CheckResult",
    "ConcurrentChangeError",
    "DatabaseError",
    "DatabaseLockedError",
    "DatabaseNotFoundError",
    "DeploymentManager",
    "DeploymentNotReady",
    "DeploymentStatus",
    "DiskFullError",
    "Event",
    "EventHandler",
    "HistoryEntry",
    "InvalidTargetError",
    "IrreversibleMigrationError",
    "MetamigrateError",
    "Migration",
    "MigrationError",
    "MigrationFailed",
    "MigrationFinished",
    "MigrationManager",
    "MigrationSkipped",
    "MigrationStarted",
    "MigrationStatus",
    "NotADatabaseError",
    "PlanStep",
    "ReadOnlyDatabaseError",
    "Registry",
    "RegistryError",
    "RunFinished",
    "RunResult",
    "RunStarted",
    "SchemaMismatchError",
    "Store",
    "Tx",
    "VerificationReport",
]
