"""The CLI's operator-safety parts: backups, restore, rehearsals and the rollback impact.

``engine.cli`` stays the one entry point; this module adds the ``backup``, ``backups`` and
``restore`` commands, the ``--no-backup``/``--backup-dir``/``--keep-backups``/``--rehearse``/
``--force`` options, and the text those print. Rich is only imported for human output.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from engine.backends import display_location
from engine.errors import EXIT_BAD_INPUT, EXIT_FAILED, MetamigrateError

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: plan imports this module at start

if TYPE_CHECKING:
    from engine.backup import BackupInfo
    from engine.cli import Output
    from engine.manager import MigrationManager
    from engine.options import CommandRegistry
    from engine.rehearsal import RehearsalReport, RollbackImpact

#: Commands that write, and so take a backup first unless told not to.
WRITING_COMMANDS = ("migrate", "rollback")

SafetyCommand = Callable[[argparse.Namespace, "Output", "MigrationManager"], int]


class SafetyUsageError(MetamigrateError):
    exit_code = EXIT_BAD_INPUT


def register(
    commands: CommandRegistry, manager_for: Callable[[argparse.Namespace, Output], MigrationManager]
) -> None:
    """The backup commands: backup, backups, restore (``manager_for`` builds the CLI's manager).

    The safety options of migrate/rollback/plan (--no-backup, --backup-dir, --keep-backups,
    --rehearse, --force) are rows of the option table (``engine.options``).
    """

    def run(command: SafetyCommand) -> Callable[[argparse.Namespace, Output], int]:
        return lambda args, out: command(args, out, manager_for(args, out))

    commands.add(
        "backup",
        "Take a verified backup of the database now.",
        run(cmd_backup),
        ("backup-folder", "keep"),
    )
    commands.add(
        "backups",
        "List this database's backups, newest first.",
        run(cmd_backups),
        ("backup-folder",),
    )
    restore = commands.add(
        "restore",
        "Put a backup back in place of the database (the current file is kept).",
        run(cmd_restore),
        ("backup-folder", "keep"),
    )
    restore.add_argument("file", metavar="FILE", help="backup file (path or name in the folder)")
    restore.add_argument(
        "--yes",
        action="store_true",
        help="do not ask for confirmation (required without a terminal)",
    )
    restore.add_argument(
        "--force",
        action="store_true",
        help="PostgreSQL: restore even while other sessions are connected to the database",
    )


def warn(out: Output, message: str) -> None:
    if out.as_json:
        sys.stderr.write(f"warning: {message}\n")
        return
    from engine.cli import _escape

    out.say(
        lambda: f"[bold yellow]warning:[/] {_escape(message)}", f"warning: {message}", stderr=True
    )


def warn_if_no_backup(args: argparse.Namespace, out: Output) -> None:
    if args.no_backup and not args.rehearse:
        warn(
            out,
            "--no-backup: no backup will be taken; if this run goes wrong, the only way back is a "
            "backup you made yourself.",
        )


def backup_line(info: BackupInfo) -> str:
    return f"backup {info.path} (version {info.version}, {_size(info.size)}, verified)"


def _size(size: int) -> str:
    from engine.formatting import format_size

    return format_size(size)


# -- rehearsal -------------------------------------------------------------------------------


def run_rehearsal(out: Output, manager: MigrationManager, target: int | None, verb: str) -> int:
    """``migrate --rehearse`` / ``rollback --to N --rehearse``: 0 when every step would succeed."""
    report = manager.rehearse(target)
    wrong = (verb == "rollback" and report.direction == "up") or (
        verb == "migrate" and report.direction == "down"
    )
    if report.steps and wrong:
        other = "migrate" if verb == "rollback" else "rollback"
        raise SafetyUsageError(
            f"Version {report.target_version} is on the other side of the current version "
            f"{report.from_version}; use {other} to go there."
        )
    if out.as_json:
        out.json(report.to_dict())
        return 0 if report.ok else EXIT_FAILED
    print_rehearsal(out, report)
    return 0 if report.ok else EXIT_FAILED


def print_rehearsal(out: Output, report: RehearsalReport) -> None:
    from rich.markup import escape

    console = out.console
    if report.nothing_to_do:
        console.print(
            f"Nothing to rehearse: the database is already at version {report.target_version}."
        )
        return
    where = (
        "inside a transaction that was rolled back"
        if report.mode == "transaction"
        else "on a throw-away copy"
    )
    console.print(
        f"[bold]Rehearsal[/] of {report.direction} from version {report.from_version} to "
        f"{report.target_version}, {where}:"
    )
    marks = {
        "ok": "[green]ok[/]",
        "failed": "[bold red]WOULD FAIL[/]",
        "not_run": "[dim]not run[/]",
    }
    for step in report.steps:
        console.print(
            f"  {step.direction:<4} {step.version:04d}_{escape(step.name)}  {marks[step.status]}"
            + (
                f"  {step.duration_ms:.1f} ms, {step.rows_changed:,} row(s) changed"
                + (f", {step.rows_lost:,} row(s) lost" if step.direction == "down" else "")
                if step.status != "not_run"
                else ""
            )
        )
        for sql in step.sql:
            console.print(f"       [dim]{escape(' '.join(sql.split()))}[/]")
        if step.error:
            console.print(f"       [red]{escape(step.error)}[/]")
    if report.ok:
        console.print("[green]Every step would succeed.[/] Nothing was changed.")
    elif report.may_have_changed:
        console.print(
            "[bold red]The run would fail[/] at the step above, and that step ended the "
            "rehearsal's transaction: the database may have been changed. Run metamigrate verify."
        )
    else:
        console.print("[bold red]The run would fail[/] at the step above. Nothing was changed.")


# -- rollback impact -------------------------------------------------------------------------


def impact_lines(impact: RollbackImpact) -> list[str]:
    """Rich markup lines describing what a rollback destroys."""
    from rich.markup import escape

    if impact.would_fail:
        return [f"[bold red]The rehearsal of this rollback failed:[/] {escape(impact.error or '')}"]
    if not impact.changes:
        return ["[green]Impact:[/] drops no tables or columns that hold data."]
    lines = ["[bold red]Impact:[/]"]
    lines += [f"  {escape(change)}" for change in impact.changes]
    lines.append(f"  [bold]{impact.rows_lost:,} row(s) in all[/]")
    return lines


def plan_impact(
    out: Output, manager: MigrationManager, target: int
) -> tuple[RollbackImpact | None, str | None]:
    """The impact for ``plan --to N``; a failure to measure it is reported, not raised."""
    try:
        return manager.rollback_impact(target), None
    except MetamigrateError as exc:
        return None, exc.message


def rollback_needs_typing(args: argparse.Namespace, impact: RollbackImpact | None) -> bool:
    """Typed confirmation without --yes, and with --yes too when rows are lost (unless --force)."""
    if not args.yes:
        return True
    return impact is not None and impact.loses_data and not args.force


def refuse_untyped(args: argparse.Namespace, impact: RollbackImpact | None) -> SafetyUsageError:
    if args.yes and impact is not None:
        return SafetyUsageError(
            f"This rollback destroys data ({'; '.join(impact.changes)}); confirm it on a terminal, "
            "or pass --force with --yes."
        )
    return SafetyUsageError(
        "rollback asks for confirmation: pass --yes when stdin is not a terminal."
    )


def backup_notice(args: argparse.Namespace, manager: MigrationManager) -> str:
    if args.no_backup:
        return "[yellow]No backup will be taken (--no-backup).[/]"
    return f"A verified backup will be written to {manager.backups.folder} first."


# -- commands --------------------------------------------------------------------------------


def cmd_backup(args: argparse.Namespace, out: Output, manager: MigrationManager) -> int:
    info = manager.backup()
    if out.as_json:
        out.json(info.to_dict())
    else:
        out.console.print(f"[green]Done:[/] {backup_line(info)}")
    return 0


def cmd_backups(args: argparse.Namespace, out: Output, manager: MigrationManager) -> int:
    backups = manager.list_backups()
    folder = manager.backups.folder
    if out.as_json:
        out.json(
            {
                "database": display_location(args.db),
                "folder": str(folder),
                "backups": [b.to_dict() for b in backups],
            }
        )
        return 0
    if not backups:
        out.console.print(f"No backups of {display_location(args.db)} in {folder}.")
        return 0
    from rich.markup import escape
    from rich.table import Table

    from engine.formatting import format_timestamp

    table = Table(title=f"Backups of {display_location(args.db)} in {folder} (newest first)")
    table.add_column("File", overflow="fold")
    table.add_column("Taken (UTC)", no_wrap=True)
    table.add_column("Ver", justify="right", no_wrap=True)
    table.add_column("Size", justify="right", no_wrap=True)
    table.add_column("Reason", overflow="ellipsis")
    for b in backups:
        table.add_row(
            escape(b.name),
            format_timestamp(b.created_at, seconds=True),
            str(b.version),
            _size(b.size),
            escape(b.reason),
        )
    out.console.print(table)
    return 0


def cmd_restore(args: argparse.Namespace, out: Output, manager: MigrationManager) -> int:
    backups = manager.backups
    path = backups.resolve(args.file)
    info = backups.describe(path)
    if not args.yes:
        if not sys.stdin.isatty():
            raise SafetyUsageError(
                "restore asks for confirmation: pass --yes when stdin is not a terminal."
            )
        console = out.console
        console.print(
            f"[bold red]Restore {display_location(args.db)}[/] from {path}\n"
            f"  backup taken {info.created_at}, version {info.version}, {_size(info.size)}\n"
            f"  the current {'file' if manager.is_file_backed else 'schema'} is kept as a backup "
            "first; changes made since the backup are only in that copy."
        )
        answer = console.input(f"Type the backup's version ([bold]{info.version}[/]) to confirm: ")
        if answer.strip() != str(info.version):
            out.error("Restore cancelled: the typed version did not match; nothing was changed.")
            return EXIT_FAILED
    result = manager.restore(path, force=args.force)
    if out.as_json:
        out.json(result.to_dict())
        return 0
    out.console.print(
        f"[green]Done:[/] restored {result.database} to version {result.version} from {path}."
    )
    if result.replaced is not None:
        what = "file" if manager.is_file_backed else "schema"
        out.console.print(f"  the replaced {what} was kept as a backup: {result.replaced.path}")
    return 0
