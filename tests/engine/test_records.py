"""The engine's value records behave as the frozen dataclasses they replaced."""

from __future__ import annotations

import pytest

from engine.backends.base import ConnectOptions
from engine.models import PlanStep
from engine.records import FrozenRecordError


def test_records_are_equal_by_value_and_hash_alike() -> None:
    assert PlanStep("up", 1, "a") == PlanStep("up", 1, "a", reversible=True)
    assert PlanStep("up", 1, "a") != PlanStep("down", 1, "a")
    assert len({PlanStep("up", 1, "a"), PlanStep("up", 1, "a")}) == 1


def test_a_record_refuses_assignment_and_replace_makes_a_changed_copy() -> None:
    options = ConnectOptions(busy_timeout=2.0)
    with pytest.raises(FrozenRecordError):
        options.read_only = True  # type: ignore[misc]
    changed = options.replace(read_only=True)
    assert (options.read_only, changed.read_only, changed.busy_timeout) == (False, True, 2.0)
    with pytest.raises(TypeError, match="no field 'nope'"):
        options.replace(nope=1)


def test_repr_and_as_dict_name_the_fields_in_order() -> None:
    step = PlanStep("down", 3, "drop_c", reversible=False)
    assert repr(step) == "PlanStep(direction='down', version=3, name='drop_c', reversible=False)"
    assert step.to_dict() == {
        "direction": "down",
        "version": 3,
        "name": "drop_c",
        "reversible": False,
    }
