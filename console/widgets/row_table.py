"""RowTable: a DataTable with a row cursor whose Home and End go to the first and last row.

Textual's DataTable, with a row cursor, gives Home and End to horizontal scrolling (and the
first and last row to ctrl+home and ctrl+end); in a list of rows an operator presses Home to
get to the top. Both pairs work here; PageUp and PageDown are DataTable's (a page of rows).
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable


class RowTable(DataTable[Text]):
    """A row-cursor table: Home / End (and ctrl+home / ctrl+end) move to the first / last row."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
