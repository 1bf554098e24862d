"""The deployment gate: may this code serve this database right now?

``ready`` means every migration the code knows is applied and every verification check passes;
``pending`` means migrations are waiting and nothing is wrong; ``error`` means something is wrong
(a failed check, the database ahead of the code) and deploying would be unsafe.
"""

from __future__ import annotations

from engine.errors import DeploymentNotReady, MetamigrateError
from engine.manager import MigrationManager
from engine.records import Record

TYPE_CHECKING = (
    False  # not ``typing.TYPE_CHECKING``: what ensure-ready imports must not load typing
)

if TYPE_CHECKING:
    from typing import Literal, TypeAlias

    from engine.models import MigrationStatus, RunResult
    from engine.store import Store
    from engine.verify import VerificationReport

    Readiness: TypeAlias = Literal["ready", "pending", "error"]
else:
    Readiness = str  # at run time only its values' type (annotations are strings)


class DeploymentStatus(Record):
    __slots__ = (
        "applied_count",
        "current_version",
        "latest_version",
        "migrations",
        "pending_count",
        "problems",
        "schema_valid",
        "status",
        "verification",
    )
    status: Readiness
    current_version: int
    latest_version: int
    pending_count: int
    applied_count: int
    schema_valid: bool
    migrations: list[MigrationStatus]
    problems: list[str]
    verification: VerificationReport | None

    def __init__(
        self,
        status: Readiness,
        current_version: int,
        latest_version: int,
        pending_count: int,
        applied_count: int,
        schema_valid: bool,
        migrations: list[MigrationStatus],
        problems: list[str] | None = None,
        verification: VerificationReport | None = None,
    ) -> None:
        self._set(
            status,
            current_version,
            latest_version,
            pending_count,
            applied_count,
            schema_valid,
            migrations,
            [] if problems is None else problems,
            verification,
        )

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "current_version": self.current_version,
            "latest_version": self.latest_version,
            "pending_count": self.pending_count,
            "applied_count": self.applied_count,
            "schema_valid": self.schema_valid,
            "migrations": [m.to_dict() for m in self.migrations],
            "problems": list(self.problems),
            "checks": [c.to_dict() for c in self.verification.checks] if self.verification else [],
        }


class DeploymentManager:
    """Readiness reports and the guarded operations a deploy pipeline calls."""

    def __init__(self, store_or_manager: Store | MigrationManager) -> None:
        if isinstance(store_or_manager, MigrationManager):
            self.manager = store_or_manager
        else:
            self.manager = store_or_manager.migrations

    def status(self, *, full_checksums: bool = True) -> DeploymentStatus:
        """Readiness now; ``full_checksums=False`` is the quick form (see ``verify``)."""
        if not self.manager.exists():
            # Not created yet: every migration is pending, and migrate creates the database.
            migrations = self.manager.status()
            return DeploymentStatus(
                "pending",
                0,
                self.manager.latest_version,
                len(migrations),
                0,
                True,  # nothing there to be invalid
                migrations,
                [
                    f"{len(migrations)} migration(s) pending: there is no database at "
                    f"{self.manager.display} yet; `migrate` creates it."
                ],
                None,
            )
        try:
            migrations, report = self.manager.statuses_and_verification(
                full_checksums=full_checksums
            )
        except MetamigrateError as exc:
            latest = self.manager.latest_version
            return DeploymentStatus("error", 0, latest, 0, 0, False, [], [exc.message], None)
        applied = [m for m in migrations if m.status != "pending"]
        pending = [m for m in migrations if m.status == "pending"]
        current = max((m.version for m in applied), default=0)
        problems = report.problems
        if problems:
            readiness: Readiness = "error"
        elif pending:
            readiness = "pending"
            problems = [
                f"{len(pending)} migration(s) pending: the database is at version {current}, the "
                f"code expects {self.manager.latest_version}; run migrate."
            ]
        else:
            readiness = "ready"
        return DeploymentStatus(
            status=readiness,
            current_version=current,
            latest_version=self.manager.latest_version,
            pending_count=len(pending),
            applied_count=len(applied),
            schema_valid=report.ok,
            migrations=migrations,
            problems=problems,
            verification=report,
        )

    def ensure_ready(self, migrate: bool = False) -> DeploymentStatus:
        """The status if ready; otherwise raise DeploymentNotReady with the reasons."""
        if migrate:
            before = self.status()
            if before.status == "error":
                raise DeploymentNotReady(before)
            if before.pending_count:
                self.manager.migrate_to_latest()
        status = self.status()
        if status.status != "ready":
            raise DeploymentNotReady(status)
        return status

    def rollback_to_version(self, version: int, *, expect_current: int | None = None) -> RunResult:
        """The emergency rollback; asking the operator to confirm is the caller's job, and
        ``expect_current`` (the version the confirmation showed) makes the engine refuse with
        ``ConcurrentChangeError`` if the database has moved since."""
        return self.manager.rollback(version, expect_current=expect_current)
