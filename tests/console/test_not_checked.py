"""A check that could not be made shows as "not checked", in a neutral style: never as ✓ (a pass)
nor ✗ (a failure), in the readiness panel, the details screen (d) and Verify's log."""

from __future__ import annotations

import sqlite3

from rich.text import Text

from console.screens import ReadinessScreen
from console.widgets import ReadinessPanel
from console.widgets.readiness_panel import render_details, render_summary
from engine import DeploymentManager, DeploymentStatus, MigrationManager
from tests.console.conftest import DB, MIGRATIONS, make_console, migrate, settle

DRIFT = "Live schema matches the recorded one"


def _nothing_recorded() -> None:
    """Every migration applied, but no schema recorded to compare with (an older engine)."""
    migrate()
    conn = sqlite3.connect(DB)
    conn.execute("UPDATE schema_migrations SET fingerprint = NULL, schema_facts = NULL")
    conn.commit()
    conn.close()


def _deployment() -> DeploymentStatus:
    return DeploymentManager(MigrationManager(DB, MIGRATIONS)).status()


def _line_with(text: Text, words: str) -> Text:
    """The line of ``text`` that holds ``words``, with its styles."""
    return next(line for line in text.split("\n") if words in line.plain)


def _is_neutral(line: Text) -> bool:
    styles = {str(span.style) for span in line.spans}
    return bool(styles) and styles <= {"dim"}


def test_the_engine_reports_the_drift_check_as_not_checked() -> None:
    _nothing_recorded()
    deployment = _deployment()
    assert deployment.verification is not None
    assert deployment.verification.check("schema_drift").status == "not checked"
    assert deployment.status == "ready"  # no failure either


def test_the_panel_lists_a_check_that_could_not_run_as_not_checked_in_a_neutral_style() -> None:
    _nothing_recorded()
    summary = render_summary(_deployment())
    line = _line_with(summary, DRIFT)
    assert line.plain == f"- not checked: {DRIFT}"
    assert _is_neutral(line)
    assert "✗" not in summary.plain
    assert "all 6 checks pass" not in summary.plain
    assert "5 of 6 checks pass" in summary.plain


def test_the_details_mark_a_check_that_could_not_run_neither_pass_nor_fail() -> None:
    _nothing_recorded()
    line = _line_with(render_details(_deployment()), DRIFT)
    assert line.plain.startswith(f"- {DRIFT} (not checked: no schema recorded for version 4")
    assert "✓" not in line.plain and "✗" not in line.plain
    assert _is_neutral(line)


async def test_verify_logs_not_checked_and_says_so_in_the_verdict() -> None:
    _nothing_recorded()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.query_one(ReadinessPanel).status == "ready"
        await pilot.press("v")
        await settle(pilot)
        lines = [line.split(" ", 1)[1] for line in app.log_widget.lines_plain]
        drift = [line for line in lines if DRIFT in line]
        assert len(drift) == 1 and drift[0].startswith(f"- {DRIFT} (not checked: ")
        assert lines[-1] == "Verify: no problems, 1 check not checked; READY."
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ReadinessScreen)


def test_a_verdict_without_checks_says_not_checked_in_a_neutral_style() -> None:
    deployment = DeploymentStatus("error", 0, 4, 0, 0, False, [], ["The file is locked."], None)
    assert _is_neutral(_line_with(render_summary(deployment), "not checked"))
    assert _is_neutral(_line_with(render_details(deployment), "not checked"))
