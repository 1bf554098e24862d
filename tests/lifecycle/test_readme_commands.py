"""The README lists every command, next to its Alembic/Flyway equivalent."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"


def _commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def test_the_readme_lists_every_command() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [name for name in _commands() if f"metamigrate {name}" not in text]
    assert missing == []


def test_the_readme_maps_commands_to_alembic_and_flyway() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| metamigrate | Alembic | Flyway |") :].split("\n\n")[0]
    for name in ("current", "stamp", "repair", "baseline", "--sql", "rollback --to -1", "lint"):
        assert name in table, name
