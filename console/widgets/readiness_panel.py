"""ReadinessPanel: the deployment gate's verdict (READY / PENDING / ERROR) at a glance.

READY and PENDING fit without scrolling at 80x24 (counts, one line for the checks, what to do);
in ERROR the first problem comes right under the badge, whole. Every check and problem is one
key away (``d``: the details screen, ``render_details``).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from console.widgets.text import set_text
from engine import CheckResult, DeploymentStatus

BADGES: dict[str, str] = {
    "ready": "✓ READY",
    "pending": "○ PENDING",
    "error": "✗ ERROR",
    "missing": "○ NO DATABASE",
    "loading": "… CHECKING",
    "running": "▶ RUNNING",
}


#: How a check's engine status (``CheckResult.status``) is marked: a check that could not be
#: made is "not checked", in a neutral style, never a pass or a failure.
CHECK_MARKS: dict[str, tuple[str, str]] = {
    "pass": ("✓", "green"),
    "FAIL": ("✗", "bold red"),
    "not checked": ("-", "dim"),
}


def not_checked(checks: list[CheckResult]) -> list[CheckResult]:
    return [check for check in checks if check.status == "not checked"]


class ReadinessPanel(Vertical):
    """The badge stays on top; the details below it scroll when the panel is small."""

    DEFAULT_CSS = """
    ReadinessPanel {
        height: 1fr;
    }
    ReadinessPanel #badge {
        width: 100%;
        height: 1;
        text-align: center;
        text-style: bold;
        background: $panel;
        color: $text;
    }
    ReadinessPanel #badge.-ready { background: $success; color: $text; }
    ReadinessPanel #badge.-pending { background: $warning; color: $background; }
    ReadinessPanel #badge.-missing { background: $warning; color: $background; }
    ReadinessPanel #badge.-error { background: $error; color: $text; }
    ReadinessPanel #badge.-running { background: $accent; color: $text; }
    ReadinessPanel VerticalScroll {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    ReadinessPanel #details {
        width: 100%;
        padding: 0 0 0 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.status: str = "loading"
        self.deployment: DeploymentStatus | None = None

    def compose(self) -> ComposeResult:
        yield Static(BADGES["loading"], id="badge")
        with VerticalScroll():
            yield Static("Reading the database…", id="details")

    def show(self, deployment: DeploymentStatus, *, read_only: bool = False) -> None:
        self.deployment = deployment
        self._set_badge(deployment.status)
        self._set_details(render_summary(deployment, read_only=read_only))

    def show_missing(self, deployment: DeploymentStatus, sentence: str) -> None:
        """No database file yet: what that means and what to do (nothing was created)."""
        self.deployment = deployment
        self._set_badge("missing")
        text = Text()
        text.append(sentence, style="yellow")
        text.append("\n")
        text.append_text(render_counts(deployment))
        text.append("\nChecks: not checked (no database)", style="dim")
        self._set_details(text)

    def show_run(self, current: int, latest: int, applied: int, pending: int) -> None:
        """During a run: where it is now, after each committed step (checks follow at the end)."""
        self._set_badge("running")
        text = Text()
        text.append("Version ", style="dim")
        text.append(f"{current} of {latest}", style="bold")
        text.append(" · ", style="dim")
        text.append(f"{pending} pending", style="yellow" if pending else "")
        text.append(" · ", style="dim")
        text.append(f"{applied} applied\n")
        text.append("The checks run again when the run ends.", style="dim")
        self._set_details(text)

    def show_error(self, message: str) -> None:
        self.deployment = None
        self._set_badge("error")
        self._set_details(Text(message, style="red"))

    def _set_details(self, text: Text) -> None:
        set_text(self.query_one("#details", Static), text)

    def _set_badge(self, status: str) -> None:
        self.status = status
        badge = self.query_one("#badge", Static)
        badge.update(BADGES.get(status, status.upper()))
        for name in BADGES:
            badge.set_class(name == status, f"-{name}")


def render_counts(deployment: DeploymentStatus) -> Text:
    text = Text()
    text.append("Version ", style="dim")
    text.append(f"{deployment.current_version} of {deployment.latest_version}", style="bold")
    text.append(" · ", style="dim")
    text.append(
        f"{deployment.pending_count} pending", style="yellow" if deployment.pending_count else ""
    )
    text.append(" · ", style="dim")
    text.append(f"{deployment.applied_count} applied")
    return text


def render_summary(deployment: DeploymentStatus, *, read_only: bool = False) -> Text:
    """The panel's few lines: in ERROR the first problem first; the counts; the checks in one
    line (the failed ones by name); what to do (read-only: no key that does nothing there);
    where the details are."""
    checks = deployment.verification.checks if deployment.verification else []
    failed = [check for check in checks if check.status == "FAIL"]
    unchecked = not_checked(checks)
    text = Text()
    if deployment.status == "error" and deployment.problems:
        text.append(deployment.problems[0], style="bold red")
        text.append("\n")
    text.append_text(render_counts(deployment))
    text.append("\n")
    if deployment.verification is None:
        text.append("Checks: not checked", style="dim")
    elif not failed:
        text.append("✓ ", style="green")
        passed = len(checks) - len(unchecked)
        text.append(
            f"{passed} of {len(checks)} checks pass" if unchecked else f"all {passed} checks pass"
        )
    else:
        text.append(f"✗ {len(failed)} of {len(checks)} checks fail:", style="bold red")
        for check in failed:
            text.append(f"\n  {check.title}", style="red")
    for check in unchecked:
        text.append(f"\n- not checked: {check.title}", style="dim")
    if deployment.status == "pending":
        count = deployment.pending_count
        todo = "open without --read-only to migrate" if read_only else "m migrates"
        text.append(
            f"\n{count} migration{'s' if count != 1 else ''} pending: {todo}.", style="yellow"
        )
    text.append("\nd: every check and problem", style="dim")
    return text


def render_details(deployment: DeploymentStatus) -> Text:
    """Counts first, then the gate's own sentence, then every check with its problems."""
    text = Text()
    text.append("Version ", style="dim")
    text.append(f"{deployment.current_version} of {deployment.latest_version}", style="bold")
    text.append(" · ", style="dim")
    text.append(
        f"{deployment.pending_count} pending", style="yellow" if deployment.pending_count else ""
    )
    text.append(" · ", style="dim")
    text.append(f"{deployment.applied_count} applied\n")
    text.append("Schema  ", style="dim")
    if deployment.verification is None:
        text.append("not checked\n", style="dim")
    elif deployment.schema_valid:
        text.append("✓ valid\n", style="green")
    else:
        text.append("✗ invalid\n", style="bold red")
    check_problems = set(deployment.verification.problems) if deployment.verification else set()
    for problem in deployment.problems:
        if problem not in check_problems:
            style = "yellow" if deployment.status == "pending" else "red"
            text.append(f"{problem}\n", style=style)
    checks = deployment.verification.checks if deployment.verification else []
    for check in checks:
        mark, style = CHECK_MARKS[check.status]
        text.append(f"{mark} ", style=style)
        text.append(check.title)
        if check.status == "not checked":
            text.append(f" ({check.detail or 'not checked'})", style="dim")
        text.append("\n")
        for problem in check.problems:
            text.append(f"  {problem}\n", style="red")
    text.rstrip()
    return text
