"""RollbackScreen: the emergency rollback, guarded against slips.

The operator picks a target (applied versions below the current one, and 0; preselected from the
table's cursor row), sees the migrations that will be undone (newest first, irreversible ones
flagged), and must type the target version before the red button enables. A rollback that
would cross an irreversible migration is refused here (and again by the engine). Escape cancels;
Enter in the input only moves focus to the button, so a single stray Enter never rolls back.

It also shows what the rollback would destroy (the app measures it with
``manager.rollback_impact`` in a worker each time the target changes, and calls ``show_impact``)
and where the backup taken first goes. Rehearse runs the downs and rolls them back; it never
confirms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from console.formatting import migration_label
from console.messages import ImpactRequested
from console.plans import irreversible, lowest_reachable, rollback_targets, steps_to_undo
from console.screens.rehearsal import Rehearsable
from console.screens.typed_confirm import TypedConfirmScreen
from console.widgets.text import set_text
from engine import PlanStep, RollbackImpact


class RollbackScreen(Rehearsable[int | None], TypedConfirmScreen[int | None]):
    DEFAULT_CSS = """
    RollbackScreen {
        align: center middle;
    }
    RollbackScreen #dialog {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $error;
        background: $surface;
        padding: 0 1;
    }
    RollbackScreen .title {
        text-style: bold;
        color: $text-error;
        width: 100%;
    }
    RollbackScreen .row {
        height: 1;
        margin-top: 1;
    }
    RollbackScreen .row Label {
        width: auto;
        padding-right: 1;
    }
    RollbackScreen #target {
        width: 1fr;
    }
    RollbackScreen #typed {
        width: 12;
    }
    RollbackScreen #undo {
        height: auto;
        max-height: 6;
        min-height: 3;
        border: round $error 50%;
        padding: 0 1;
    }
    RollbackScreen #impact-box {
        height: auto;
        max-height: 4;
    }
    RollbackScreen #impact {
        height: auto;
    }
    RollbackScreen #impact.-loses-data {
        color: $text-error;
        text-style: bold;
    }
    RollbackScreen #impact.-would-fail {
        color: $text-warning;
        text-style: bold;
    }
    RollbackScreen #backup-line {
        height: auto;
        color: $text-muted;
    }
    RollbackScreen #refusal {
        color: $text-error;
        text-style: bold;
        height: auto;
    }
    RollbackScreen #buttons {
        height: 1;
        align-horizontal: right;
        margin-top: 1;
    }
    RollbackScreen Button { margin-left: 2; }
    RollbackScreen .hint { width: 1fr; color: $text-muted; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#typed"

    def __init__(
        self,
        full_down_plan: Sequence[PlanStep],
        *,
        database: str,
        current_version: int,
        preselect: int,
        backup_folder: str | None = None,
    ) -> None:
        """``backup_folder``: where the backup taken before the rollback goes (None: no backup)."""
        super().__init__()
        self.backup_folder = backup_folder
        #: The target the impact shown is for (None: still measuring).
        self.impact_target: int | None = None
        self.impact: RollbackImpact | None = None
        self.full_down_plan = list(full_down_plan)
        self.database = database
        self.current_version = current_version
        self.targets = rollback_targets(self.full_down_plan)
        self.target = preselect if preselect in self.targets else self.targets[0]

    # -- structure ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        names = {step.version: step.name for step in self.full_down_plan}
        options = [
            (f"{v} · {names[v]}" if v else "0 · empty schema (undo everything)", v)
            for v in self.targets
        ]
        with Vertical(id="dialog"):
            yield Label("⚠ Emergency rollback", classes="title")
            summary = Text()
            summary.append("Database  ", style="dim")
            summary.append(self.database, style="bold")
            summary.append("   current version ", style="dim")
            summary.append(str(self.current_version), style="bold")
            yield Static(summary, id="summary")
            with Horizontal(classes="row"):
                yield Label("Roll back to version")
                yield Select(
                    options, value=self.target, allow_blank=False, compact=True, id="target"
                )
            yield Static(id="undo-title")
            with VerticalScroll(id="undo"):
                yield Static(id="undo-steps")
            with VerticalScroll(id="impact-box"):
                yield Static(id="impact")
            yield Static(id="refusal")
            yield Static(backup_line(self.backup_folder), id="backup-line")
            with Horizontal(classes="row"):
                yield Label("", id="typed-label")
                yield Input(
                    placeholder="version",
                    restrict=r"[0-9]*",
                    max_length=9,
                    compact=True,
                    id="typed",
                )
            with Horizontal(id="buttons"):
                yield Label("esc cancels", classes="hint")
                # Tab from Cancel reaches the confirm button, as before; Rehearse is one back.
                yield Button("Rehearse", id="rehearse", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
                yield Button(
                    "Roll back", id="confirm", variant="error", compact=True, disabled=True
                )

    def on_mount(self) -> None:
        self._update()
        self._request_impact()

    def _request_impact(self) -> None:
        """Ask the app to measure the impact of the current target (shown by ``show_impact``)."""
        impact = self.query_one("#impact", Static)
        impact.remove_class("-loses-data", "-would-fail")
        self.impact_target = None
        self.impact = None
        if self.blocked or not self.steps:
            set_text(impact, "")
            impact.display = False
            return
        impact.display = True
        set_text(impact, Text("Measuring what this rollback would destroy…", style="italic"))
        self.post_message(ImpactRequested(self.target))

    def show_impact(
        self, target: int, impact: RollbackImpact | None, error: str | None = None
    ) -> None:
        """The app's answer to ``ImpactRequested``; ignored when the target changed meanwhile."""
        if target != self.target or self.blocked:
            return
        self.impact_target = target
        self.impact = impact
        widget = self.query_one("#impact", Static)
        widget.display = True
        if impact is None:
            widget.set_class(True, "-would-fail")
            set_text(widget, f"Impact unknown: {error}")
            return
        widget.set_class(impact.would_fail, "-would-fail")
        widget.set_class(impact.loses_data and not impact.would_fail, "-loses-data")
        set_text(widget, impact.summary())

    # -- state --------------------------------------------------------------------------------

    @property
    def steps(self) -> list[PlanStep]:
        return steps_to_undo(self.full_down_plan, self.target)

    @property
    def blocked(self) -> list[PlanStep]:
        return irreversible(self.steps)

    @property
    def confirmable(self) -> bool:
        typed = self.query_one("#typed", Input).value.strip()
        return bool(self.steps) and not self.blocked and typed == str(self.target)

    def _update(self) -> None:
        steps = self.steps
        count = len(steps)
        set_text(
            self.query_one("#undo-title", Static),
            Text.assemble(
                f"Undoes {count} migration{'s' if count != 1 else ''}, newest first ",
                (f"(version {self.current_version} → {self.target}):", "bold"),
            ),
        )
        set_text(self.query_one("#undo-steps", Static), render_undo(steps))
        blocked = self.blocked
        refusal = self.query_one("#refusal", Static)
        typed = self.query_one("#typed", Input)
        if blocked:
            names = ", ".join(migration_label(s.version, s.name) for s in blocked)
            lowest = lowest_reachable(self.full_down_plan)
            set_text(
                refusal,
                f"Refused: {names} cannot be undone (no down). "
                f"The lowest reachable version is {lowest}.",
            )
            refusal.display = True
            typed.disabled = True
        else:
            refusal.update("")
            refusal.display = False
            typed.disabled = False
        self.query_one("#typed-label", Label).update(
            Text.assemble("Type ", (str(self.target), "bold"), " to confirm")
        )
        confirm = self.query_one("#confirm", Button)
        confirm.label = f"Roll back to {self.target}"
        confirm.disabled = not self.confirmable
        self.query_one("#rehearse", Button).display = bool(self.steps) and not blocked
        if blocked and (self.focused is None or self.focused is typed):
            self.query_one("#target", Select).focus()

    @on(Select.Changed, "#target")
    def _target_changed(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, int) and event.value != self.target:
            self.target = event.value
            self._update()
            self._request_impact()
        else:
            self._update()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "rehearse":
            if self.steps and not self.blocked:
                self.request_rehearsal(self.target)
        elif event.button.id == "confirm" and self.confirmable:
            self.dismiss(self.target)
        elif event.button.id == "cancel":
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def render_undo(steps: Sequence[PlanStep]) -> Text:
    text = Text()
    if not steps:
        text.append("nothing to undo", style="dim")
    for index, step in enumerate(steps):
        if index:
            text.append("\n")
        text.append("down  ", style="red")
        text.append(migration_label(step.version, step.name))
        if not step.reversible:
            text.append("  ✗ irreversible", style="bold red")
    return text


def backup_line(folder: str | None) -> str:
    if folder is None:
        return "No backup will be taken (backups are off)."
    return f"A verified backup will be written to {folder} first."
