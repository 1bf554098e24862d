"""Regressions for engine bugs found while building the safety features."""

from __future__ import annotations

from engine.tx import split_statements


def test_script_splits_several_statements_on_one_line() -> None:
    """Tx.script used to cut only at line ends: "CREATE ...; CREATE ...;" on one line failed
    with "You can only execute one statement at a time"."""
    assert split_statements("CREATE TABLE a (x); CREATE TABLE b (y);") == [
        "CREATE TABLE a (x);",
        "CREATE TABLE b (y);",
    ]


def test_script_keeps_semicolons_inside_strings_comments_and_triggers() -> None:
    script = (
        "INSERT INTO t VALUES ('a;b'); /* c; d */ SELECT 1; "
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END; SELECT 3 -- e; f"
    )
    assert split_statements(script) == [
        "INSERT INTO t VALUES ('a;b');",
        "/* c; d */ SELECT 1;",
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END;",
        "SELECT 3 -- e; f",
    ]
