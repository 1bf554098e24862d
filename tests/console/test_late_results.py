"""A worker's result that arrives after its dialog was dismissed, or after quit, is not applied."""

from __future__ import annotations

from console.messages import ImpactLoaded, LogEntry, PlanRefreshed, ReadinessLoaded, post
from console.screens import RollbackScreen
from console.service import Outcome
from tests.console.conftest import make_console, migrate, open_dialog, settle


async def test_a_result_queued_as_its_dialog_is_dismissed_is_not_applied() -> None:
    """The dialog leaves the screen stack at once; the messages already queued for it are
    still handled until it unmounts: its handlers let them go."""
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_dialog(pilot, "r", RollbackScreen)
        screen.post_message(PlanRefreshed(Outcome(error="The server went away.")))
        screen.dismiss(None)
        await settle(pilot)
        assert not any("went away" in line for line in app.log_widget.lines_plain)


async def test_a_dismissed_dialog_takes_no_more_results() -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_dialog(pilot, "r", RollbackScreen)
        # A measure for a version the database is no longer at: posted, and then ignored.
        assert post(screen, ImpactLoaded(screen.target, -1, Outcome()))
        await pilot.press("escape")
        assert not post(screen, ImpactLoaded(screen.target, -1, Outcome()))
        await settle(pilot)
        assert not post(screen, ImpactLoaded(screen.target, -1, Outcome()))


async def test_after_quit_no_result_is_posted_to_the_app() -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert post(app, LogEntry("before quitting"))
        await pilot.press("q")
        assert not post(app, LogEntry("after quitting"))
    assert app.return_code == 0


async def test_a_result_the_app_handles_while_shutting_down_is_let_go() -> None:
    """Closing, the app removes its widgets and still handles what was queued: a readiness
    verdict read just before then must not reach for the panel that has gone."""
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        deployment = app.deployment
        assert deployment is not None
    message = ReadinessLoaded(deployment, "watch")
    app.on_readiness_loaded(message)  # no NoMatches: nothing is applied
    assert message._stop_propagation
