"""ConfirmMigrateScreen: the exact plan and the target database, confirmed or cancelled.

Focus starts on Cancel, so a stray Enter cancels; Escape cancels; nothing is written until the
operator presses Migrate (the app starts the run only when this screen returns True). Rehearse
runs the plan and rolls it back, then shows the report; it never confirms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Label, Static

from console.formatting import migration_label
from console.screens.rehearsal import Rehearsable
from engine import PlanStep


class ConfirmMigrateScreen(Rehearsable[bool]):
    DEFAULT_CSS = """
    ConfirmMigrateScreen {
        align: center middle;
    }
    ConfirmMigrateScreen #dialog {
        width: 72;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    ConfirmMigrateScreen .title {
        text-style: bold;
        width: 100%;
        margin-bottom: 1;
    }
    ConfirmMigrateScreen #plan {
        height: auto;
        max-height: 12;
        border: round $panel-lighten-2;
        padding: 0 1;
    }
    ConfirmMigrateScreen #buttons {
        height: auto;
        align-horizontal: right;
        margin-top: 1;
    }
    ConfirmMigrateScreen Button { margin-left: 2; }
    ConfirmMigrateScreen .hint { width: 1fr; color: $text-muted; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#cancel"

    def __init__(
        self,
        steps: Sequence[PlanStep],
        *,
        database: str,
        current_version: int,
        target_version: int,
    ) -> None:
        super().__init__()
        self.steps = list(steps)
        self.database = database
        self.current_version = current_version
        self.target_version = target_version

    def compose(self) -> ComposeResult:
        count = len(self.steps)
        with Vertical(id="dialog"):
            yield Label("Migrate to latest", classes="title")
            summary = Text()
            summary.append("Database  ", style="dim")
            summary.append(self.database, style="bold")
            summary.append("\nVersion   ", style="dim")
            summary.append(f"{self.current_version} → {self.target_version}", style="bold")
            summary.append(f"\nApplies {count} migration{'s' if count != 1 else ''}, oldest first:")
            yield Static(summary, id="summary")
            with VerticalScroll(id="plan"):
                yield Static(render_plan(self.steps), id="plan-steps")
            with Horizontal(id="buttons"):
                yield Label("esc cancels", classes="hint")
                # Tab from Cancel reaches the confirm button, as before; Rehearse is one back.
                yield Button("Rehearse", id="rehearse", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
                yield Button(
                    f"Migrate to {self.target_version}",
                    id="confirm",
                    variant="warning",
                    compact=True,
                )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "rehearse":
            self.request_rehearsal(self.target_version)
        else:
            self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)


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
