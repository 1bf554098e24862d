"""Target versions as operators write them: ``3``, ``+2`` (two steps up), ``-1`` (one step back),
``latest``/``head`` and ``base`` (0), the way Alembic and Flyway accept them.

A relative target is resolved against the current version once, before the plan is made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.errors import InvalidTargetError

_RELATIVE = re.compile(r"[+-]\d+")


@dataclass(frozen=True)
class Target:
    """A parsed ``--to``: an absolute version, a step count (``relative``), or the latest."""

    text: str
    version: int | None = None
    steps: int | None = None

    @property
    def relative(self) -> bool:
        return self.steps is not None

    def resolve(self, current: int, latest: int) -> int:
        """The absolute version this target means when the database is at ``current``."""
        if self.steps is None:
            return latest if self.version is None else self.version
        wanted = current + self.steps
        if wanted < 0:
            if current == 0:
                raise InvalidTargetError(
                    f"Cannot go {-self.steps} step(s) back: the database is at version 0 already."
                )
            raise InvalidTargetError(
                f"Cannot go {-self.steps} step(s) back from version {current}: version 0 is "
                f"{current} step(s) back; use --to -{current} or --to 0."
            )
        if wanted > latest:
            if current >= latest:
                raise InvalidTargetError(
                    f"Cannot go {self.steps} step(s) forward: the database is at the latest "
                    f"version {latest} already."
                )
            raise InvalidTargetError(
                f"Cannot go {self.steps} step(s) forward from version {current}: the latest "
                f"version {latest} is {latest - current} step(s) ahead; use --to "
                f"+{latest - current}, or leave --to out."
            )
        return wanted

    def __str__(self) -> str:
        return self.text


def parse_target(text: str | int) -> Target:
    """``"3"``, ``"+2"``, ``"-1"``, ``"latest"``/``"head"`` or ``"base"``; else refused."""
    if isinstance(text, bool):
        raise InvalidTargetError(f"Target version {text!r} is not a whole number.")
    if isinstance(text, int):
        return Target(str(text), version=text)
    cleaned = text.strip().lower()
    if cleaned in ("latest", "head"):
        return Target(cleaned)
    if cleaned == "base":
        return Target(cleaned, version=0)
    if cleaned.isdigit():
        return Target(cleaned, version=int(cleaned))
    if _RELATIVE.fullmatch(cleaned):
        return Target(cleaned, steps=int(cleaned))
    raise InvalidTargetError(
        f"Target {text!r} is not a version: use a number (3), steps from the current version "
        "(+2, -1), latest or base."
    )
