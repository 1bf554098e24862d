"""Settings: every default in one place, resolved once (flag, then environment, then config)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from console.__main__ import build_parser as console_parser
from engine.cli import build_parser, parse_args
from engine.options import OPTIONS
from engine.settings import DEFAULT_BUSY_TIMEOUT, DEFAULT_DB, DEFAULT_KEEP_BACKUPS, Settings

ROOT = Path(__file__).resolve().parents[2]


def test_nothing_given_means_the_defaults() -> None:
    settings = Settings.resolve({}, environ={})
    assert (settings.db, settings.busy_timeout, settings.keep_backups, settings.backup) == (
        DEFAULT_DB,
        DEFAULT_BUSY_TIMEOUT,
        DEFAULT_KEEP_BACKUPS,
        True,
    )


def test_the_environment_fills_what_no_flag_gave() -> None:
    settings = Settings.resolve({"db": None}, environ={"METAMIGRATE_DB": "/srv/env.db"})
    assert settings.db == "/srv/env.db"


def test_a_flag_beats_the_environment() -> None:
    settings = Settings.resolve({"db": "flag.db"}, environ={"METAMIGRATE_DB": "/srv/env.db"})
    assert settings.db == "flag.db"


def test_a_config_value_comes_after_the_environment_and_before_the_default() -> None:
    config = {"db": "config.db", "keep_backups": 3}
    settings = Settings.resolve({}, environ={"METAMIGRATE_DB": "env.db"}, config=config)
    assert (settings.db, settings.keep_backups) == ("env.db", 3)


def test_an_empty_environment_variable_counts_as_unset() -> None:
    assert Settings.resolve({}, environ={"METAMIGRATE_DB": ""}).db == DEFAULT_DB


def test_the_cli_resolves_its_options_into_settings() -> None:
    args = parse_args(["--db", "top.db", "migrate", "--no-backup", "--keep-backups", "4"])
    assert args.settings == Settings(db="top.db", no_backup=True, keep_backups=4)
    assert (args.db, args.no_backup) == ("top.db", True)


def test_an_option_after_the_command_counts_as_much_as_before_it() -> None:
    before = parse_args(["--db", "x.db", "--busy-timeout", "2", "status"]).settings
    after = parse_args(["status", "--db", "x.db", "--busy-timeout", "2"]).settings
    assert before == after == Settings(db="x.db", busy_timeout=2.0)


def test_every_command_has_a_handler() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        assert callable(sub.get_default("func")), name


def test_the_console_takes_the_same_option_definitions() -> None:
    table = {option.dest: option for option in OPTIONS}
    actions = [a for a in console_parser()._actions if a.dest != "help"]
    assert {a.dest for a in actions} == {
        "db",
        "migrations",
        "busy_timeout",
        "config",
        "read_only",
        "schema",
        "lock_timeout",
        "ddl_lock_timeout",
        "statement_timeout",
        "lock_retries",
        "connect_timeout",
        "base_path",
        "backup_dir",
    }
    for action in actions:
        assert tuple(action.option_strings) == table[action.dest].flags


def test_the_console_reads_metamigrate_db_like_the_cli(tmp_path: Path) -> None:
    code = (
        "import console.__main__ as m\n"
        "seen = {}\n"
        "m.run_console = lambda db, **kw: seen.update(db=db, **kw) or 0\n"
        "m.main([])\n"
        "print(seen['db'], seen['busy_timeout'])\n"
    )
    env = {"METAMIGRATE_DB": str(tmp_path / "env.db"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )
    assert result.stdout.split() == [str(tmp_path / "env.db"), str(DEFAULT_BUSY_TIMEOUT)]
