"""ActivityLog: timestamped engine events and results, newest at the bottom.

Every line is wrapped to the width it is shown at (the scrollbar's column is always kept, so it
appearing never cuts a character off), and the newest line is always in view unless the
operator scrolled up (scrolling back to the end follows again).
"""

from __future__ import annotations

from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

from console.formatting import Clock, format_clock, utc_now

LEVEL_STYLES = {"info": "", "success": "green", "warning": "yellow", "error": "bold red"}


class ActivityLog(RichLog):
    """A RichLog whose lines start with the time from the app's (injectable) clock."""

    DEFAULT_CSS = """
    ActivityLog {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        scrollbar-gutter: stable;
    }
    """

    def __init__(self, clock: Clock | None = None, *, id: str | None = None) -> None:
        super().__init__(
            id=id, wrap=True, markup=False, highlight=False, max_lines=2000, min_width=20
        )
        self.clock: Clock = clock or utc_now
        #: Plain copies of every line, for tests and for anyone reading the session back.
        self.lines_plain: list[str] = []
        self._entries: list[Text] = []
        self._wrapped_at = 0
        #: Show the newest line (False while the operator has scrolled up).
        self.following = True
        self._rewrapping = False
        self.auto_scroll = False  # scrolling follows ``following``, not every write

    def add(self, message: str, style: str = "") -> None:
        stamp = format_clock(self.clock())  # UTC, like every time the console shows
        line = Text.assemble((stamp, "dim"), " ", (message, style))
        self.lines_plain.append(line.plain)
        self._entries = [*self._entries[-(self.MAX_ENTRIES - 1) :], line]
        self.write(line)
        self.show_newest()

    MAX_ENTRIES = 2000

    def show_newest(self) -> None:
        """Scroll to the newest line if following: now, and again once the layout is done (a
        line written while another screen was on top is laid out only when it comes back)."""
        if not self.following:
            return
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self.call_after_refresh(self._scroll_end_if_following)

    def _scroll_end_if_following(self) -> None:
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def watch_virtual_size(self) -> None:
        # More lines (or lines re-wrapped at a new width): the newest one comes into view.
        if self.following:
            self.call_after_refresh(self._scroll_end_if_following)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if not self._rewrapping and new_value != old_value:
            # The operator scrolled up (stop following) or back to the end (follow again).
            self.following = new_value >= self.max_scroll_y

    def on_resize(self, event: Resize) -> None:
        """RichLog wraps a line once, at the width it has then: wrap everything again."""
        super().on_resize(event)
        width = self.scrollable_content_region.width
        if self._size_known and width and width != self._wrapped_at:
            first = not self._wrapped_at
            self._wrapped_at = width
            if not first:
                self._rewrapping = True
                try:
                    self.clear()
                    for line in self._entries:
                        self.write(line)
                finally:
                    self._rewrapping = False
            self.show_newest()

    def add_entry(self, message: str, level: str = "info") -> None:
        """A line at ``level``: info, success, warning or error."""
        self.add(message, LEVEL_STYLES.get(level, ""))

    def info(self, message: str) -> None:
        self.add(message)

    def success(self, message: str) -> None:
        self.add(message, "green")

    def warning(self, message: str) -> None:
        self.add(message, "yellow")

    def error(self, message: str) -> None:
        self.add(message, "bold red")
