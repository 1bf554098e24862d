"""ConfirmMigrateScreen: the exact plan and the target database, confirmed or cancelled.

When there is no database yet, it says that confirming creates it (nothing else does).
Focus starts on Cancel, so a stray Enter cancels; Escape cancels; nothing is written until the
operator presses Migrate. The screen returns a ``RunRequest`` carrying the version the plan on
screen was made for, so the engine refuses the run if the database moved after the last look.
While open it follows the database: when another connection changes it, the plan is read again
and, if it changed, shown anew with focus back on Cancel (and the log says why). Rehearse runs
the plan and rolls it back, then shows the report; it never confirms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Label, Static

from console.formatting import migration_label
from console.messages import LogEntry, PlanRefreshed, post, result_handler
from console.screens.focus_order import FocusOrder
from console.screens.rehearsal import Rehearsable
from console.service import MigratePlan, RunRequest, service_of
from console.widgets.text import set_text
from engine import PlanStep

#: The dialog's keys, in the order Tab visits them from Cancel (``FOCUS_ORDER``).
KEYS = "tab: Migrate → plan (↑ ↓ scroll) → Rehearse → Cancel · esc cancels"


class ConfirmMigrateScreen(FocusOrder[RunRequest | None], Rehearsable[RunRequest | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#cancel"
    FOCUS_ORDER = ("rehearse", "cancel", "confirm", "plan")
    REHEARSAL_VERB = "migrate"

    def __init__(self, plan: MigratePlan, *, database: str) -> None:
        super().__init__()
        self.plan = plan
        self.database = database
        #: The database changed and the plan is being read again: confirming waits for it.
        self.checking = False

    @property
    def steps(self) -> list[PlanStep]:
        return self.plan.steps

    @property
    def current_version(self) -> int:
        return self.plan.current_version

    @property
    def target_version(self) -> int:
        return self.plan.latest_version

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Migrate to latest", classes="title")
            yield Static(id="summary")
            with VerticalScroll(id="plan"):
                yield Static(id="plan-steps")
            yield Label(KEYS, classes="keys")
            with Horizontal(id="buttons", classes="-after-keys"):
                # Tab from Cancel reaches the confirm button, as before; Rehearse is one back.
                yield Button("Rehearse", id="rehearse", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("", id="confirm", variant="warning", compact=True)

    def on_mount(self) -> None:
        self._show_plan()
        self.watch(self.app, "external_changes", self._database_changed, init=False)

    def _show_plan(self) -> None:
        count = len(self.steps)
        summary = Text()
        summary.append("Database  ", style="dim")
        summary.append(self.database, style="bold")
        if self.plan.creates_database:
            summary.append("\nNew       ", style="dim")
            summary.append("there is no database yet: this migrate creates it", style="yellow")
        summary.append("\nVersion   ", style="dim")
        summary.append(f"{self.current_version} → {self.target_version}", style="bold")
        if count:
            summary.append(f"\nApplies {count} migration{'s' if count != 1 else ''}, oldest first:")
        else:
            summary.append("\nNothing to migrate now: the database is at the latest version.")
        set_text(self.query_one("#summary", Static), summary)
        set_text(self.query_one("#plan-steps", Static), render_plan(self.steps))
        confirm = self.query_one("#confirm", Button)
        confirm.label = f"Migrate to {self.target_version}"
        confirm.disabled = not self.steps
        self.query_one("#rehearse", Button).display = bool(self.steps)

    # -- following the database ---------------------------------------------------------------

    def _database_changed(self) -> None:
        self.checking = True
        self._replan()

    @work(thread=True, exclusive=True, group="replan", exit_on_error=False)
    def _replan(self) -> None:
        service = service_of(self.app)
        post(self, PlanRefreshed(service.attempt(service.migrate_plan)))

    @result_handler
    def on_plan_refreshed(self, message: PlanRefreshed) -> None:
        message.stop()
        plan = message.outcome.value
        if not isinstance(plan, MigratePlan):
            self.post_message(
                LogEntry(
                    f"The database changed, and the plan could not be read again: "
                    f"{message.outcome.error} Cancel and open the dialog again.",
                    "error",
                )
            )
            return  # still checking: Migrate stays refused
        old, self.plan = self.plan, plan
        self.checking = False
        if old == plan:
            return
        self.query_one("#cancel", Button).focus()
        self._show_plan()
        left = (
            f"{len(plan.steps)} migration(s) to apply now" if plan.steps else "nothing to apply now"
        )
        self.post_message(
            LogEntry(
                "The database changed while the migrate dialog was open (version "
                f"{old.current_version} → {plan.current_version}): the plan was read again, "
                f"{left}.",
                "warning",
            )
        )

    # -- buttons ------------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "rehearse":
            if self.steps:
                self.request_rehearsal(self.target_version)
        elif event.button.id == "confirm":
            if self.checking or not self.steps:
                self.app.bell()  # the plan on screen may be out of date: look again first
                return
            self.dismiss(RunRequest("up", self.target_version, self.current_version))
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def render_plan(steps: Sequence[PlanStep]) -> Text:
    text = Text()
    for index, step in enumerate(steps):
        if index:
            text.append("\n")
        text.append("up  ", style="green")
        text.append(migration_label(step.version, step.name))
        if not step.reversible:
            text.append("  (irreversible: no down)", style="yellow")
    return text
