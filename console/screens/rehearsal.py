"""RehearsalScreen: what a rehearsal of the plan did, step by step; nothing of it was kept.

Shown over the migrate or rollback modal after its Rehearse button; it only reports.
``Rehearsable`` is the base of those modals: it owns the rehearsal worker and its result. Escape,
Enter or the Close button go back to that modal (focus on its Cancel button), which still waits
for its own confirmation.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from console.formatting import format_duration, migration_label
from console.messages import LogEntry, RehearsalDone, post, result_handler
from console.service import Outcome, service_of
from engine import RehearsalReport

#: How a step's status reads (with a symbol, so it reads without colour).
STATUS: dict[str, tuple[str, str]] = {
    "ok": ("✓ ok", "green"),
    "failed": ("✗ failed", "bold red"),
    "not_run": ("· not run", "dim"),
}
#: Longest SQL line shown; the rest is cut with an ellipsis.
SQL_WIDTH = 200


ResultT = TypeVar("ResultT")


class Rehearsable(ModalScreen[ResultT]):
    """A confirm modal with a Rehearse button (``#rehearse``) beside its confirm button.

    Pressing it starts this screen's rehearsal worker; the result comes back to this screen
    (shown over it) and, as a line, to the activity log, even when the modal was closed
    meanwhile. The button is never disabled while it has focus (Textual would move focus on,
    possibly to the confirm button); presses during a rehearsal are ignored instead. When the
    report closes, focus goes back to Cancel, so a stray Enter still cancels.
    """

    rehearsing = False
    #: "migrate" or "rollback": how the log names what is rehearsed.
    REHEARSAL_VERB = "migrate"

    def request_rehearsal(self, target: int) -> None:
        if self.rehearsing:
            return
        self.rehearsing = True
        self.query_one("#rehearse", Button).label = "Rehearsing…"
        self.post_message(
            LogEntry(f"Rehearsing {self.REHEARSAL_VERB} to {target}; nothing will be kept…")
        )
        self._rehearse(self.app, target)

    @work(thread=True, exclusive=True, group="rehearse", exit_on_error=False)
    def _rehearse(self, app: App[object], target: int) -> None:
        service = service_of(app)
        outcome = service.attempt(lambda: service.rehearse(target))
        # The log hears of it even when this modal has closed; the report goes to this modal.
        post(app, rehearsal_log_entry(self.REHEARSAL_VERB, target, outcome))
        post(self, RehearsalDone(target, outcome))

    @result_handler
    def on_rehearsal_done(self, message: RehearsalDone) -> None:
        message.stop()
        self.rehearsal_finished()
        if message.outcome.value is not None and self.app.screen is self:
            self.show_rehearsal(message.outcome.value)

    def rehearsal_finished(self) -> None:
        self.rehearsing = False
        self.query_one("#rehearse", Button).label = "Rehearse"

    def show_rehearsal(self, report: RehearsalReport) -> None:
        """Show ``report`` over this modal; back here with focus on Cancel."""
        self.app.push_screen(RehearsalScreen(report), lambda _: self._focus_cancel())

    def _focus_cancel(self) -> None:
        self.query_one("#cancel", Button).focus()


def rehearsal_log_entry(verb: str, target: int, outcome: Outcome[RehearsalReport]) -> LogEntry:
    """The activity log's line for a finished rehearsal (a toast too when it could not run)."""
    report = outcome.value
    if report is None:
        error = outcome.error or "The rehearsal failed."
        return LogEntry(f"Rehearsal: {error}", "error", toast="Rehearsal failed")
    count = len(report.steps)
    what = "migrate" if report.direction == "up" else "rollback"
    head = f"Rehearsal of {what} to {report.target_version}"
    if report.ok:
        return LogEntry(
            f"{head}: all {count} step{'s' if count != 1 else ''} would succeed "
            f"({format_duration(report.duration_ms)}); nothing was kept.",
            "success",
        )
    failed = report.failed_step
    label = migration_label(failed.version, failed.name) if failed else "a step"
    return LogEntry(f"{head}: {label} would fail: {failed.error if failed else ''}", "error")


class RehearsalScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("enter", "close", "Close", show=False),
    ]
    #: The report has focus, so ↑ ↓ scroll it at once; Escape or Enter closes.
    AUTO_FOCUS = "#report"

    def __init__(self, report: RehearsalReport) -> None:
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        report = self.report
        verb = "migrate" if report.direction == "up" else "rollback"
        with Vertical(id="dialog"):
            yield Label(
                f"Rehearsal of {verb} {report.from_version} → {report.target_version}",
                classes="title",
            )
            yield Static(render_verdict(report), id="verdict")
            with VerticalScroll(id="report"):
                yield Static(render_report(report), id="steps")
            with Horizontal(id="buttons"):
                yield Label("esc or enter closes · ↑ ↓ scroll", classes="hint")
                yield Button("Close", id="close", compact=True)

    def on_mount(self) -> None:
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """The report scrolls; the title, verdict and Close button always stay on screen."""
        report = self.query_one("#report", VerticalScroll)
        report.styles.max_height = max(3, self.size.height - 10)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


def render_verdict(report: RehearsalReport) -> Text:
    where = (
        "in a transaction that was rolled back"
        if report.mode == "transaction"
        else "on a throw-away copy"
    )
    text = Text()
    count = len(report.steps)
    if report.nothing_to_do:
        text.append("Nothing to run: the plan is empty.")
    elif report.ok:
        text.append(
            f"✓ All {count} step{'s' if count != 1 else ''} would succeed", style="bold green"
        )
        text.append(f" ({format_duration(report.duration_ms)}).")
    else:
        failed = report.failed_step
        label = migration_label(failed.version, failed.name) if failed else "a step"
        text.append(f"✗ {label} would fail.", style="bold red")
    text.append(f"\nRun {where}: the database file was not changed.", style="dim")
    return text


def render_report(report: RehearsalReport) -> Group:
    """Per step: direction, version and name, status, time, rows changed, SQL; then the SQL.

    A rollback's report also says, per step, the rows it destroys ("Lost", measured like the
    rollback impact, so the two agree): DROP TABLE changes no rows, yet loses them all.
    """
    down = report.direction == "down"
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)  # direction
    table.add_column(no_wrap=True, overflow="ellipsis", ratio=1)  # migration
    table.add_column(no_wrap=True)  # status
    table.add_column(no_wrap=True, justify="right")  # time
    table.add_column(no_wrap=True, justify="right")  # rows
    table.add_column(no_wrap=True, justify="right")  # statements
    headers = ["", "Step", "Result", "Time", "Rows", "SQL"]
    if down:
        table.add_column(no_wrap=True, justify="right")  # rows lost
        headers.append("Lost")
    table.add_row(*(Text(h, style="bold") for h in headers))
    details: list[Text | Padding] = []
    for step in report.steps:
        label, style = STATUS.get(step.status, (step.status, ""))
        ran = step.status != "not_run"
        cells: list[Text | str] = [
            Text(step.direction, style="green" if step.direction == "up" else "red"),
            migration_label(step.version, step.name),
            Text(label, style=style),
            format_duration(step.duration_ms) if ran else "",
            f"{step.rows_changed:,}" if ran else "",
            str(len(step.sql)) if ran else "",
        ]
        if down:
            lost = step.rows_lost if ran else 0
            cells.append(Text(f"{lost:,}" if ran else "", style="bold red" if lost else ""))
        table.add_row(*cells)
        if step.error:
            table.add_row("", Text(step.error, style="red"), *[""] * (len(headers) - 2))
        if step.sql:
            details.append(Text(migration_label(step.version, step.name), style="bold"))
            for statement in step.sql:
                details.append(Padding(Text(one_line(statement), style="dim"), (0, 0, 0, 2)))
    parts: list[Table | Text | Padding] = [table]
    if details:
        parts.append(Text("\nSQL run, per step:", style="bold"))
        parts.extend(details)
    return Group(*parts)


def one_line(sql: str, width: int = SQL_WIDTH) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 1] + "…"
