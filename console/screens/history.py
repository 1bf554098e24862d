"""HistoryScreen: the attempt ledger, newest first, with a filter (key ``h``).

Each row is one attempt to apply or undo a migration: when (UTC), who and on which host, the
direction, the migration, how long it took, and whether it worked; the cursor row's error is
shown whole under the table. The filter keeps the rows whose text contains every word typed
("down", "failed", a user, a host, a version), so "who rolled back, and what failed?" is one
word away. The screen reads the ledger in its own worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Static

from console.formatting import format_duration, format_timestamp, migration_label
from console.messages import HistoryLoaded, post, result_handler
from console.service import service_of
from console.widgets.row_table import RowTable
from console.widgets.text import set_text
from engine import HistoryEntry

#: The screen's keys: letters typed on the list (or / first) go to the filter; Tab goes back.
HINT = "↑ ↓ pick · type or / to filter · tab: filter ↔ list · esc closes"

#: How many attempts the screen reads (newest first).
HISTORY_LIMIT = 1000


def entry_words(entry: HistoryEntry) -> str:
    """What the filter matches against: every column, and the words an operator would type."""
    verb = "migrate apply up" if entry.direction == "up" else "rollback undo down"
    result = "ok success" if entry.success else "failed failure error"
    return " ".join(
        [
            format_timestamp(entry.started_at, seconds=True),
            entry.user,
            entry.host,
            f"{entry.user}@{entry.host}",
            verb,
            str(entry.version),
            migration_label(entry.version, entry.name),
            result,
            entry.error or "",
        ]
    ).lower()


def matches(entry: HistoryEntry, query: str) -> bool:
    words = entry_words(entry)
    return all(word in words for word in query.lower().split())


class HistoryScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("slash", "focus_filter", "Filter", show=False),
    ]
    AUTO_FOCUS = "#history"

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[HistoryEntry] = []
        self.shown: list[HistoryEntry] = []
        self.loaded = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("History: every attempt, newest first", classes="title")
            with Horizontal(classes="row"):
                yield Label("Filter")
                yield Input(placeholder="down, failed, a user, a host, a version…", id="filter")
            table = RowTable(id="history")
            # Fits 80 columns; how long it took, the pid and the whole error are in the detail.
            table.add_column("When (UTC)", key="when", width=16)
            table.add_column("Who", key="who", width=10)
            table.add_column("Dir", key="direction", width=4)
            table.add_column("Migration", key="migration", width=24)
            table.add_column("Result", key="result", width=8)
            yield table
            yield Static(id="detail")
            with Horizontal(id="buttons"):
                yield Label(HINT, classes="hint")

    def on_mount(self) -> None:
        set_text(self.query_one("#detail", Static), Text("Reading the history…", style="dim"))
        self._fit()
        self._load()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """The table scrolls; the filter, the detail line and the hint stay on screen."""
        self.query_one("#history", DataTable).styles.max_height = max(3, self.size.height - 12)

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def _load(self) -> None:
        service = service_of(self.app)
        post(self, HistoryLoaded(service.attempt(lambda: service.history(HISTORY_LIMIT))))

    @result_handler
    def on_history_loaded(self, message: HistoryLoaded) -> None:
        message.stop()
        self.loaded = True
        if message.outcome.value is None:
            set_text(
                self.query_one("#detail", Static),
                Text(message.outcome.error or "The history could not be read.", style="bold red"),
            )
            return
        self.entries = message.outcome.value
        self._show()

    # -- the table --------------------------------------------------------------------------

    def _show(self) -> None:
        query = self.query_one("#filter", Input).value
        self.shown = [entry for entry in self.entries if matches(entry, query)]
        table = self.query_one("#history", DataTable)
        table.clear()
        for entry in self.shown:
            table.add_row(*row_cells(entry), key=str(entry.id))
        self._show_detail()

    def _show_detail(self) -> None:
        detail = self.query_one("#detail", Static)
        if not self.entries:
            set_text(detail, Text("No attempt recorded yet.", style="dim"))
            return
        if not self.shown:
            set_text(detail, Text(f"No attempt matches; {len(self.entries)} in all.", style="dim"))
            return
        row = self.query_one("#history", DataTable).cursor_row
        entry = self.shown[row] if 0 <= row < len(self.shown) else self.shown[0]
        set_text(detail, describe(entry, len(self.shown), len(self.entries)))

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._show()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#history", DataTable).focus()

    @on(DataTable.RowHighlighted, "#history")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_detail()

    def on_key(self, event: events.Key) -> None:
        """Typing on the table goes to the filter (where the hint says)."""
        table = self.query_one("#history", DataTable)
        if self.focused is table and event.character and event.character.isalnum():
            event.stop()
            event.prevent_default()
            box = self.query_one("#filter", Input)
            box.focus()
            box.insert_text_at_cursor(event.character)

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_close(self) -> None:
        self.dismiss(None)


def row_cells(entry: HistoryEntry) -> Sequence[Text]:
    direction = Text(entry.direction, style="green" if entry.direction == "up" else "red")
    result = Text("✓ ok", style="green") if entry.success else Text("✗ failed", style="bold red")
    return (
        Text(format_timestamp(entry.started_at)),
        Text(f"{entry.user}@{entry.host}", overflow="ellipsis", no_wrap=True),
        direction,
        Text(migration_label(entry.version, entry.name), overflow="ellipsis", no_wrap=True),
        result,
    )


def describe(entry: HistoryEntry, shown: int, total: int) -> Text:
    """The cursor row in full: who, where, when, and the error whole."""
    verb = "applied" if entry.direction == "up" else "undid"
    if not entry.success:
        verb = "tried to apply" if entry.direction == "up" else "tried to undo"
    text = Text()
    text.append(f"{entry.user}@{entry.host}", style="bold")
    text.append(f" (pid {entry.pid}) {verb} ")
    text.append(migration_label(entry.version, entry.name), style="bold")
    text.append(
        f" at {format_timestamp(entry.started_at, seconds=True)} UTC "
        f"({format_duration(entry.duration_ms)})."
    )
    if entry.error:
        text.append(f"\n{entry.error}", style="red")
    text.append(f"\n{shown} of {total} attempts shown.", style="dim")
    return text
