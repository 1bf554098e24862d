"""Plans: from the versions a database has applied to a target version, and the refusals on the way.

One planner for every caller: ``MigrationManager`` (plan, migrate, rollback), the rehearsal, the
rollback impact and the console. It reads nothing itself: callers pass the applied set they read.

Invariant: a plan returned by ``plan_run`` can run as is: its target exists, it goes the asked way,
every migration in it loaded, and a downward plan crosses no irreversible migration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from engine.errors import InvalidTargetError, IrreversibleMigrationError, SchemaMismatchError
from engine.models import PlanStep
from engine.records import Record

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: what status imports must not load typing

if TYPE_CHECKING:
    from engine.migration import Registry
    from engine.models import Direction
    from engine.recorder import AppliedRow


class Plan(Record):
    """The steps from ``current`` to ``target``, in the order they run."""

    __slots__ = ("current", "direction", "steps", "target")
    direction: Direction
    current: int
    target: int
    steps: tuple[PlanStep, ...]

    def __init__(
        self, direction: Direction, current: int, target: int, steps: tuple[PlanStep, ...]
    ) -> None:
        self._set(direction, current, target, steps)

    @property
    def nothing_to_do(self) -> bool:
        return not self.steps


class Planner:
    """Plans for the migrations of one registry."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def check_target(self, target: int | None) -> int:
        """``target`` as a version that exists (None: the latest); ``InvalidTargetError`` else."""
        latest = self.registry.latest_version
        if target is None:
            return latest
        if isinstance(target, bool) or not isinstance(target, int):
            raise InvalidTargetError(f"Target version {target!r} is not a whole number.")
        if target < 0:
            raise InvalidTargetError(
                f"Target version {target} is negative; use 0 for an empty schema or 1..{latest}."
            )
        if target > latest:
            raise InvalidTargetError(
                f"There is no migration {target}: the latest version is {latest}; "
                f"choose a target between 0 and {latest}."
            )
        return target

    def plan(
        self,
        applied: Mapping[int, AppliedRow],
        target: int,
        reversible_of: Callable[[int], bool] | None = None,
    ) -> Plan:
        """Steps from the applied set to ``target`` (up when ``target`` is not below the current
        version). ``reversible_of`` asks the code, not the bookkeeping, because a down may have
        been added or removed since the version was applied; the default reads only file
        headers (no migration is imported), for display."""
        if reversible_of is None:
            reversible_of = self.header_reversible
        registry = self.registry
        unknown = sorted(v for v in applied if v not in registry)
        if unknown:
            raise SchemaMismatchError(
                f"The database is ahead of the code: version(s) {_join(unknown)} are applied but "
                "unknown to these migrations; deploy the code that has them, or roll back with it."
            )
        current = max(applied, default=0)
        stray = [v for v in registry.versions if v < current and v not in applied]
        if stray:
            raise SchemaMismatchError(
                f"Version(s) {_join(stray)} are pending below applied version {current}; the "
                "database was migrated with different code. Run verify and repair by hand."
            )
        if target >= current:
            ups = tuple(
                PlanStep("up", v, registry.name_of(v), reversible_of(v))
                for v in range(current + 1, target + 1)
            )
            return Plan("up", current, target, ups)
        downs = tuple(
            PlanStep("down", v, applied[v].name, reversible_of(v))
            for v in range(current, target, -1)
        )
        return Plan("down", current, target, downs)

    def plan_run(
        self, applied: Mapping[int, AppliedRow], target: int, direction: Direction | None = None
    ) -> Plan:
        """The plan a run (or a rehearsal of it) executes: every migration in it is loaded now,
        so a broken file fails before anything changes; a plan going the other way than
        ``direction`` (None: either) is refused, and so is a rollback across an irreversible
        migration."""
        plan = self.plan(applied, target, lambda v: self.registry.get(v).reversible)
        if plan.steps and direction is not None and plan.direction != direction:
            if direction == "up":
                raise InvalidTargetError(
                    f"Version {target} is below the current version {plan.current}; use rollback "
                    "to go down."
                )
            raise InvalidTargetError(
                f"Version {target} is above the current version {plan.current}; "
                "use migrate to go up."
            )
        if plan.direction == "down":
            self.refuse_irreversible(plan.steps)
        return plan

    def header_reversible(self, version: int) -> bool:
        return self.registry.header_of(version)[1]

    @staticmethod
    def refuse_irreversible(steps: Sequence[PlanStep]) -> None:
        """``IrreversibleMigrationError`` naming the steps that have no down, if any."""
        blocked = [s for s in steps if not s.reversible]
        if blocked:
            names = ", ".join(f"{s.version:04d}_{s.name}" for s in blocked)
            lowest_ok = max(s.version for s in blocked)
            raise IrreversibleMigrationError(
                f"Cannot roll back across irreversible migration(s) {names}; nothing was changed. "
                f"The lowest reachable version is {lowest_ok}."
            )


def _join(versions: Sequence[int]) -> str:
    return ", ".join(str(v) for v in versions)
