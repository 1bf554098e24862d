"""Rollback choices derived from the engine's down plan (pure functions)."""

from __future__ import annotations

from console.formatting import display_path, format_applied_at, format_duration
from console.plans import (
    irreversible,
    lowest_reachable,
    preselected_target,
    rollback_targets,
    steps_to_undo,
)
from engine import PlanStep

DOWN_FROM_4 = [
    PlanStep("down", 4, "d"),
    PlanStep("down", 3, "c", reversible=False),
    PlanStep("down", 2, "b"),
    PlanStep("down", 1, "a"),
]


def test_targets_are_the_applied_versions_below_the_top_and_0() -> None:
    assert rollback_targets(DOWN_FROM_4) == [3, 2, 1, 0]
    assert rollback_targets([PlanStep("down", 1, "a")]) == [0]
    assert rollback_targets([]) == []


def test_preselection_follows_the_cursor_row() -> None:
    targets = [3, 2, 1, 0]
    assert preselected_target(targets, 2) == 2
    assert preselected_target(targets, 4) == 3  # the current version: one below it
    assert preselected_target(targets, 9) == 3  # a pending row: the nearest target below
    assert preselected_target(targets, None) == 3


def test_steps_to_undo_are_newest_first_and_stop_at_the_target() -> None:
    assert [s.version for s in steps_to_undo(DOWN_FROM_4, 1)] == [4, 3, 2]
    assert steps_to_undo(DOWN_FROM_4, 4) == []


def test_irreversible_steps_and_the_lowest_reachable_version() -> None:
    assert [s.version for s in irreversible(steps_to_undo(DOWN_FROM_4, 1))] == [3]
    assert irreversible(steps_to_undo(DOWN_FROM_4, 3)) == []
    assert lowest_reachable(DOWN_FROM_4) == 3


def test_formatting_of_times_durations_and_paths() -> None:
    assert format_applied_at("2026-11-26T03:35:10.123Z") == "2026-11-26 03:35"
    assert format_applied_at(None) == ""
    assert format_duration(3.21) == "3.2 ms"
    assert format_duration(120.4) == "120 ms"
    assert format_duration(2500) == "2.5 s"
    assert display_path("metadata.db") == "metadata.db"
    long = "/srv/" + "x" * 80 + "/metadata.db"
    assert display_path(long).startswith("…") and display_path(long).endswith("metadata.db")
    assert len(display_path(long)) == 48
