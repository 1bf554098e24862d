"""The ``metamigrate`` command line.

Exit codes: 0 success, ready, or nothing to do; 1 not ready or the operation failed; 2 bad usage or
bad input. Errors are printed as one sentence on stderr, never as a traceback. Rich is imported
only for human output, so ``--json`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from engine.errors import EXIT_BAD_INPUT, EXIT_FAILED, MetamigrateError
from engine.options import (
    COMMON,
    CommandRegistry,
    SilentFormatter,
    add_options,
    every_option_unset,
    flags_of,
    whole,
)
from engine.settings import DEFAULT_DB, Settings

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: what status imports must not load typing

if TYPE_CHECKING:
    from typing import Any

    from rich.console import Console

    from engine.events import Event
    from engine.manager import MigrationManager
    from engine.targets import Target

__all__ = ["DEFAULT_DB", "Output", "build_parser", "main", "parse_args", "register", "run"]


#: The width given to Rich when the output is not a terminal: wide enough that no sentence, path
#: or table row is ever hard-wrapped (tables keep their natural width; they do not expand).
UNWRAPPED_WIDTH = 10_000


def make_console(*, stderr: bool = False) -> Console:
    """A Rich console that wraps at the terminal's width, and never when piped or redirected."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, highlight=False)
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=UNWRAPPED_WIDTH)


class Output:
    """Human output through Rich (loaded on first use), or JSON on stdout."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._console: Console | None = None
        self._errors: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            self._console = make_console()
        return self._console

    def say(self, markup: str | Callable[[], str], plain: str, *, stderr: bool = False) -> None:
        """One line for a person: ``markup`` through Rich on a terminal (colour, wrapping), else
        ``plain``, the text Rich would print there, without importing Rich (~20 ms of a
        command's start) for one line. ``markup`` may be a function (escaping needs Rich)."""
        stream = sys.stderr if stderr else sys.stdout
        if not stream.isatty() and not os.environ.get("FORCE_COLOR"):
            stream.write(plain + "\n")
            return
        text = markup if isinstance(markup, str) else markup()
        (make_console(stderr=True) if stderr else self.console).print(text)

    def clip(self, width: int) -> int | None:
        """A column's maximum width on a terminal; none when piped (nothing is cut short)."""
        return width if self.console.is_terminal else None

    def error(self, message: str) -> None:
        if self.as_json:
            sys.stderr.write(f"error: {message}\n")
            return
        if self._errors is None:
            self._errors = make_console(stderr=True)
        self._errors.print(f"[bold red]error:[/] {_escape(message)}")

    def json(self, payload: Any) -> None:
        # Indented only for a person: the compact form uses json's C encoder, much faster.
        indent = 2 if sys.stdout.isatty() else None
        sys.stdout.write(json.dumps(payload, indent=indent) + "\n")


def _shown(location: str) -> str:
    """A database location for output: URLs with their password masked."""
    from engine.backends import display_location

    return display_location(location)


def _short_time(iso: str | None) -> str:
    """'2026-11-26T03:32:21.723Z' -> '2026-11-26 03:32:21' (UTC) for tables."""
    from engine.formatting import format_timestamp

    return format_timestamp(iso, seconds=True)


def _escaped_line(text: str) -> str:
    """An indented line of plain text, as Rich markup."""
    return f"  {_escape(text)}"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


# -- argument parsing ----------------------------------------------------------------------------


def _target(text: str) -> Target:
    """``--to``: a version, steps from the current one (+2, -1), latest or base."""
    from engine.targets import parse_target

    try:
        return parse_target(text)
    except MetamigrateError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


#: The options of commands that write (and so back up first, and can rehearse).
WRITING_GROUPS = ("backup", "backup-folder", "keep", "rehearse")


def register(commands: CommandRegistry) -> None:
    """The core commands: status, plan, migrate, rollback, verify, history, ensure-ready, new,
    console (each with the option groups it takes, from ``engine.options``)."""
    commands.add(
        "status", "Show every migration and whether it is applied.", cmd_status, ("catalog",)
    )
    commands.add(
        "current", "Print the database's current version (a number, for scripts).", cmd_current
    )
    plan = commands.add(
        "plan",
        "Show the steps a migrate or rollback to --to would run.",
        cmd_plan,
        ("backup-folder",),
    )
    plan.add_argument(
        "--to", type=_target, metavar="N", help="target version, or +N/-N steps (default: latest)"
    )
    migrate = commands.add(
        "migrate",
        "Apply pending migrations, each in its own transaction.",
        cmd_migrate,
        WRITING_GROUPS,
    )
    migrate.add_argument(
        "--to", type=_target, metavar="N", help="stop at version N, or +N steps from the current"
    )
    migrate.add_argument(
        "--atomic",
        action="store_true",
        help="run the whole plan in one transaction (all or nothing)",
    )
    migrate.add_argument(
        "--sql",
        action="store_true",
        help="print the SQL the plan would run, as a script to review (nothing is changed)",
    )
    rollback = commands.add(
        "rollback",
        "Undo applied migrations down to --to (0: empty schema).",
        cmd_rollback,
        WRITING_GROUPS,
    )
    rollback.add_argument(
        "--to",
        type=_target,
        metavar="N",
        required=True,
        help="target version, or -N steps back from the current (-1: undo the newest)",
    )
    rollback.add_argument(
        "--yes",
        action="store_true",
        help="do not ask for confirmation (required without a terminal)",
    )
    rollback.add_argument(
        "--atomic", action="store_true", help="undo the whole plan in one transaction"
    )
    rollback.add_argument(
        "--sql",
        action="store_true",
        help="print the SQL the rollback would run, as a script to review (nothing is changed)",
    )
    rollback.add_argument(
        "--force",
        action="store_true",
        help="with --yes, skip the typed confirmation even when the rollback destroys data",
    )
    commands.add(
        "verify",
        "Check integrity, foreign keys, edited migrations and schema drift.",
        cmd_verify,
        ("catalog",),
    )
    history = commands.add(
        "history", "Show every attempt to apply or undo a migration, newest first.", cmd_history
    )
    history.add_argument(
        "--limit", type=whole(1), default=None, metavar="N", help="show the newest N"
    )
    ready = commands.add(
        "ensure-ready",
        "Exit 0 only if the database is ready for this code.",
        cmd_ensure_ready,
        ("catalog",),
    )
    ready.add_argument("--migrate", action="store_true", help="apply pending migrations first")
    new = commands.add("new", "Create the next numbered migration file.", cmd_new)
    new.add_argument("name", help="what the migration does, e.g. add_user_email")
    new.add_argument("--dir", required=True, type=Path, help="folder of migration files")
    lint = commands.add(
        "lint",
        "Check the pending migrations before deploying them (destructive SQL, downs, locks).",
        cmd_lint,
    )
    lint.add_argument(
        "--all", dest="all_migrations", action="store_true", help="check every migration"
    )
    commands.add(
        "config",
        "Show the settings in force and where each came from (flag, environment, file, default).",
        cmd_config,
        ("catalog", "backup-folder", "keep"),
    )
    commands.add(
        "console",
        "Open the operations console (needs the 'console' extra).",
        cmd_console,
        ("catalog", "backup-folder"),
    )


#: The module that registers each command, so that a command's parser can be built alone (a test
#: checks this table against the full parser).
COMMAND_MODULES: dict[str, str] = {
    **dict.fromkeys(
        (
            "status",
            "current",
            "plan",
            "migrate",
            "rollback",
            "verify",
            "history",
            "ensure-ready",
            "new",
            "lint",
            "config",
            "console",
        ),
        "engine.cli",
    ),
    "catalog": "engine.metadata.cli",
    **dict.fromkeys(("backup", "backups", "restore"), "engine.safety_cli"),
    **dict.fromkeys(("stamp", "unmark", "repair", "baseline"), "engine.lifecycle_cli"),
}


class _NotLean(Exception):
    """The one-command parser met something only the full parser answers (help, an error)."""


class _LeanParser(argparse.ArgumentParser):
    """A parser that, instead of printing help, usage or an error, hands over to the full one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", SilentFormatter)  # (it never prints)
        super().__init__(*args, **kwargs)

    def print_help(self, file: Any = None) -> None:
        raise _NotLean

    def print_usage(self, file: Any = None) -> None:
        raise _NotLean

    def error(self, message: str) -> Any:
        raise _NotLean

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        raise _NotLean


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; ``only``: with that command's subparser alone (and, instead
    of help or an error, ``_NotLean``), which is all a run of that command needs to parse."""
    parser = (_LeanParser if only else argparse.ArgumentParser)(
        prog="metamigrate",
        description="Transactional Python migrations for the metadata store.",
    )
    add_options(parser, COMMON, suppress=False)
    # Every option's name exists (None: not given) whichever command takes it.
    parser.set_defaults(**every_option_unset())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    commands = CommandRegistry(subparsers, only=only)
    owner = COMMAND_MODULES.get(only) if only else None
    if owner in (None, "engine.cli"):
        register(commands)
    if owner in (None, "engine.metadata.cli"):
        from engine.metadata.cli import register as register_catalog

        register_catalog(commands)  # catalog list | check
    if owner in (None, "engine.safety_cli"):
        from engine.safety_cli import register as register_safety

        register_safety(commands, _manager)  # backup, backups, restore
    if owner in (None, "engine.lifecycle_cli"):
        from engine.lifecycle_cli import register as register_lifecycle

        register_lifecycle(commands, _manager)  # stamp, unmark, repair, baseline
    return parser


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse with the chosen command's parser alone (building every command's costs more than
    a status of a thousand migrations); the full parser whenever that one would print help,
    usage or an error, or the first command name in ``argv`` was not the command."""
    words = list(sys.argv[1:] if argv is None else argv)
    chosen = next((word for word in words if word in COMMAND_MODULES), None)
    if chosen is not None:
        try:
            return build_parser(only=chosen).parse_args(words)
        except _NotLean:
            pass
    return build_parser().parse_args(words)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse, then resolve the settings once (flags, environment, configuration file, defaults):
    ``args.settings``, with each setting also on ``args`` under its option name, and the file
    read (or None) as ``args.config_file``."""
    from engine.config import load_settings

    args = _parse(argv)
    given = flags_of(args)
    settings, config = load_settings(given)
    for name, value in settings.as_dict().items():
        setattr(args, name, value)
    args.settings = settings
    args.config_file = config
    args.given_flags = given  # what the command line itself said (None: not given)
    return args


# -- commands -----------------------------------------------------------------------------------


def _manager(args: argparse.Namespace, out: Output, *, events: bool = False) -> MigrationManager:
    from engine.manager import MigrationManager

    settings: Settings = args.settings
    handler = _progress_printer(out) if events and not out.as_json else None
    options = settings.manager_options()
    # Other sessions of a server see who runs what: "metamigrate migrate user@host pid".
    options["connect_options"] = options["connect_options"].replace(
        application_name=f"metamigrate {args.command}"
    )
    manager = MigrationManager(settings.db, settings.migrations, on_event=handler, **options)
    from engine.metadata.cli import attach_from_args

    attach_from_args(manager, args)  # --base-path: verify() also checks the Iceberg catalog
    return manager


def _reader(args: argparse.Namespace, out: Output) -> MigrationManager:
    """The manager for a command that only reads: a missing database is refused (exit 2), never
    created."""
    manager = _manager(args, out)
    manager.require_database()
    return manager


def _progress_printer(out: Output) -> Callable[[Event], None]:
    from engine.events import (
        BackupTaken,
        MigrationFailed,
        MigrationFinished,
        MigrationSkipped,
        MigrationStarted,
    )

    # One plain line per migration: Rich's rendering, twice per step, cost as much as the engine
    # itself on a thousand migrations. Colour only on a terminal, and never with NO_COLOR.
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    ok = "\x1b[32mok\x1b[0m" if colour else "ok"
    failed = "\x1b[1;31mFAILED\x1b[0m" if colour else "FAILED"
    verb = {"up": "apply", "down": "undo "}
    write = sys.stdout.write

    def show(event: Event) -> None:
        if isinstance(event, BackupTaken):
            write(f"  backup {event.path} (version {event.version}, verified)\n")
        elif isinstance(event, MigrationStarted):
            write(f"  {verb[event.direction]} {event.version:04d}_{event.name} ... ")
            sys.stdout.flush()
        elif isinstance(event, MigrationFinished):
            write(f"{ok} ({event.duration_ms:.1f} ms)\n")
        elif isinstance(event, MigrationSkipped):
            write(f"  skip  {event.version:04d}_{event.name} (another runner did it first)\n")
        elif isinstance(event, MigrationFailed):
            write(f"{failed}\n")
            sys.stdout.flush()

    return show


def cmd_status(args: argparse.Namespace, out: Output) -> int:
    manager = _reader(args, out)
    statuses = manager.status()
    current = max((s.version for s in statuses if s.status != "pending"), default=0)
    from engine.metadata.cli import catalog_report, check_line

    catalog = catalog_report(manager)  # the Iceberg catalog check, with --base-path only
    unfinished = manager.unfinished()  # TRANSACTION = False migrations that never finished
    if out.as_json:
        out.json(
            {
                "database": _shown(args.db),
                "current_version": current,
                "latest_version": manager.latest_version,
                "migrations": [s.to_dict() for s in statuses],
                **({"catalog": catalog.to_dict()} if catalog else {}),
                **({"unfinished": unfinished} if unfinished else {}),
            }
        )
        return 0
    from rich.table import Table

    table = Table(title=f"{_shown(args.db)}: version {current} of {manager.latest_version}")
    # At 80 columns the operator needs version, name, state and checksum; the rest when it fits.
    wide = out.console.width >= 110
    table.add_column("Ver", justify="right", no_wrap=True)
    table.add_column("Name", no_wrap=True, overflow="ellipsis", max_width=out.clip(30))
    if wide:
        # 86 = the other columns with their padding and borders.
        table.add_column(
            "Description",
            overflow="ellipsis",
            no_wrap=True,
            max_width=out.clip(out.console.width - 86),
        )
    table.add_column("Status", no_wrap=True)
    table.add_column("Applied at (UTC)", no_wrap=True)
    if wide:
        table.add_column("ms", justify="right", no_wrap=True)
    table.add_column("Checksum", no_wrap=True)
    marks = {
        "applied": "[green]✓ applied[/]",
        "pending": "[yellow]○ pending[/]",
        "unknown": "[red]? unknown[/]",
    }
    for s in statuses:
        checksum = "" if s.checksum_ok is None else ("ok" if s.checksum_ok else "[red]EDITED[/]")
        cells = [str(s.version), _escape(s.name)]
        if wide:
            cells.append(_escape(s.description))
        cells += [marks[s.status], _short_time(s.applied_at)]
        if wide:
            cells.append("" if s.duration_ms is None else f"{s.duration_ms:.1f}")
        cells.append(checksum)
        table.add_row(*cells)
    out.console.print(table)
    for problem in unfinished:
        out.console.print(f"[bold red]{_escape(problem)}[/]")
    if catalog is not None:
        out.console.print(check_line(catalog))
    return 0


def cmd_current(args: argparse.Namespace, out: Output) -> int:
    manager = _reader(args, out)
    current = manager.current_version
    if out.as_json:
        latest = manager.latest_version
        out.json(
            {
                "database": _shown(args.db),
                "current_version": current,
                "latest_version": latest,
                "pending": max(latest - current, 0),
            }
        )
    else:
        sys.stdout.write(f"{current}\n")
    return 0


def cmd_plan(args: argparse.Namespace, out: Output) -> int:
    from engine.safety_cli import impact_lines, plan_impact

    manager = _reader(args, out)
    _resolve_to(args, manager)
    steps = manager.plan(args.to)
    impact, impact_error = None, None
    going_down = bool(steps) and steps[0].direction == "down" and args.to is not None
    if going_down and all(s.reversible for s in steps):
        impact, impact_error = plan_impact(out, manager, args.to)
    if out.as_json:
        payload: dict[str, Any] = {
            "target": manager.latest_version if args.to is None else args.to,
            "steps": [s.to_dict() for s in steps],
        }
        if impact is not None:
            payload["impact"] = impact.to_dict()
        elif impact_error is not None:
            payload["impact"] = {"error": impact_error}
        out.json(payload)
        return EXIT_FAILED if impact is not None and impact.would_fail else 0
    if not steps:
        out.console.print("Nothing to do: the database is already at the target version.")
        return 0
    for step in steps:
        flag = "" if step.reversible or step.direction == "up" else " [red](irreversible)[/]"
        out.console.print(f"  {step.direction:<4} {step.version:04d}_{_escape(step.name)}{flag}")
    if impact is not None:
        for line in impact_lines(impact):
            out.console.print(line)
    elif impact_error is not None:
        out.console.print(f"[yellow]Impact unknown:[/] {_escape(impact_error)}")
    # A rollback whose rehearsal fails would fail: a script asking for the plan must see that.
    return EXIT_FAILED if impact is not None and impact.would_fail else 0


def cmd_migrate(args: argparse.Namespace, out: Output) -> int:
    from engine.safety_cli import run_rehearsal, warn_if_no_backup

    manager = _manager(args, out, events=not args.sql)
    _resolve_to(args, manager)
    if args.sql:
        return _offline_sql(out, manager, args.to, "up")
    if args.rehearse:
        return run_rehearsal(out, manager, args.to, "migrate")
    warn_if_no_backup(args, out)
    if args.to is None:
        result = manager.migrate_to_latest(atomic=args.atomic)
    else:
        result = manager.migrate_to(args.to, atomic=args.atomic)
    return _report_run(out, result, "migrate", manager.last_backup)


def _offline_sql(out: Output, manager: MigrationManager, target: Any, direction: str) -> int:
    """``--sql``: the plan's statements from a run on a throw-away copy; 1 if it would fail."""
    from engine.offline_sql import offline_script

    script = offline_script(manager, target, "up" if direction == "up" else "down")
    if out.as_json:
        out.json(script.to_dict())
    else:
        sys.stdout.write(script.text())
    if script.error:
        out.error(f"The run would fail: {script.error}")
    return 0 if script.ok else EXIT_FAILED


def _resolve_to(args: argparse.Namespace, manager: MigrationManager) -> None:
    """Turn ``--to`` (a version, +N/-N, latest, base) into the absolute version it means now."""
    if args.to is not None:
        args.to = manager.resolve_target(args.to)


def _report_run(out: Output, result: Any, verb: str, backup: Any = None) -> int:
    if out.as_json:
        payload = result.to_dict()
        payload["nothing_to_do"] = result.nothing_to_do
        payload["backup"] = backup.to_dict() if backup is not None else None
        out.json(payload)
        return 0
    if result.nothing_to_do:
        line = f"Nothing to do: the database is already at version {result.to_version}."
        out.say(line, line)
    else:
        done = (
            f"{verb} from version {result.from_version} to {result.to_version} "
            f"({len(result.done)} step(s))."
        )
        out.say(f"[green]Done:[/] {done}", f"Done: {done}")
    return 0


def cmd_rollback(args: argparse.Namespace, out: Output) -> int:
    from engine import safety_cli

    manager = _manager(args, out, events=not args.sql)
    manager.require_database()  # nothing to roll back, and only migrate creates a database
    _resolve_to(args, manager)
    if args.sql:
        return _offline_sql(out, manager, args.to, "down")
    if args.rehearse:
        return safety_cli.run_rehearsal(out, manager, args.to, "rollback")
    steps = manager.plan(args.to, load=True)  # the rollback imports them anyway
    if steps and steps[0].direction == "up":
        raise _usage(f"Version {args.to} is above the current version; use migrate to go up.")
    # What the downs would destroy (the same refusals as rollback). With --yes nothing is shown
    # unless data would be lost, so only that is asked: an empty database is not rehearsed.
    impact = (
        manager.rollback_impact(args.to, details=not args.yes)
        if steps and not (args.yes and args.force)
        else None
    )
    if steps and safety_cli.rollback_needs_typing(args, impact):
        if not sys.stdin.isatty():
            raise safety_cli.refuse_untyped(args, impact)
        if not _confirm_rollback(out, args, steps, impact, safety_cli.backup_notice(args, manager)):
            out.error("Rollback cancelled: the typed version did not match; nothing was changed.")
            return EXIT_FAILED
    safety_cli.warn_if_no_backup(args, out)
    # The version the plan (and the typed confirmation) was made for: if another runner moves
    # the database meanwhile, the engine refuses instead of running a plan nobody saw.
    shown = steps[0].version if steps else args.to
    result = manager.rollback(args.to, atomic=args.atomic, expect_current=shown)
    return _report_run(out, result, "rollback", manager.last_backup)


def _confirm_rollback(
    out: Output,
    args: argparse.Namespace,
    steps: Sequence[Any],
    impact: Any = None,
    notice: str = "",
) -> bool:
    from engine.safety_cli import impact_lines

    console = out.console
    console.print(
        f"[bold red]Rollback of {_shown(args.db)} from version {steps[0].version} to version "
        f"{args.to}[/] will undo:"
    )
    for step in steps:
        console.print(f"  down {step.version:04d}_{_escape(step.name)}")
    if impact is not None:
        for line in impact_lines(impact):
            console.print(line)
    if notice:
        console.print(notice)
    answer = console.input(f"Type the target version ([bold]{args.to}[/]) to confirm: ")
    return answer.strip() == str(args.to)


def cmd_verify(args: argparse.Namespace, out: Output) -> int:
    report = _reader(args, out).verify()
    if out.as_json:
        out.json(report.to_dict())
    else:
        for check in report.checks:
            if not check.checked:
                mark = "[yellow]- not checked[/]"
            else:
                mark = "[green]✓ pass[/]" if check.passed else "[bold red]✗ FAIL[/]"
            detail = f" ({_escape(check.detail)})" if check.detail else ""
            out.console.print(f"{mark}  {_escape(check.title)}{detail}")
            for problem in check.problems:
                out.console.print(f"        {_escape(problem)}")
            for note in check.notes:
                out.console.print(f"        [dim]{_escape(note)}[/]")
    return 0 if report.ok else EXIT_FAILED


def cmd_history(args: argparse.Namespace, out: Output) -> int:
    entries = _reader(args, out).history(args.limit)
    if out.as_json:
        out.json([e.to_dict() for e in entries])
        return 0
    from rich.table import Table

    table = Table(title="Migration history (newest first)")
    wide = out.console.width >= 110
    table.add_column("When (UTC)", no_wrap=True)
    table.add_column("Migration", no_wrap=True, overflow="ellipsis", max_width=out.clip(30))
    table.add_column("Dir", no_wrap=True)
    table.add_column("Result", no_wrap=True)
    if wide:
        table.add_column("ms", justify="right", no_wrap=True)
        table.add_column("By", no_wrap=True)
    table.add_column("Error or note", overflow="fold")
    for e in entries:
        cells = [
            _short_time(e.started_at),
            f"{e.version:04d}_{_escape(e.name)}",
            e.direction,
            "[green]ok[/]" if e.success else "[red]failed[/]",
        ]
        if wide:
            cells += [f"{e.duration_ms:.1f}", f"{e.user}@{e.host}:{e.pid}"]
        if e.lifecycle:  # a change made by hand: what it did and the operator's reason
            cells.append(_escape(f"{e.note or ''} (reason: {e.reason or 'none given'})"))
        else:
            cells.append(_escape(e.error or ""))
        table.add_row(*cells)
    out.console.print(table)
    return 0


def cmd_ensure_ready(args: argparse.Namespace, out: Output) -> int:
    from engine.deployment import DeploymentManager
    from engine.errors import DeploymentNotReady

    manager = _manager(args, out, events=args.migrate)
    if not args.migrate:
        manager.require_database()  # a check must not create the database it checks
    deployment = DeploymentManager(manager)
    try:
        status = deployment.ensure_ready(migrate=args.migrate)
        code = 0
    except DeploymentNotReady as exc:
        status = exc.status
        code = EXIT_FAILED
    if out.as_json:
        out.json(status.to_dict())
    else:
        # Plain lines when piped (a deploy pipeline, N replicas starting): no Rich to import.
        colour = {"ready": "green", "pending": "yellow", "error": "red"}[status.status]
        summary = (
            f"version {status.current_version} of {status.latest_version}, "
            f"{status.pending_count} pending, schema "
            f"{'valid' if status.schema_valid else 'INVALID'}"
        )
        word = status.status.upper()
        out.say(f"[bold {colour}]{word}[/]: {summary}", f"{word}: {summary}")
        for problem in status.problems:
            out.say(partial(_escaped_line, problem), f"  {problem}")
    return code


MIGRATION_TEMPLATE = '''"""{description}"""

from engine.tx import Tx


def up(tx: Tx) -> None:
    tx.execute("SELECT 1")  # replace with the change


def down(tx: Tx) -> None:
    tx.execute("SELECT 1")  # undo exactly what up did; delete down() if it cannot be undone
'''


def cmd_new(args: argparse.Namespace, out: Output) -> int:
    from engine.loader import scan_directory

    name = args.name.strip().lower().replace("-", "_").replace(" ", "_")
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise _usage(f"Migration name {args.name!r} must use letters, digits and underscores.")
    directory: Path = args.dir
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _usage(f"Cannot create the folder {directory}: {exc.strerror or exc}.") from exc
    existing = scan_directory(directory, package=None)
    version = (existing[-1].version if existing else 0) + 1
    path = directory / f"{version:04d}_{name}.py"
    description = name.replace("_", " ").capitalize() + "."
    path.write_text(MIGRATION_TEMPLATE.format(description=description), encoding="utf-8")
    if out.as_json:
        out.json({"version": version, "path": str(path)})
    else:
        out.console.print(f"Created {path}")
    return 0


def cmd_lint(args: argparse.Namespace, out: Output) -> int:
    from engine.lint import lint

    report = lint(_manager(args, out), all_migrations=args.all_migrations)
    if out.as_json:
        out.json(report.to_dict())
        return 0 if report.ok else EXIT_FAILED
    colours = {"error": "bold red", "warning": "yellow"}
    for finding in report.findings:
        colour = "dim" if finding.accepted else colours[finding.severity]
        out.console.print(f"[{colour}]{_escape(finding.line())}[/]")
    for note in report.notes:
        out.console.print(f"[dim]{_escape(note)}[/]")
    verdict = "green" if report.ok else "bold red"
    out.console.print(f"[{verdict}]{_escape(report.summary())}[/]")
    if report.errors:
        out.console.print(
            "Accept a finding you mean with a comment in the migration file: "
            "# metamigrate-lint: accept RULE -- why",
            markup=False,
        )
    return 0 if report.ok else EXIT_FAILED


def cmd_config(args: argparse.Namespace, out: Output) -> int:
    from engine.config import describe_settings

    rows = describe_settings(args.given_flags, args.settings, args.config_file)
    file = str(args.config_file.path) if args.config_file else None
    if out.as_json:
        out.json({"config_file": file, "settings": [row.to_dict() for row in rows]})
        return 0
    from rich.table import Table

    table = Table(title=f"Settings (configuration file: {file or 'none'})")
    table.add_column("Setting", no_wrap=True)
    table.add_column("Value", overflow="fold")
    table.add_column("From", overflow="fold")
    for row in rows:
        table.add_row(row.name, _escape(row.shown), _escape(row.source))
    out.console.print(table)
    return 0


def cmd_console(args: argparse.Namespace, out: Output) -> int:
    try:
        from console.__main__ import run_console
    except ImportError as exc:
        raise _usage(
            f"The console needs Textual ({exc.name or exc}); install it with "
            "pip install 'metamigrate[console]'."
        ) from exc
    from engine.metadata.cli import base_path_of

    return run_console(
        args.db,
        migrations=args.migrations,
        read_only=args.read_only,
        busy_timeout=args.busy_timeout,
        base_path=base_path_of(args),
        connect_options=args.settings.connect_options(),
        backup_dir=args.settings.backup_dir,
    )


class _UsageError(MetamigrateError):
    exit_code = EXIT_BAD_INPUT


def _usage(message: str) -> _UsageError:
    return _UsageError(message)


def _tolerant_streams() -> None:
    """Output that cannot be encoded never raises UnicodeEncodeError halfway through a line: under
    a non-UTF-8 locale a check mark is printed as its ASCII fallback ("+ pass", "x FAIL"), and
    anything else (a file name that is not valid UTF-8) is escaped."""
    from engine.formatting import ascii_fallback_errors

    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        encoding = str(getattr(stream, "encoding", "") or "").lower().replace("_", "-")
        utf8 = encoding in ("utf-8", "utf8")
        if reconfigure is not None and (getattr(stream, "errors", "") == "strict" or not utf8):
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors=ascii_fallback_errors())


def main(argv: Sequence[str] | None = None) -> int:
    from engine.interrupts import sigint_watchdog

    _tolerant_streams()
    with sigint_watchdog():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    try:
        args = parse_args(argv)
    except MetamigrateError as exc:  # a bad configuration file or environment variable
        words = sys.argv[1:] if argv is None else list(argv)
        if "--json" in words:
            sys.stdout.write(json.dumps({"error": exc.message, "exit_code": exc.exit_code}) + "\n")
        sys.stderr.write(f"error: {exc.message}\n")
        return exc.exit_code
    out = Output(args.json)
    try:
        code: int = args.func(args, out)
        return code
    except MetamigrateError as exc:
        if out.as_json:
            sys.stdout.write(json.dumps({"error": exc.message, "exit_code": exc.exit_code}) + "\n")
        out.error(exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        out.error("Interrupted; any migration in progress was rolled back.")
        return 130
    except OSError as exc:
        # The file system refused a path the command was given (a folder it cannot enter or
        # write, a name over the limit): a sentence, not a traceback.
        from engine.files import exit_code_of, path_problem

        message = path_problem(exc.filename or "a path", exc)
        if out.as_json:
            sys.stdout.write(json.dumps({"error": message, "exit_code": exit_code_of(exc)}) + "\n")
        out.error(message)
        return exit_code_of(exc)
    except SystemExit as exc:
        # Only code the command ran (a migration file, a check) can get here: never a silent
        # success with nothing done.
        message = (
            f"The command was ended by sys.exit({exc.code!r}) in code it ran (a migration?); "
            "check the database with metamigrate status and verify."
        )
        if out.as_json:
            sys.stdout.write(json.dumps({"error": message, "exit_code": EXIT_FAILED}) + "\n")
        out.error(message)
        return EXIT_FAILED


def run() -> None:
    sys.exit(main())
