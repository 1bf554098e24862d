"""ReadinessPanel: the deployment gate's verdict (READY / PENDING / ERROR) and every check."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from console.widgets.text import set_text
from engine import DeploymentStatus

BADGES: dict[str, str] = {
    "ready": "✓ READY",
    "pending": "○ PENDING",
    "error": "✗ ERROR",
    "loading": "… CHECKING",
    "running": "▶ RUNNING",
}


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

    def show(self, deployment: DeploymentStatus) -> None:
        self.deployment = deployment
        self._set_badge(deployment.status)
        self._set_details(render_details(deployment))

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
        text.append("not checked\n", style="red")
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
        if check.passed:
            text.append("✓ ", style="green")
        else:
            text.append("✗ ", style="bold red")
        text.append(f"{check.title}\n")
        for problem in check.problems:
            text.append(f"  {problem}\n", style="red")
    text.rstrip()
    return text
