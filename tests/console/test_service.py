"""EngineService and LoadRequests: the console's thread side, without a screen."""

from __future__ import annotations

from pathlib import Path

from console.service import EngineService, LoadRequests, RunRequest
from engine import ConcurrentChangeError, InvalidTargetError
from tests.console.conftest import DB, MIGRATIONS, migrate, user_version


def test_attempt_turns_an_engine_error_into_its_sentence() -> None:
    def refuse() -> None:
        raise InvalidTargetError("There is no migration 9.")

    outcome = EngineService.attempt(refuse)
    assert outcome.value is None and outcome.error == "There is no migration 9."


def test_attempt_turns_a_bug_into_a_sentence_that_says_it_is_one() -> None:
    outcome = EngineService.attempt(lambda: 1 // 0)
    assert outcome.error is not None
    assert outcome.error.startswith("Unexpected error (a bug, please report it): ZeroDivisionError")


def test_a_run_carries_the_version_its_plan_was_shown_for(db: Path) -> None:
    migrate(2)
    service = EngineService(DB, MIGRATIONS)
    outcome = service.attempt(lambda: service.run(RunRequest("down", 0, 1), lambda _: None))
    assert outcome.error == str(
        ConcurrentChangeError(
            "The database is now at version 2, not 1 as planned (another runner changed it); "
            "nothing was changed. Look at the new plan and confirm again."
        )
    )
    assert user_version() == 2


def test_loads_asked_for_during_a_load_are_merged_into_one() -> None:
    loads = LoadRequests()
    assert loads.add("open") is True  # start the worker
    assert loads.take() == "open"
    assert loads.add("external") is False  # the worker is busy: it will run one more
    assert loads.add("external") is False
    assert loads.take() == "external"
    assert loads.take() is None  # nothing waits: the worker ends
    assert loads.add("refresh") is True
    assert loads.started == 2


def test_a_poll_never_swallows_a_verify_that_waits() -> None:
    loads = LoadRequests()
    loads.add("open")
    loads.take()
    loads.add("verify")
    loads.add("external")
    assert loads.take() == "verify"
