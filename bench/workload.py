"""The workload every tool expresses in its own native form.

N migrations; migration i creates one table with three columns and one index, and its down drops
them (index first). Every tool runs these exact SQL strings, so SQLite does the same work for all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One migration of the workload: its number, name and the SQL of its up and down."""

    number: int
    version: str
    name: str
    table: str
    index: str
    up: tuple[str, ...]
    down: tuple[str, ...]

    @property
    def slug(self) -> str:
        """``0001_create_t0001``: the file/module stem most tools use."""
        return f"{self.version}_{self.name}"


@dataclass(frozen=True)
class Workload:
    """N generated migrations, numbered from 1, zero-padded to at least four digits."""

    n: int

    @property
    def width(self) -> int:
        return max(4, len(str(self.n)))

    def step(self, number: int) -> Step:
        version = f"{number:0{self.width}d}"
        table = f"t{version}"
        index = f"ix_{table}_name"
        return Step(
            number=number,
            version=version,
            name=f"create_{table}",
            table=table,
            index=index,
            up=(
                f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                "created_at TEXT NOT NULL)",
                f"CREATE INDEX {index} ON {table} (name)",
            ),
            down=(f"DROP INDEX {index}", f"DROP TABLE {table}"),
        )

    def steps(self) -> list[Step]:
        return [self.step(i) for i in range(1, self.n + 1)]

    def table_names(self) -> set[str]:
        return {self.step(i).table for i in range(1, self.n + 1)}

    def index_names(self) -> set[str]:
        return {self.step(i).index for i in range(1, self.n + 1)}


WORKLOAD_TABLE = re.compile(r"^t\d{4,}$")
WORKLOAD_INDEX = re.compile(r"^ix_t\d{4,}_name$")
