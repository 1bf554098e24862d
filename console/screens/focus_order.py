"""FocusOrder: a dialog whose Tab order is declared, not left to where the widgets sit.

Textual visits focusable widgets top to bottom, left to right. In a confirmation dialog that
puts a scrolling list between the picker and the typed input, and the picker far from the
input it is confirmed with. A screen lists its stops by id in ``FOCUS_ORDER``; Tab and
Shift+Tab follow that order (round, as Textual's do), a widget inside a listed one (a Select's
overlay) goes with it, and a focusable widget that is not listed comes after the listed ones.
The screen's key line names the same stops in the same order (its test checks they agree).
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.screen import Screen
from textual.widget import Widget

ResultT = TypeVar("ResultT")


class FocusOrder(Screen[ResultT]):
    """A screen whose focus chain follows ``FOCUS_ORDER`` (widget ids, first stop first)."""

    FOCUS_ORDER: ClassVar[tuple[str, ...]] = ()

    @property
    def focus_chain(self) -> list[Widget]:
        chain = super().focus_chain
        rank = {widget_id: index for index, widget_id in enumerate(self.FOCUS_ORDER)}

        def place(widget: Widget) -> int:
            for node in widget.ancestors_with_self:
                if node.id is not None and node.id in rank:
                    return rank[node.id]
            return len(rank)

        return sorted(chain, key=place)  # stable: unlisted widgets keep Textual's order
