"""HelpScreen: what each key does, and what the screen shows.

The text scrolls (it has focus, so ↑ ↓ and page keys move it at once); the title and the hint
line always stay on screen, at 80x24 too.
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

KEYS: list[tuple[str, str]] = [
    ("m", "Migrate to latest: the plan; Rehearse runs it and keeps nothing"),
    ("r", "Roll back to…: pick a version, see what it destroys, type it to confirm"),
    ("v", "Verify: integrity, foreign keys, edited migrations, schema drift"),
    ("b", "Backups: the verified backups; restore one by typing its version"),
    ("f5", "Refresh: re-read the database (it also follows changes by itself)"),
    ("h", "History: every attempt, newest first; type to filter (down, failed, a user)"),
    ("d", "Details: every readiness check and problem (the panel is a summary)"),
    ("↑ ↓", "Move the table's cursor; home / end: the first / last row"),
    ("tab", "Move between the buttons, table, log and readiness panel"),
    ("ctrl+p", "Command palette: every action by name"),
    ("?", "This help"),
    ("q", "Quit (ctrl+q from anywhere); during a run, q twice stops it after the current step"),
    ("escape", "Cancel a dialog (they open on Cancel); nothing is written"),
]

LEGEND = (
    "State: ✓ applied  ○ pending  ▶ running  ✗ failed  "
    "? unknown (in the database, not in the code)\n"
    "Sum: ✓ the migration's code is unchanged since it was applied; ✗ it was edited"
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]
    AUTO_FOCUS = "#help-text"

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, text in KEYS:
            table.add_row(key, text)
        with Vertical(id="dialog"):
            yield Label("metamigrate console — keys", classes="title")
            with VerticalScroll(id="help-text"):
                yield Static(table)
                yield Static(Text("\n" + LEGEND, style="dim"))
                yield Static(
                    Text(
                        "\nThe readiness badge is the deployment gate: READY (all applied, all "
                        "checks pass), PENDING (migrations waiting), ERROR (a check failed).",
                        style="dim",
                    )
                )
            yield Label("esc closes · ↑ ↓ scroll", classes="hint")

    def on_mount(self) -> None:
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """The text scrolls; the title and the hint always stay on screen."""
        text = self.query_one("#help-text", VerticalScroll)
        text.styles.max_height = max(3, self.size.height - 4)

    def action_close(self) -> None:
        self.dismiss(None)
