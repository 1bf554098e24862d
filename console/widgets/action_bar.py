"""ActionBar: the console's actions as buttons (the same actions as the keys and the palette)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Static

#: (action, label, writes): buttons that write are absent in read-only mode.
ACTIONS: list[tuple[str, str, bool]] = [
    ("migrate", "Migrate to latest", True),
    ("rollback", "Roll back to…", True),
    ("verify", "Verify", False),
    ("refresh", "Refresh", False),
]


class ActionBar(Horizontal):
    """One row of compact buttons, then the mode badge (READ-ONLY, RUNNING) on the right."""

    DEFAULT_CSS = """
    ActionBar {
        height: 1;
        width: 100%;
        background: $boost;
    }
    ActionBar Button {
        margin: 0 1 0 0;
        min-width: 8;
    }
    ActionBar #rollback-button.-emergency {
        background: $error-muted;
    }
    ActionBar #mode {
        width: 1fr;
        height: 1;
        text-align: right;
        padding: 0 2 0 1;
        text-style: bold;
    }
    ActionBar #mode.-read-only { color: $text-warning; }
    ActionBar #mode.-running { color: $accent; }
    """

    def __init__(self, *, read_only: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        for action, label, writes in ACTIONS:
            if writes and self.read_only:
                continue
            yield Button(
                label,
                id=f"{action}-button",
                action=f"app.{action}",
                compact=True,
                classes="-emergency" if action == "rollback" else "",
            )
        mode = Static("READ-ONLY" if self.read_only else "", id="mode")
        mode.set_class(self.read_only, "-read-only")
        yield mode

    def set_busy(self, busy: bool, text: str = "") -> None:
        """Disable every button while a run is in progress, and say so."""
        for button in self.query(Button):
            button.disabled = busy
        mode = self.query_one("#mode", Static)
        label = text if busy else ""
        if self.read_only:
            label = f"{label}  READ-ONLY".strip()
        mode.update(label)
        mode.set_class(busy, "-running")
