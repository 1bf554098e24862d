"""The command line parses with the chosen command's parser alone, and says exactly what the full
parser would say."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from engine.cli import COMMAND_MODULES, _NotLean, _parse, build_parser


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _comparable(args: argparse.Namespace) -> dict[str, object]:
    values = vars(args).copy()
    func = values.pop("func")
    return {**values, "func": getattr(func, "__qualname__", repr(func))}


def test_every_command_is_in_the_table_of_the_modules_that_register_them() -> None:
    assert sorted(_choices(build_parser())) == sorted(COMMAND_MODULES)


@pytest.mark.parametrize("command", sorted(COMMAND_MODULES))
def test_a_commands_own_parser_is_the_one_the_full_parser_holds(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lean parser never prints, so it formats at argparse's width without a terminal.
    monkeypatch.setenv("COLUMNS", "80")
    full = _choices(build_parser())[command]
    lean = _choices(build_parser(only=command))
    assert list(lean) == [command]
    assert lean[command].format_help() == full.format_help()


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--json"],
        ["--db", "x.db", "--json", "status"],
        ["--db", "migrate", "status"],  # a database named like a command
        ["migrate", "--atomic", "--no-backup", "--to", "+2", "--db", "y.db"],
        ["rollback", "--to", "0", "--yes", "--keep-backups", "3"],
        ["stamp", "4", "--reason", "adopted", "--yes"],
        ["restore", "backup.sqlite3", "--yes"],
        ["catalog", "check", "--base-path", "/srv"],
        ["--migrations", "status", "--busy-timeout", "2", "history", "--limit", "5"],
    ],
)
def test_the_lean_parse_gives_what_the_full_parser_gives(argv: list[str]) -> None:
    assert _comparable(_parse(argv)) == _comparable(build_parser().parse_args(argv))


@pytest.mark.parametrize(
    "argv",
    [["status", "--bogus"], ["status", "-h"], ["--help", "status"], ["rollback"], ["stat"]],
)
def test_help_usage_and_errors_come_from_the_full_parser(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as lean_exit:
        _parse(argv)
    lean_out = capsys.readouterr()
    with pytest.raises(SystemExit) as full_exit:
        build_parser().parse_args(argv)
    assert lean_exit.value.code == full_exit.value.code
    assert capsys.readouterr() == lean_out


def test_the_lean_parser_hands_over_instead_of_printing() -> None:
    with pytest.raises(_NotLean):
        build_parser(only="status").parse_args(["--help"])


def test_status_imports_none_of_the_other_commands_modules(tmp_path: object) -> None:
    code = (
        "import sys\n"
        "from engine.cli import _parse\n"
        "_parse(['status', '--json'])\n"
        "print(sorted(m for m in sys.modules if m.endswith('_cli') or m.endswith('.cli')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['engine.cli']"
