"""The command line's option table: every option once, with its group, help and environment.

``metamigrate`` (``engine.cli``) and ``python -m console`` build their parsers from this table:
``parent(*groups)`` returns an ``add_help=False`` parser to pass as ``parents=[...]``. Commands are
registered by the module that owns them (``engine.cli``, ``engine.safety_cli``,
``engine.metadata.cli``) through ``CommandRegistry.add``, which sets ``func`` with
``set_defaults``. Values are resolved once into ``engine.settings.Settings``; argparse itself keeps
no defaults (None means "not given").

Options can be given before or after the command (``metamigrate --db x status`` and
``metamigrate status --db x``): subcommand copies use ``SUPPRESS`` so that an option given before
the command is not reset by the subcommand's own default.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping, Sequence

from engine.records import Record
from engine.settings import (
    DEFAULT_BUSY_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DB,
    DEFAULT_DDL_LOCK_TIMEOUT,
    DEFAULT_KEEP_BACKUPS,
    DEFAULT_LOCK_WAIT,
    DEFAULT_SCHEMA,
    ENV_BASE_PATH,
    ENV_DB,
    ENV_SCHEMA,
)

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: what status imports must not load typing

if TYPE_CHECKING:
    from typing import Any


def duration(text: str) -> str:
    """A PostgreSQL duration for argparse: "5s", "500ms", "2min" (a bare number is seconds)."""
    import re

    value = text.strip().replace(" ", "")
    if not re.fullmatch(r"\d+(\.\d+)?(us|ms|s|min|h|d)?", value):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration; write e.g. 5s, 500ms or 2min"
        )
    return value if not value[-1].isdigit() else value + "s"


class BadNumber(argparse.ArgumentTypeError, ValueError):
    """A numeric option out of range: argparse words it (exit 2), and so does the environment."""


#: The largest whole number SQLite (and a PostgreSQL bigint) can hold.
MAX_WHOLE = 2**63 - 1


class Seconds:
    """A number of seconds for argparse: finite and not negative ("nan", "inf", "-1" refused)."""

    #: What the configuration file must hold for this option.
    kind = float
    __name__ = "number of seconds"

    def __call__(self, text: str) -> float:
        import math

        try:
            value = float(text)
        except ValueError:
            raise BadNumber(f"{text!r} is not a number of seconds") from None
        if not math.isfinite(value) or value < 0 or value > 10**9:
            raise BadNumber(f"{text!r} is not a number of seconds between 0 and 1e9")
        return value


class Whole:
    """A whole-number option for argparse, from ``minimum`` up to what SQLite can hold."""

    kind = int
    __name__ = "whole number"

    def __init__(self, minimum: int) -> None:
        self.minimum = minimum

    def __call__(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise BadNumber(f"{text!r} is not a whole number") from None
        if not self.minimum <= value <= MAX_WHOLE:
            raise BadNumber(f"{text!r} is out of range: use a whole number from {self.minimum} up")
        return value


seconds = Seconds()


def whole(minimum: int) -> Whole:
    return Whole(minimum)


#: Groups: "connection" (which database, how to open it), "output", "catalog", "backup" (the
#: options of commands that write and back up first), "backup-folder", "keep", "rehearse".


class Option(Record):
    """One command-line option."""

    __slots__ = ("env", "flags", "group", "help", "kwargs")
    flags: tuple[str, ...]
    group: str
    help: str
    #: Environment variable read when the flag is not given (None: none).
    env: str | None
    #: Extra ``add_argument`` keywords (``type``, ``metavar``, ``action``).
    kwargs: Mapping[str, Any]

    def __init__(
        self,
        flags: tuple[str, ...],
        group: str,
        help: str,
        env: str | None = None,
        kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self._set(flags, group, help, env, {} if kwargs is None else kwargs)

    @property
    def dest(self) -> str:
        return self.flags[0].lstrip("-").replace("-", "_")

    def convert(self, raw: str) -> Any:
        """An environment variable's text as this option's value."""
        if self.kwargs.get("action") == "store_true":
            return raw.strip().lower() in ("1", "true", "yes", "on")
        kind = self.kwargs.get("type")
        return kind(raw) if callable(kind) else raw


OPTIONS: tuple[Option, ...] = (
    Option(
        ("--db",),
        "connection",
        "the database: a SQLite file path or sqlite:///path, or a postgresql:// URL "
        f"(env {ENV_DB}, default ./{DEFAULT_DB})",
        env=ENV_DB,
        kwargs={"metavar": "PATH_OR_URL"},
    ),
    Option(
        ("--migrations",),
        "connection",
        "folder or package of migration files (env METAMIGRATE_MIGRATIONS; default: the built-in "
        "store migrations)",
        env="METAMIGRATE_MIGRATIONS",
        kwargs={"metavar": "DIR_OR_MODULE"},
    ),
    Option(
        ("--busy-timeout",),
        "connection",
        "how long to wait for another writer's lock (env METAMIGRATE_BUSY_TIMEOUT, default "
        f"{DEFAULT_BUSY_TIMEOUT:g})",
        env="METAMIGRATE_BUSY_TIMEOUT",
        kwargs={"type": seconds, "metavar": "SECONDS"},
    ),
    Option(
        ("--config",),
        "connection",
        "configuration file (env METAMIGRATE_CONFIG; default ./metamigrate.toml, or "
        "[tool.metamigrate] in ./pyproject.toml)",
        kwargs={"metavar": "FILE"},
    ),
    Option(
        ("--read-only",),
        "connection",
        "open the database read-only (SQLite mode=ro; PostgreSQL default_transaction_read_only): "
        "nothing can be written",
        kwargs={"action": "store_true"},
    ),
    Option(
        ("--schema",),
        "connection",
        f"PostgreSQL: the schema that holds the bookkeeping and the application (env "
        f"{ENV_SCHEMA}, default {DEFAULT_SCHEMA})",
        env=ENV_SCHEMA,
        kwargs={"metavar": "NAME"},
    ),
    Option(
        ("--lock-timeout",),
        "connection",
        "PostgreSQL: how long to wait for the migration lock another migrator holds, then fail "
        f"naming it (default {DEFAULT_LOCK_WAIT:g})",
        kwargs={"type": seconds, "metavar": "SECONDS"},
    ),
    Option(
        ("--ddl-lock-timeout",),
        "connection",
        "PostgreSQL: lock_timeout of the statements inside migrations, so a migration waiting "
        f"behind a long query does not queue the service behind it (default "
        f"{DEFAULT_DDL_LOCK_TIMEOUT}; a migration's LOCK_TIMEOUT wins)",
        kwargs={"type": duration, "metavar": "DURATION"},
    ),
    Option(
        ("--statement-timeout",),
        "connection",
        "PostgreSQL: statement_timeout inside migrations, e.g. 10min (default none; a "
        "migration's STATEMENT_TIMEOUT wins)",
        kwargs={"type": duration, "metavar": "DURATION"},
    ),
    Option(
        ("--lock-retries",),
        "connection",
        "PostgreSQL: retry a migration that hit its lock_timeout up to N times, with backoff "
        "(default 0)",
        kwargs={"type": whole(0), "metavar": "N"},
    ),
    Option(
        ("--connect-timeout",),
        "connection",
        f"PostgreSQL: seconds to wait for the server to answer (default "
        f"{DEFAULT_CONNECT_TIMEOUT:g})",
        kwargs={"type": seconds, "metavar": "SECONDS"},
    ),
    Option(("--json",), "output", "print JSON instead of tables", kwargs={"action": "store_true"}),
    Option(
        ("--base-path",),
        "catalog",
        f"the service's folder with the Iceberg catalog and warehouse (env {ENV_BASE_PATH}); "
        "adds the store/catalog consistency check",
        env=ENV_BASE_PATH,
        kwargs={"metavar": "PATH"},
    ),
    Option(
        ("--no-backup",),
        "backup",
        "do not take a verified backup first (not recommended)",
        kwargs={"action": "store_true"},
    ),
    Option(
        ("--backup-dir",),
        "backup-folder",
        "folder of backups (env METAMIGRATE_BACKUP_DIR; default: backups/ beside a SQLite file; "
        "for PostgreSQL backups/ in --base-path if set, else in the working directory)",
        env="METAMIGRATE_BACKUP_DIR",
        kwargs={"metavar": "DIR"},
    ),
    Option(
        ("--keep-backups",),
        "keep",
        "keep the newest N backups of this database (env METAMIGRATE_KEEP_BACKUPS, default "
        f"{DEFAULT_KEEP_BACKUPS})",
        env="METAMIGRATE_KEEP_BACKUPS",
        kwargs={"type": whole(1), "metavar": "N"},
    ),
    Option(
        ("--rehearse",),
        "rehearse",
        "run the plan in a transaction that is rolled back; report each step",
        kwargs={"action": "store_true"},
    ),
)

#: The groups every command takes.
COMMON = ("connection", "output")


def options_in(groups: Iterable[str]) -> list[Option]:
    wanted = set(groups)
    return [option for option in OPTIONS if option.group in wanted]


def add_options(
    parser: argparse.ArgumentParser,
    groups: Iterable[str],
    *,
    suppress: bool = True,
    help_overrides: Mapping[str, str] | None = None,
) -> None:
    """Add the options of ``groups`` to ``parser`` (``suppress``: no default at all)."""
    overrides = help_overrides or {}
    for option in options_in(groups):
        parser.add_argument(
            *option.flags,
            dest=option.dest,
            default=argparse.SUPPRESS if suppress else None,
            help=overrides.get(option.dest, option.help),
            **option.kwargs,
        )


def parent(*groups: str, suppress: bool = True) -> argparse.ArgumentParser:
    """A parser holding the options of ``groups``, to pass as ``parents=[...]``."""
    holder = argparse.ArgumentParser(add_help=False)
    add_options(holder, groups, suppress=suppress)
    return holder


def every_option_unset() -> dict[str, None]:
    """``set_defaults`` for a top-level parser: every option's name is present, None (not given)."""
    return {option.dest: None for option in OPTIONS}


def flags_of(args: argparse.Namespace) -> dict[str, Any]:
    """The table's options as parsed (None: not given), for ``Settings.resolve``."""
    return {option.dest: getattr(args, option.dest, None) for option in OPTIONS}


Handler = Callable[..., int]


class SilentFormatter(argparse.HelpFormatter):
    """The formatter of parsers that never print (the one-command parser hands help, usage and
    errors to the full one): the width argparse uses without a terminal (80 columns, less 2),
    instead of asking the terminal for it (``shutil``, with the compression modules it imports,
    is a millisecond and a half of every start)."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        super().__init__(prog, indent_increment, max_help_position, width or 78)


class CommandRegistry:
    """Adds subcommands to a parser: each with the common options, its groups and its handler."""

    def __init__(self, subparsers: Any, *, only: str | None = None) -> None:
        """``only``: build that command's parser alone (the others share one detached parser
        that nothing parses with, so their registration code runs unchanged)."""
        self._subparsers = subparsers
        self.only = only
        # One parent parser per group, shared by every command that takes it (argparse copies
        # the actions by reference): building the parser is part of every command's start-up.
        self._parents: dict[str, argparse.ArgumentParser] = {}
        self._detached: argparse.ArgumentParser | None = None

    def group_parent(self, group: str) -> argparse.ArgumentParser:
        """The (shared) parent parser of one option group, for ``parents=[...]``."""
        holder = self._parents.get(group)
        if holder is None:
            holder = self._parents[group] = parent(group)
        return holder

    def add(
        self,
        name: str,
        help_text: str,
        func: Handler,
        groups: Sequence[str] = (),
    ) -> argparse.ArgumentParser:
        every_group = dict.fromkeys((*COMMON, *groups))
        if self.only is not None:
            if name != self.only:
                return self._detached_parser()
            # One command: its options added directly (a parent parser per group would be three
            # more parsers to build for the one that parses).
            sub: argparse.ArgumentParser = self._subparsers.add_parser(
                name, help=help_text, description=help_text
            )
            for group in every_group:
                add_options(sub, [group])
        else:
            sub = self._subparsers.add_parser(
                name,
                help=help_text,
                description=help_text,
                parents=[self.group_parent(group) for group in every_group],
            )
        sub.set_defaults(func=func)
        return sub

    def _detached_parser(self) -> argparse.ArgumentParser:
        """The one parser the commands not chosen add their arguments to (conflicts resolved:
        several define the same flag, e.g. ``--to``)."""
        if self._detached is None:
            self._detached = argparse.ArgumentParser(
                add_help=False, conflict_handler="resolve", formatter_class=SilentFormatter
            )
        return self._detached
