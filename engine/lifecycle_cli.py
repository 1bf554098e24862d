"""The ``stamp``, ``unmark``, ``repair`` and ``baseline`` commands (see ``engine.lifecycle``).

Each needs ``--reason``, shows what it will change (a dry run of the real thing), and asks for the
version to be typed on a terminal; without a terminal it needs ``--yes``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.errors import EXIT_BAD_INPUT, EXIT_FAILED, MetamigrateError

if TYPE_CHECKING:
    from engine.cli import Output
    from engine.lifecycle import LifecycleResult
    from engine.manager import MigrationManager
    from engine.options import CommandRegistry


class LifecycleCliError(MetamigrateError):
    exit_code = EXIT_BAD_INPUT


HELP = {
    "stamp": "Record versions 1..N as applied, and none above, without running any code.",
    "unmark": "Forget that the newest applied version N was applied (its down is not run).",
    "repair": "Accept an intended edit of applied migration N, or clear an unfinished attempt.",
    "baseline": "Adopt an existing database at --version N after checking its schema.",
}


def _common(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--reason",
        metavar="TEXT",
        default=None,
        help="why the bookkeeping is changed by hand (required; kept in the history)",
    )
    sub.add_argument(
        "--yes",
        action="store_true",
        help="do not ask for confirmation (required without a terminal)",
    )


def _version(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a version number") from None


def register(
    commands: CommandRegistry, manager_for: Callable[[argparse.Namespace, Output], MigrationManager]
) -> None:
    """Add stamp, unmark, repair and baseline (``manager_for`` builds the CLI's manager)."""
    from engine.cli import _target

    def run(action: str) -> Callable[[argparse.Namespace, Output], int]:
        return lambda args, out: run_command(action, args, out, manager_for(args, out))

    stamp = commands.add("stamp", HELP["stamp"], run("stamp"))
    stamp.add_argument("to", type=_target, metavar="N", help="the version to record (0: none)")
    _common(stamp)
    unmark = commands.add("unmark", HELP["unmark"], run("unmark"))
    unmark.add_argument("to", type=_version, metavar="N", help="the newest applied version")
    _common(unmark)
    repair = commands.add("repair", HELP["repair"], run("repair"))
    repair.add_argument("to", type=_version, metavar="VERSION", help="the migration to repair")
    _common(repair)
    baseline = commands.add("baseline", HELP["baseline"], run("baseline"))
    baseline.add_argument(
        "--version",
        dest="to",
        type=_target,
        metavar="N",
        required=True,
        help="the version the existing schema is at",
    )
    baseline.add_argument(
        "--force",
        action="store_true",
        help="adopt even when the schema differs from what 1..N produce (recorded)",
    )
    _common(baseline)


def _run(
    manager: MigrationManager, action: str, args: argparse.Namespace, *, dry_run: bool
) -> LifecycleResult:
    if action == "stamp":
        return manager.stamp(args.to, reason=args.reason, dry_run=dry_run)
    if action == "unmark":
        return manager.unmark(args.to, reason=args.reason, dry_run=dry_run)
    if action == "repair":
        return manager.repair(args.to, reason=args.reason, dry_run=dry_run)
    return manager.baseline(
        args.to, reason=args.reason, force=getattr(args, "force", False), dry_run=dry_run
    )


def run_command(
    action: str, args: argparse.Namespace, out: Output, manager: MigrationManager
) -> int:
    """One lifecycle command: preview, confirm, apply, report."""
    from engine.lifecycle import BaselineMismatchError

    try:
        preview = _run(manager, action, args, dry_run=True)
    except BaselineMismatchError as exc:
        if out.as_json:
            import json

            sys.stdout.write(
                json.dumps(
                    {
                        "error": exc.message,
                        "exit_code": exc.exit_code,
                        "differences": exc.differences,
                    }
                )
                + "\n"
            )
            sys.stderr.write(f"error: {exc.message}\n")
            return exc.exit_code
        out.error(
            f"Cannot baseline at version {args.to}: the live schema differs from what "
            f"migrations 1..{args.to} produce; nothing was changed."
        )
        for difference in exc.differences:
            out.console.print(f"  {difference}", markup=False)
        out.console.print(
            "('added': only in the live database; 'dropped': only in the migrations.) Fix the "
            "schema, choose another version, or pass --force to accept these differences "
            "(recorded in the history).",
            markup=False,
        )
        return exc.exit_code
    if preview.nothing_to_do:
        return _report(out, preview, action)
    if not args.yes:
        if not sys.stdin.isatty():
            raise LifecycleCliError(
                f"{action} asks for confirmation: pass --yes when stdin is not a terminal."
            )
        if not _confirm(out, manager, preview, action):
            out.error(
                f"{action.capitalize()} cancelled: the typed version did not match; "
                "nothing was changed."
            )
            return EXIT_FAILED
    result = _run(manager, action, args, dry_run=False)
    return _report(out, result, action)


def _describe(out: Output, result: LifecycleResult) -> None:
    console = out.console
    for change in result.changes:
        console.print(f"  {change.version:04d}_{change.name}: {change.note}", markup=False)
    if result.differences:
        console.print(
            f"  the live schema differs from what migrations 1..{result.to_version} produce:",
            markup=False,
        )
        for difference in result.differences:
            console.print(f"    {difference}", markup=False)
    if result.schema_note:
        console.print(f"  {result.schema_note}", markup=False)


def _confirm(out: Output, manager: MigrationManager, preview: LifecycleResult, action: str) -> bool:
    console = out.console
    console.print(
        f"{action.capitalize()} on {manager.display} (version {preview.from_version} -> "
        f"{preview.to_version}), without running any migration code:",
        markup=False,
    )
    _describe(out, preview)
    console.print(f"  reason: {preview.reason}", markup=False)
    shown = preview.to_version if action in ("stamp", "baseline") else preview.changes[0].version
    answer = console.input(f"Type the version ({shown}) to confirm: ")
    return answer.strip() == str(shown)


def _report(out: Output, result: LifecycleResult, action: str) -> int:
    if out.as_json:
        out.json(result.to_dict())
        return 0
    if result.nothing_to_do:
        out.console.print(
            f"Nothing to do: {action} would change nothing (the database is at version "
            f"{result.from_version}).",
            markup=False,
        )
        return 0
    out.console.print(
        f"Done: {action} from version {result.from_version} to {result.to_version} "
        f"({len(result.changes)} change(s), recorded in the history).",
        markup=False,
    )
    _describe(out, result)
    return 0
