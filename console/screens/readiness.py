"""ReadinessScreen: every check of the deployment gate and every problem, scrolling (key ``d``)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from console.widgets.readiness_panel import BADGES, render_details
from engine import DeploymentStatus


class ReadinessScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("d", "close", "Close", show=False),
        Binding("enter", "close", "Close", show=False),
    ]
    AUTO_FOCUS = "#checks"

    def __init__(self, deployment: DeploymentStatus) -> None:
        super().__init__()
        self.deployment = deployment

    def compose(self) -> ComposeResult:
        badge = BADGES.get(self.deployment.status, self.deployment.status.upper())
        with Vertical(id="dialog"):
            yield Label(f"Readiness: {badge}", classes="title")
            with VerticalScroll(id="checks"):
                yield Static(render_details(self.deployment), id="checks-text")
            with Horizontal(id="buttons"):
                yield Label("esc closes · ↑ ↓ scroll", classes="hint")
                yield Button("Close", id="close", compact=True)

    def on_mount(self) -> None:
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        self.query_one("#checks", VerticalScroll).styles.max_height = max(3, self.size.height - 6)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
