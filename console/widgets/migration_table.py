"""MigrationTable: every migration with its state, updated in place (never rebuilt needlessly).

At narrow widths the Description column would be clipped to a few letters: it is left out
(``show_description``) and the app shows the cursor row's description in the table's border.

The Name and Description columns are as wide as their longest value, measured here whenever the
rows change (``fitted_widths``), not left to DataTable's auto width: DataTable measures that
only when it is next idle and keeps the lines it drew before, so a frame drawn in between (on a
busy machine) left the header and the first rows cut to "Name" until something moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.cells import cell_len
from rich.text import Text
from textual.reactive import reactive
from textual.widgets.data_table import CellDoesNotExist, RowKey

from console.formatting import format_applied_at, format_duration
from console.widgets.row_table import RowTable
from engine import MigrationStatus

RowState = Literal["pending", "applied", "running", "failed", "unknown"]

#: Each state reads without colour: a symbol and a word, then a colour on top.
STATE_LOOK: dict[str, tuple[str, str]] = {
    "applied": ("✓ applied", "green"),
    "pending": ("○ pending", "yellow"),
    "running": ("▶ running", "bold cyan"),
    "failed": ("✗ failed", "bold red"),
    "unknown": ("? unknown", "magenta"),
}


@dataclass(frozen=True)
class Row:
    """What one row shows; equal rows are not redrawn."""

    version: int
    name: str
    description: str
    state: str
    applied_at: str
    duration: str
    checksum: str

    def cells(self) -> tuple[Text, ...]:
        """Rich Text for every cell: plain strings would be parsed as markup, row by row."""
        label, style = STATE_LOOK.get(self.state, (self.state, ""))
        checksum_style = "green" if self.checksum == "✓" else "bold red"
        return (
            Text(label, style=style),
            Text(str(self.version), justify="right"),
            Text(self.name),
            Text(self.applied_at),
            Text(self.duration, justify="right"),
            Text(self.checksum, style=checksum_style, justify="center"),
            Text(self.description),
        )


def row_for(status: MigrationStatus, state: str | None = None) -> Row:
    # "Sum": the checksum of the migration's code still matches the one recorded when applied.
    checksum = "" if status.checksum_ok is None else ("✓" if status.checksum_ok else "✗")
    return Row(
        version=status.version,
        name=status.name,
        description=status.description,
        state=state or status.status,
        applied_at=format_applied_at(status.applied_at),
        duration=format_duration(status.duration_ms),
        checksum=checksum,
    )


class MigrationTable(RowTable):
    """The migrations, oldest first; the cursor row is the natural rollback target (Home / End:
    the first / last row)."""

    #: (label, key, width); None: as wide as the longest value (``fitted_widths``).
    COLUMNS: ClassVar[list[tuple[str, str, int | None]]] = [
        ("State", "state", 9),
        ("Ver", "version", 3),
        ("Name", "name", None),
        ("Applied at (UTC)", "applied_at", 16),
        ("Duration", "duration", 8),
        ("Sum", "checksum", 3),
        ("Description", "description", None),
    ]

    #: Whether the Description column is shown (off at narrow widths, where it would be cut).
    show_description = reactive(True, init=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: dict[int, Row] = {}
        self._statuses: dict[int, MigrationStatus] = {}
        self._overlay: dict[int, str] = {}
        #: The widths the fitted columns were added with.
        self._fitted: dict[str, int] = {}

    @property
    def columns_shown(self) -> list[tuple[str, str, int | None]]:
        if self.show_description:
            return self.COLUMNS
        return [column for column in self.COLUMNS if column[1] != "description"]

    def on_mount(self) -> None:
        self._add_columns()

    def fitted_widths(self) -> dict[str, int]:
        """The width of each column fitted to its content: its label or its longest value."""
        return {
            key: max(
                [cell_len(label), *(cell_len(getattr(s, key)) for s in self._statuses.values())]
            )
            for label, key, width in self.COLUMNS
            if width is None
        }

    def _add_columns(self) -> None:
        self._fitted = self.fitted_widths()
        for label, key, width in self.columns_shown:
            self.add_column(label, key=key, width=self._fitted[key] if width is None else width)

    def watch_show_description(self) -> None:
        self._rebuild()

    def _rebuild(self) -> None:
        """Columns and rows anew (DataTable draws everything again), the cursor kept."""
        cursor = self.cursor_version
        self.clear(columns=True)
        self._rows = {}
        self._add_columns()
        self._render_rows()
        if cursor is not None and cursor in self._rows:
            self.move_cursor(row=self.get_row_index(RowKey(str(cursor))), animate=False)

    def _cells(self, row: Row) -> tuple[Text, ...]:
        cells = row.cells()
        return cells if self.show_description else cells[:-1]

    @property
    def cursor_description(self) -> str:
        """The cursor row's version and description, for a detail line."""
        version = self.cursor_version
        status = self._statuses.get(version) if version is not None else None
        if status is None:
            return ""
        return f"{status.version} · {status.description or status.name}"

    # -- reading ------------------------------------------------------------------------------

    @property
    def versions(self) -> list[int]:
        return list(self._rows)

    def state_of(self, version: int) -> str | None:
        row = self._rows.get(version)
        return row.state if row else None

    @property
    def cursor_version(self) -> int | None:
        if not self._rows or self.cursor_row < 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return int(key.value) if key.value is not None else None

    # -- writing ------------------------------------------------------------------------------

    def show(self, statuses: Sequence[MigrationStatus]) -> None:
        """Show the database's view: update changed cells, rebuild only if the versions changed."""
        self._statuses = {s.version: s for s in statuses}
        self._render_rows()

    def mark(self, version: int, state: str | None) -> None:
        """Overlay a live state (running, failed) on one row; ``None`` removes it."""
        if state is None:
            self._overlay.pop(version, None)
        else:
            self._overlay[version] = state
        self._render_rows()

    def clear_marks(self, state: str | None = None) -> None:
        self._overlay = {v: s for v, s in self._overlay.items() if state is not None and s != state}
        self._render_rows()

    def set_status(self, status: MigrationStatus) -> None:
        """Replace one row's database view (a step just finished) without a reload."""
        self._statuses[status.version] = status
        self._render_rows()

    def reveal(self, version: int) -> None:
        """Put the cursor on ``version``'s row and scroll it into view (the running step)."""
        if version in self._rows:
            self.move_cursor(row=self.get_row_index(RowKey(str(version))), animate=False)

    @property
    def counts(self) -> tuple[int, int]:
        """(applied, pending) as the rows show them now."""
        pending = sum(1 for s in self._statuses.values() if s.status == "pending")
        return len(self._statuses) - pending, pending

    def status_of(self, version: int) -> MigrationStatus | None:
        return self._statuses.get(version)

    def _render_rows(self) -> None:
        if self.fitted_widths() != self._fitted:
            self._rebuild()  # a name or description longer (or shorter) than the column
            return
        wanted = {
            version: row_for(status, self._overlay.get(version))
            for version, status in sorted(self._statuses.items())
        }
        if list(wanted) != list(self._rows):
            cursor = self.cursor_version
            self.clear()
            for version, row in wanted.items():
                self.add_row(*self._cells(row), key=str(version))
            self._rows = wanted
            if cursor is not None and cursor in wanted:
                self.move_cursor(row=self.get_row_index(RowKey(str(cursor))), animate=False)
            return
        for version, row in wanted.items():
            old = self._rows[version]
            if row == old:
                continue
            for (_label, key, _width), new_cell, old_cell in zip(
                self.columns_shown, self._cells(row), self._cells(old), strict=True
            ):
                if new_cell != old_cell:
                    self.update_cell(str(version), key, new_cell, update_width=True)
            self._rows[version] = row
