"""Schema drift in words: what changed between two structural schema descriptions.

A description is the backend's sorted list of facts (``Backend.describe_schema().facts``), one per
table, column, index, constraint, view, trigger, ... Every backend writes a fact as
``<kind> <name> <details>`` (``column databases.owner TEXT 0 None 0``, ``index ix_tables_name on
tables ...``), so one comparison serves them all: facts are grouped by object, and each object that
appears, disappears or differs becomes one sentence ("table rogue added", "column databases.owner
added", "index ix_tables_name dropped"). The columns and constraints of a table that was added or
dropped as a whole are not listed again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from engine.records import Record

#: Kinds whose facts belong to a table named in their second word (``fk tables ...``).
_TABLE_SCOPED = ("fk", "check", "constraint")
#: Kinds named after their object in the second word.
_WORDS = {
    "materialized_view": "materialized view",
    "fk": "foreign key",
    "check": "check constraint",
}


class SchemaChange(Record):
    """One object that differs: ``kind`` (table, column, index, ...), its ``name``, and what
    happened to it: "added", "dropped" or "changed"."""

    __slots__ = ("after", "before", "change", "kind", "name")
    kind: str
    name: str
    change: str
    #: For "changed": the recorded and the live definition, shortened.
    before: str
    after: str

    def __init__(
        self, kind: str, name: str, change: str, before: str = "", after: str = ""
    ) -> None:
        self._set(kind, name, change, before, after)

    def sentence(self) -> str:
        word = _WORDS.get(self.kind, self.kind)
        if self.kind in _TABLE_SCOPED:
            table, _, rest = self.name.partition(" ")
            text = f"{word} on {table}{f' ({rest})' if rest else ''} {self.change}"
        else:
            text = f"{word} {self.name} {self.change}"
        if self.change == "changed" and (self.before or self.after):
            text += f" (was: {self.before or 'nothing'}; now: {self.after or 'nothing'})"
        return text

    def to_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "name": self.name,
            "change": self.change,
            "sentence": self.sentence(),
        }


def _key(fact: str) -> tuple[str, str, str]:
    """(kind, object name, details) of one fact."""
    kind, _, rest = fact.partition(" ")
    name, _, details = rest.partition(" ")
    if kind in _TABLE_SCOPED:
        # Several per table: the table and the first detail word (the column, the constraint's
        # name) tell them apart; a CHECK has no name, so its whole text is the key.
        if kind == "check":
            return kind, f"{name} {details}", ""
        first, _, more = details.partition(" ")
        return kind, f"{name} {first}".strip(), more
    return kind, name, details


def _table_of(kind: str, name: str, details: str) -> str | None:
    """The table an object belongs to (None for a table itself or a free-standing object)."""
    if kind == "column" or kind == "trigger":
        return name.split(".", 1)[0] if "." in name else None
    if kind in _TABLE_SCOPED:
        return name.split(" ", 1)[0]
    if kind == "index" and details.startswith("on "):
        return details[3:].split(" ", 1)[0]
    return None


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compare(recorded: Iterable[str], live: Iterable[str]) -> list[SchemaChange]:
    """What changed from ``recorded`` to ``live``, tables first, in a stable order."""
    before: dict[tuple[str, str], list[str]] = {}
    after: dict[tuple[str, str], list[str]] = {}
    owner: dict[tuple[str, str], str | None] = {}
    for facts, into in ((recorded, before), (live, after)):
        for fact in facts:
            kind, name, details = _key(fact)
            into.setdefault((kind, name), []).append(details)
            owner[(kind, name)] = _table_of(kind, name, details)
    added_tables = {n for (k, n) in after if k == "table" and (k, n) not in before}
    dropped_tables = {n for (k, n) in before if k == "table" and (k, n) not in after}
    whole = added_tables | dropped_tables
    changes: list[SchemaChange] = []
    for key in sorted(before.keys() | after.keys(), key=_order):
        kind, name = key
        if kind != "table" and owner.get(key) in whole:
            continue  # part of a table added or dropped as a whole
        old, new = sorted(before.get(key, [])), sorted(after.get(key, []))
        if old == new:
            continue
        if not old:
            changes.append(SchemaChange(kind, name, "added"))
        elif not new:
            changes.append(SchemaChange(kind, name, "dropped"))
        else:
            changes.append(
                SchemaChange(
                    kind,
                    name,
                    "changed",
                    _shorten("; ".join(d for d in old if d not in new)),
                    _shorten("; ".join(d for d in new if d not in old)),
                )
            )
    return changes


def _order(key: tuple[str, str]) -> tuple[int, str, str]:
    rank = {"table": 0, "column": 1}.get(key[0], 2)
    return rank, key[0], key[1]


def sentences(recorded: Iterable[str], live: Iterable[str]) -> list[str]:
    """``compare`` as sentences: ["table rogue added", "column databases.owner added"]."""
    return [change.sentence() for change in compare(recorded, live)]


# -- the recorded form ------------------------------------------------------------------------


def encode(facts: Sequence[str]) -> str:
    """A description as stored in the bookkeeping (compact JSON list of facts)."""
    return json.dumps(list(facts), separators=(",", ":"))


def decode(text: str | None) -> list[str] | None:
    """The stored form back as facts (None: nothing recorded, or unreadable)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None
    return value
