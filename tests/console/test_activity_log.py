"""The activity log shows every line whole, and always its newest line unless scrolled up."""

from __future__ import annotations

from textual.command import CommandList

from console.widgets import ActivityLog
from tests.console.conftest import make_console, migrate, settle, wait_until


def fits(log: ActivityLog) -> bool:
    width = log.scrollable_content_region.width
    return all(len(strip.text.rstrip()) <= width for strip in log.lines)


def at_end(log: ActivityLog) -> bool:
    return log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y


async def test_lines_written_as_the_scrollbar_appears_keep_their_last_character() -> None:
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        log = app.log_widget
        for n in range(12):
            log.info(f"Line {n}: Code and database agree on every migration, {'x' * n}.")
            await pilot.pause()
        assert log.max_scroll_y > 0  # the scrollbar is there
        assert fits(log)


async def test_new_lines_show_after_a_palette_action() -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Verify")
        await settle(pilot)  # the palette's search
        assert await wait_until(pilot, lambda: app.screen.query_one(CommandList).option_count > 0)
        await pilot.press("enter")
        await settle(pilot)
        log = app.log_widget
        assert await wait_until(pilot, lambda: log.lines_plain[-1].endswith("READY."))
        await settle(pilot)
        assert at_end(log), (
            log.scroll_y,
            log.max_scroll_y,
            log.following,
            log.size,
            log.virtual_size,
            log.scrollable_content_region,
            log.show_vertical_scrollbar,
        )


async def test_new_lines_show_during_a_run() -> None:
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("tab", "enter")
        assert await wait_until(pilot, lambda: not app.running)
        await settle(pilot)
        assert at_end(app.log_widget)


async def test_a_log_scrolled_up_by_the_operator_stays_where_it_is() -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        log = app.log_widget
        log.focus()
        await pilot.press("home")
        await pilot.pause()
        assert log.scroll_y == 0
        await pilot.press("f5")
        await settle(pilot)
        assert log.scroll_y == 0
