"""Updating a Static whose height changes, so the next layout measures it again."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


def set_text(static: Static, text: Text | str) -> None:
    """``static.update(text)``, plus a re-measure after the next refresh.

    Seen with Textual 8.2: a Static inside a scroll container, updated while the screen's
    layout was also changing (a breakpoint class applied), kept its old height about one time
    in eight, clipping the new text. Clearing the cached dimensions and asking for one more
    layout after the refresh makes it reliable.
    """
    static.update(text)
    static.clear_cached_dimensions()
    static.call_after_refresh(static.refresh, layout=True)
