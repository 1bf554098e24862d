"""Every error the engine raises on purpose.

Each message is one sentence for the operator: what happened and what to do. The CLI prints it and
exits with ``exit_code``; a traceback means a bug, never bad input.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: what status imports must not load typing

if TYPE_CHECKING:
    from engine.deployment import DeploymentStatus

#: Exit code for a refused or failed operation (not ready, migration failed, database locked).
EXIT_FAILED = 1
#: Exit code for bad usage or bad input (unknown version, not a SQLite file, broken registry).
EXIT_BAD_INPUT = 2


class MetamigrateError(Exception):
    """Base class: an expected failure with an operator-facing message."""

    exit_code: int = EXIT_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class RegistryError(MetamigrateError):
    """The migrations are invalid: duplicate or missing versions, a file that fails to import."""

    exit_code = EXIT_BAD_INPUT


class DatabaseError(MetamigrateError):
    """The database file cannot be used as asked."""


class DatabasePathError(DatabaseError):
    """The database path cannot be used: missing, or its folder cannot be created."""

    exit_code = EXIT_BAD_INPUT


class DatabaseNotFoundError(DatabasePathError):
    pass


class NotADatabaseError(DatabaseError):
    exit_code = EXIT_BAD_INPUT


class DatabaseLockedError(DatabaseError):
    """Another connection holds the write lock longer than the busy timeout."""


class ReadOnlyDatabaseError(DatabaseError):
    """A write was asked of a file that can only be read."""


class DiskFullError(DatabaseError):
    """SQLite ran out of space (or hit max_page_count) and rolled back."""


class InvalidTargetError(MetamigrateError):
    """The requested target version does not exist or is not reachable in that direction."""

    exit_code = EXIT_BAD_INPUT


class IrreversibleMigrationError(MetamigrateError):
    """A rollback would have to cross a migration that has no down."""


class ConcurrentChangeError(MetamigrateError):
    """Another runner changed the applied set in a way that makes this plan invalid."""


class MigrationError(MetamigrateError):
    """A migration failed; the database was left at the last good version."""

    def __init__(
        self,
        message: str,
        *,
        version: int | None = None,
        direction: str | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.version = version
        self.direction = direction
        self.cause = cause


class DeploymentNotReady(MetamigrateError):
    """The database is not ready to serve this code; ``status`` says why."""

    def __init__(self, status: DeploymentStatus) -> None:
        reasons = status.problems or [f"deployment status is {status.status}"]
        super().__init__("Not ready to deploy: " + " ".join(reasons))
        self.status = status
        self.reasons = list(reasons)


class SchemaMismatchError(MetamigrateError):
    """The database's applied versions do not fit the code (ahead of it, or diverged)."""


class BackupError(DatabaseError):
    """A backup could not be taken or restored; nothing was changed."""


class BackupTargetError(BackupError):
    """The backup file itself could not be written; the message is the reason ("the disk is
    full"), which the backup manager puts into its own sentence."""
