"""BackupsScreen: this database's verified backups, newest first, and a guarded restore.

The screen reads the list in its own worker (``show_backups`` shows it) and follows the
database's version while open. Restoring
needs the same typed confirmation as the emergency rollback: pick a backup, type its version
number, and only then does the red button enable. Escape closes; Enter in the table or the input
only moves focus on, so a stray Enter never restores. The screen returns the chosen backup; the
app checks it and restores it in a worker. In read-only mode the list is shown, without the
restore controls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, Static

from console.formatting import format_size, format_timestamp
from console.messages import BackupsLoaded, post, result_handler
from console.screens.focus_order import FocusOrder
from console.screens.typed_confirm import TypedConfirmScreen
from console.service import service_of
from console.widgets.row_table import RowTable
from console.widgets.text import set_text
from engine import BackupInfo

#: The dialog's keys: digits typed on the list go to the input; then Tab visits the buttons and
#: comes back to the list (``FOCUS_ORDER``). "esc closes" is on the buttons' line.
KEYS = "↑ ↓ pick · type its version · tab: input → Close → Restore → list"


class BackupsScreen(FocusOrder[BackupInfo | None], TypedConfirmScreen[BackupInfo | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Close")]
    AUTO_FOCUS = "#backups"
    FOCUS_ORDER = ("backups", "typed", "cancel", "confirm")

    def __init__(self, *, database: str, read_only: bool = False) -> None:
        super().__init__()
        self.database = database
        self.current_version = 0
        self.read_only = read_only
        self.backups: list[BackupInfo] = []
        self.folder = ""
        self.loaded = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Backups", classes="title")
            yield Static(id="summary")
            table = RowTable(id="backups")
            table.add_column("Taken (UTC)", key="taken", width=19)
            table.add_column("Ver", key="version", width=3)
            table.add_column("Size", key="size", width=8)
            table.add_column("Reason", key="reason")
            yield table
            yield Static(id="empty")
            if not self.read_only:
                yield Static(id="restore-plan")
                with Horizontal(classes="row", id="typed-row"):
                    yield Label("", id="typed-label")
                    yield Input(restrict=r"[0-9]*", max_length=9, compact=True, id="typed")
                yield Label(KEYS, classes="keys")
            with Horizontal(id="buttons", classes="" if self.read_only else "-after-keys"):
                hint = "↑ ↓ pick · esc closes" if self.read_only else "esc closes"
                yield Label(hint, classes="hint")
                yield Button("Close", id="cancel", compact=True)
                if not self.read_only:
                    yield Button(
                        "Restore", id="confirm", variant="error", compact=True, disabled=True
                    )

    def on_mount(self) -> None:
        set_text(self.query_one("#summary", Static), Text("Reading the backups…", style="dim"))
        self.watch(self.app, "current_version", self._version_changed)
        self._update()
        self._load()

    def _version_changed(self, version: int) -> None:
        self.current_version = version
        if self.loaded:
            self._show_summary()
            self._update()

    @work(thread=True, exclusive=True, group="backups", exit_on_error=False)
    def _load(self) -> None:
        service = service_of(self.app)
        post(self, BackupsLoaded(service.attempt(service.backups)))

    @result_handler
    def on_backups_loaded(self, message: BackupsLoaded) -> None:
        message.stop()
        listing = message.outcome.value
        if listing is None:
            self.show_backups([], self.folder, message.outcome.error)
        else:
            self.show_backups(listing.backups, listing.folder, None)

    # -- data ---------------------------------------------------------------------

    def show_backups(self, backups: Sequence[BackupInfo], folder: str, error: str | None) -> None:
        self.backups = list(backups)
        self.folder = folder
        self.loaded = True
        self._show_summary()
        table = self.query_one("#backups", DataTable)
        table.clear()
        for info in self.backups:
            table.add_row(
                Text(format_timestamp(info.created_at, seconds=True)),
                Text(str(info.version), justify="right"),
                Text(format_size(info.size), justify="right"),
                Text(info.reason or "", overflow="ellipsis"),
                key=str(info.path),
            )
        empty = self.query_one("#empty", Static)
        if error is not None:
            set_text(empty, Text(error, style="bold red"))
        elif not self.backups:
            set_text(
                empty,
                "No backups yet: the engine takes a verified one before every migrate, "
                "rollback and restore.",
            )
        else:
            set_text(empty, "")
        empty.display = error is not None or not self.backups
        table.display = bool(self.backups)
        self._clear_typed()
        self._update()

    def _show_summary(self) -> None:
        summary = Text()
        summary.append("Database  ", style="dim")
        summary.append(self.database, style="bold")
        summary.append(f" (version {self.current_version})", style="dim")
        summary.append("\nFolder    ", style="dim")
        summary.append(self.folder, style="bold")
        count = len(self.backups)
        if count:
            plural = "s" if count != 1 else ""
            summary.append(f"   {count} backup{plural}, newest first", style="dim")
        set_text(self.query_one("#summary", Static), summary)

    # -- state ----------------------------------------------------------------------------------

    @property
    def selected(self) -> BackupInfo | None:
        if not self.backups:
            return None
        row = self.query_one("#backups", DataTable).cursor_row
        return self.backups[row] if 0 <= row < len(self.backups) else None

    @property
    def confirmable(self) -> bool:
        if self.read_only:
            return False
        info = self.selected
        typed = self.query_one("#typed", Input).value.strip()
        return info is not None and typed == str(info.version)

    def _clear_typed(self) -> None:
        if not self.read_only:
            self.query_one("#typed", Input).value = ""

    def _update(self) -> None:
        if self.read_only:
            return
        info = self.selected
        for selector in ("#restore-plan", "#typed-row", "#confirm"):
            self.query_one(selector).display = info is not None
        if info is None:
            return
        plan = Text()
        plan.append("Restore ", style="bold")
        plan.append(info.name, style="bold")
        replaced = service_of(self.app).what_is_replaced
        checked = "file" if replaced == "file" else "backup"
        plan.append(
            f": the database goes back to version {info.version} (it is at "
            f"{self.current_version} now). The current {replaced} is kept as a backup first; "
            f"the {checked} is checked before anything changes."
        )
        set_text(self.query_one("#restore-plan", Static), plan)
        self.query_one("#typed-label", Label).update(
            Text.assemble(
                "Type the backup's version (", (str(info.version), "bold"), ") to confirm:"
            )
        )
        confirm = self.query_one("#confirm", Button)
        confirm.label = f"Restore version {info.version}"
        confirm.disabled = not self.confirmable

    @on(DataTable.RowHighlighted, "#backups")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._clear_typed()
        self._update()

    def on_key(self, event: events.Key) -> None:
        """A digit typed on the list goes to the typed confirmation (where the hint says)."""
        if self.read_only or self.selected is None:
            return
        table = self.query_one("#backups", DataTable)
        if event.character is not None and event.character.isdigit() and self.focused is table:
            event.stop()
            event.prevent_default()
            typed = self.query_one("#typed", Input)
            typed.focus()
            typed.insert_text_at_cursor(event.character)

    @on(DataTable.RowSelected, "#backups")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row moves to the typed input; it never restores."""
        event.stop()
        if not self.read_only:
            self.query_one("#typed", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm" and self.confirmable:
            self.dismiss(self.selected)
        elif event.button.id == "cancel":
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
