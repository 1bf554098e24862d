"""The typed confirmation shared by the destructive modals (emergency rollback, restore).

The red ``#confirm`` button stays disabled until the ``#typed`` input holds the expected
version; Enter in the input only moves focus to the button, so a single stray Enter never
confirms. Subclasses say what "expected" means through ``confirmable``.
"""

from __future__ import annotations

from typing import TypeVar

from textual import on
from textual.screen import ModalScreen
from textual.widgets import Button, Input

ResultT = TypeVar("ResultT")


class TypedConfirmScreen(ModalScreen[ResultT]):
    """A modal whose ``#confirm`` button waits for the right text in ``#typed``."""

    @property
    def confirmable(self) -> bool:
        raise NotImplementedError

    @on(Input.Changed, "#typed")
    def _typed_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.query_one("#confirm", Button).disabled = not self.confirmable

    @on(Input.Submitted, "#typed")
    def _typed_submitted(self, event: Input.Submitted) -> None:
        """Enter moves to the red button when the text matches; it never confirms by itself."""
        event.stop()
        if self.confirmable:
            self.query_one("#confirm", Button).focus()
        else:
            self.app.bell()
