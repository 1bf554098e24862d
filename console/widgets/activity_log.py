"""ActivityLog: timestamped engine events and results, newest at the bottom."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from console.formatting import Clock, local_now


class ActivityLog(RichLog):
    """A RichLog whose lines start with the time from the app's (injectable) clock."""

    DEFAULT_CSS = """
    ActivityLog {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, clock: Clock | None = None, *, id: str | None = None) -> None:
        super().__init__(
            id=id, wrap=True, markup=False, highlight=False, max_lines=2000, min_width=20
        )
        self.clock: Clock = clock or local_now
        #: Plain copies of every line, for tests and for anyone reading the session back.
        self.lines_plain: list[str] = []

    def add(self, message: str, style: str = "") -> None:
        stamp = self.clock().strftime("%H:%M:%S")
        line = Text.assemble((stamp, "dim"), " ", (message, style))
        self.lines_plain.append(line.plain)
        self.write(line)

    def info(self, message: str) -> None:
        self.add(message)

    def success(self, message: str) -> None:
        self.add(message, "green")

    def warning(self, message: str) -> None:
        self.add(message, "yellow")

    def error(self, message: str) -> None:
        self.add(message, "bold red")
