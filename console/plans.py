"""Rollback choices derived from the engine's down plan (pure functions, no Textual).

The console asks the engine once for the plan down to 0 (newest first, with each migration's
``reversible`` flag); the plan to any higher target is a prefix of it.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine import MigrationStatus, PlanStep


def rollback_targets(full_down_plan: Sequence[PlanStep]) -> list[int]:
    """Versions a rollback can go to, highest first: each applied version below the top, and 0."""
    versions = sorted((step.version for step in full_down_plan), reverse=True)
    return [v for v in versions[1:]] + [0] if versions else []


def preselected_target(targets: Sequence[int], cursor_version: int | None) -> int:
    """The cursor row's version when it is a target, else the nearest target below it."""
    if not targets:
        return 0
    if cursor_version is None:
        return targets[0]
    below = [t for t in targets if t <= cursor_version]
    return max(below) if below else targets[-1]


def steps_to_undo(full_down_plan: Sequence[PlanStep], target: int) -> list[PlanStep]:
    """The migrations a rollback to ``target`` undoes, newest first."""
    steps = [step for step in full_down_plan if step.version > target]
    return sorted(steps, key=lambda step: step.version, reverse=True)


def irreversible(steps: Sequence[PlanStep]) -> list[PlanStep]:
    return [step for step in steps if not step.reversible]


def lowest_reachable(full_down_plan: Sequence[PlanStep]) -> int:
    """The lowest version a rollback can reach without crossing an irreversible migration."""
    blocked = [step.version for step in full_down_plan if not step.reversible]
    return max(blocked, default=0)


def current_version(statuses: Sequence[MigrationStatus]) -> int:
    return max((s.version for s in statuses if s.status != "pending"), default=0)
