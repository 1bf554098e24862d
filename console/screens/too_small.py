"""TooSmallScreen: shown instead of everything while the terminal is below the console's minimum.

Below 80x24 the dialogs' buttons would be off-screen while focus could still move onto them, so
an Enter could run something the operator cannot see. This screen covers the whole terminal,
takes every key (only ctrl+q, quit, works) and goes away by itself when the terminal is big
enough again, with the screen that was open back as it was.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Center, Middle
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Static

#: The smallest terminal the console is laid out for (columns, rows).
MIN_SIZE = (80, 24)


def too_small(width: int, height: int) -> bool:
    return width < MIN_SIZE[0] or height < MIN_SIZE[1]


class TooSmallScreen(Screen[None]):
    DEFAULT_CSS = """
    TooSmallScreen {
        align: center middle;
        background: $background;
    }
    TooSmallScreen #too-small {
        width: auto;
        max-width: 100%;
        height: auto;
        text-align: center;
    }
    """

    def compose(self) -> ComposeResult:
        with Middle(), Center():
            yield Static(id="too-small")

    def on_mount(self) -> None:
        self._say(*self.app.size)

    def on_resize(self, event: Resize) -> None:
        self._say(*event.size)

    def _say(self, width: int, height: int) -> None:
        text = Text(justify="center")
        text.append("Terminal too small", style="bold")
        text.append(f" ({width}x{height})\n")
        text.append(f"The console needs {MIN_SIZE[0]}x{MIN_SIZE[1]}: ")
        text.append("make the window bigger, or press ctrl+q to quit.")
        self.query_one("#too-small", Static).update(text)
