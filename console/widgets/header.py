"""ConsoleHeader: the title, the database and its version on one line, cut where it hurts least.

Textual's header cuts ``title — sub-title`` at its end, so at 80 columns a server database
(``db.internal:5432/metadata · public · version 2 of 4``) lost its version, the part an operator
reads first. Here, when the whole line does not fit, the app's title goes (the terminal's title
bar still says it), then the database's host (then the whole location) is shortened in its
middle; its schema, version and read-only mark are always shown whole.
"""

from __future__ import annotations

import contextlib

from rich.cells import cell_len
from textual import events
from textual.content import Content
from textual.dom import NoScreen
from textual.widgets import Header, Static

#: Columns of the header that the title cannot use: the icon (8) and the clock's space (10).
RESERVED = 18
#: Separates the sub-title's parts: the database, its schema, the version, READ-ONLY.
PART = " · "


def shorten_middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, its middle replaced by ``…`` when it is longer."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    keep = width - 1
    head = (keep + 1) // 2
    tail = keep - head
    return text[:head] + "…" + (text[len(text) - tail :] if tail else "")


def fit_title(title: str, sub_title: str, room: int) -> Content:
    """The header's line in ``room`` cells: ``title — sub_title`` when it fits; else the
    sub-title alone; else the sub-title with its first part (the database) shortened (see
    ``shorten_location``), the other parts whole."""
    whole = Content.assemble(title, (" — ", "dim"), Content(sub_title).stylize("dim"))
    if not sub_title or cell_len(f"{title} — {sub_title}") <= room:
        return whole if sub_title else Content(title)
    if cell_len(sub_title) <= room:
        return Content(sub_title)
    location, _, rest = sub_title.partition(PART)
    kept = PART + rest if rest else ""
    space = room - cell_len(kept)
    if space < 8:  # no room worth the name: Textual's own cut at the end
        return Content(sub_title)
    return Content(shorten_location(location, space) + kept)


def shorten_location(location: str, width: int) -> str:
    """A database's location in ``width`` cells: for ``host:port/database`` the host is
    shortened first (the database stays whole while it can), else the middle of it all."""
    host, slash, database = location.rpartition("/")
    if slash and host and cell_len(database) + 1 + 8 <= width:
        return shorten_middle(host, width - cell_len(database) - 1) + slash + database
    return shorten_middle(location, width)


class ConsoleHeader(Header):
    """Textual's header whose line is fitted to its width (see ``fit_title``)."""

    def format_title(self) -> Content:
        width = self.size.width or self.app.size.width
        return fit_title(self.screen_title, self.screen_sub_title, width - RESERVED)

    def on_resize(self, event: events.Resize) -> None:
        with contextlib.suppress(NoScreen):
            self.query_one("HeaderTitle", Static).update(self.format_title())
