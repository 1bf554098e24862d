"""The readiness panel at 80x24: READY/PENDING at a glance, ERROR's first problem whole, details
on a key, and every change of readiness written to the log."""

from __future__ import annotations

import sqlite3

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.screens import ReadinessScreen
from console.widgets import ReadinessPanel
from tests.console.conftest import DB, make_console, migrate, settle, wait_until


def drift() -> None:
    """A table made by hand, outside the migrations (another connection)."""
    conn = sqlite3.connect(DB)
    conn.execute("CREATE TABLE hotfix (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()


def panel_scroll(app) -> VerticalScroll:  # type: ignore[no-untyped-def]
    return app.query_one(ReadinessPanel).query_one(VerticalScroll)


async def test_pending_fits_the_panel_without_scrolling_at_80x24() -> None:
    migrate(2)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.query_one(ReadinessPanel).status == "pending"
        assert panel_scroll(app).max_scroll_y == 0


async def test_ready_fits_the_panel_without_scrolling_at_80x24() -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.query_one(ReadinessPanel).status == "ready"
        assert panel_scroll(app).max_scroll_y == 0


async def test_in_error_the_first_problem_is_readable_at_once() -> None:
    migrate()
    drift()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        panel = app.query_one(ReadinessPanel)
        assert panel.status == "error" and panel.deployment is not None
        problem = panel.deployment.problems[0]
        details = panel.query_one("#details", Static)
        assert str(details.render()).startswith(problem)
        scroll = panel_scroll(app)
        wrapped = Text(problem).wrap(app.console, details.content_region.width)
        assert scroll.scroll_y == 0 and len(wrapped) <= scroll.size.height


async def test_d_shows_every_check_and_problem() -> None:
    migrate()
    drift()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReadinessScreen)
        text = str(screen.query_one("#checks-text", Static).render())
        deployment = app.query_one(ReadinessPanel).deployment
        assert deployment is not None and deployment.verification is not None
        for check in deployment.verification.checks:
            assert check.title in text
        assert deployment.problems[0] in " ".join(text.split())
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ReadinessScreen)


async def test_a_change_of_readiness_is_written_to_the_log_with_what_changed() -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.query_one(ReadinessPanel).status == "ready"
        drift()  # another connection changes the schema by hand
        assert await wait_until(pilot, lambda: app.query_one(ReadinessPanel).status == "error")
        await settle(pilot)
        lines = app.log_widget.lines_plain
        deployment = app.query_one(ReadinessPanel).deployment
        assert deployment is not None
        assert any("Readiness: READY → ERROR" in line for line in lines)
        assert any(deployment.problems[0] in line for line in lines)
