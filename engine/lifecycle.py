"""Changing the bookkeeping by hand: ``stamp``, ``unmark``, ``repair`` and ``baseline``.

None of them runs migration code. Each one needs a reason, takes the write lock, changes the
bookkeeping in one transaction, and writes one history row per version it touched, with its own
direction (stamp, unmark, repair, baseline), who and where (user, host, pid), the operator's
reason and what the engine did (``note``). ``verify`` lists them. Each can be previewed with
``dry_run=True``: the same work, rolled back, so a confirmation shows exactly what will happen.

- ``stamp N``: record versions 1..N as applied and nothing above, as Alembic's ``stamp``; the schema
  that 1..N produce on a scratch database is recorded as N's, so ``verify`` then tells how the live
  schema differs from it.
- ``unmark N``: forget that the newest applied version N was applied (its down is not run).
- ``repair V``: accept an intended edit of applied migration V (record the code's checksum now), or
  clear an attempt on V that began outside a transaction and never finished.
- ``baseline N``: adopt a database no migration ever ran on: run 1..N on a scratch database,
  compare its schema description with the live one, and mark 1..N applied only when they match
  (``force=True`` accepts the differences, and the history says so).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from engine.backends.base import Backend
from engine.errors import EXIT_BAD_INPUT, MetamigrateError, ReadOnlyDatabaseError
from engine.recorder import Recorder, utc_now

if TYPE_CHECKING:
    from engine.manager import MigrationManager

Action = Literal["stamp", "unmark", "repair", "baseline"]
ACTIONS: tuple[Action, ...] = ("stamp", "unmark", "repair", "baseline")


class LifecycleError(MetamigrateError):
    """A stamp, unmark, repair or baseline was refused; nothing was changed."""


class LifecycleUsageError(LifecycleError):
    exit_code = EXIT_BAD_INPUT


class BaselineMismatchError(LifecycleError):
    """The live schema is not what migrations 1..N produce: ``differences`` says how."""

    def __init__(self, message: str, differences: list[str]) -> None:
        super().__init__(message)
        self.differences = differences


@dataclass(frozen=True)
class LifecycleChange:
    """One version whose bookkeeping changed, and how (``note``)."""

    version: int
    name: str
    note: str

    def to_dict(self) -> dict[str, object]:
        return {"version": self.version, "name": self.name, "note": self.note}


@dataclass(frozen=True)
class LifecycleResult:
    """What a stamp, unmark, repair or baseline did (or, with ``dry_run``, would do)."""

    action: Action
    from_version: int
    to_version: int
    reason: str
    changes: tuple[LifecycleChange, ...] = ()
    #: baseline: the differences between the live schema and what 1..N produce (accepted with
    #: force); stamp: how the live schema differs from what 1..N produce (for the operator).
    differences: tuple[str, ...] = ()
    dry_run: bool = False
    #: Why no schema was recorded for the new version, when none could be.
    schema_note: str = ""

    @property
    def nothing_to_do(self) -> bool:
        return not self.changes

    def to_dict(self) -> dict[str, object]:
        return {
            "action": self.action,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "reason": self.reason,
            "changes": [change.to_dict() for change in self.changes],
            "differences": list(self.differences),
            "dry_run": self.dry_run,
            "nothing_to_do": self.nothing_to_do,
            "schema_note": self.schema_note,
        }


@dataclass
class _Expected:
    """The schema migrations 1..N produce on a scratch database (facts), or why it is unknown."""

    facts: list[str] | None
    problem: str = ""
    fingerprint: str = field(default="")


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise LifecycleUsageError(
            "A reason is required (--reason TEXT): say why the bookkeeping is changed by hand; "
            "it is kept in the history."
        )
    return text


def _writable(manager: MigrationManager, action: Action) -> None:
    if manager.read_only:
        raise ReadOnlyDatabaseError(
            f"Database {manager.display} was opened read-only; nothing was changed. Open it "
            f"without --read-only to {action}."
        )
    manager.require_database()


def _expected_schema(manager: MigrationManager, version: int) -> _Expected:
    """Run 1..``version`` of the code on a scratch database and describe what they produce."""
    from engine.backends.base import fingerprint_of
    from engine.scratch import scratch_like

    if version == 0:
        return _Expected([], fingerprint=fingerprint_of([]))
    with scratch_like(manager) as scratch:
        try:
            scratch.manager.migrate_to(version, backup=False)
        except MetamigrateError as exc:
            return _Expected(None, f"migrations 1..{version} fail on a scratch database: {exc}")
        facts = scratch.facts()
    return _Expected(facts, fingerprint=fingerprint_of(facts))


@dataclass
class _Session:
    """The open write transaction of one lifecycle operation."""

    backend: Backend
    recorder: Recorder
    now: str


@contextlib.contextmanager
def _locked(manager: MigrationManager) -> Iterator[_Session]:
    """Yield a session inside the write transaction; roll back unless the caller committed."""
    with manager.backend() as backend:
        backend.begin_write()
        recorder = Recorder(backend)
        try:
            recorder.ensure_tables()
            yield _Session(backend, recorder, utc_now())
        except backend.driver_errors as exc:
            backend.rollback()
            raise backend.translate_error(exc, action="write") from exc
        finally:
            backend.rollback()


def _finish(
    session: _Session,
    action: Action,
    reason: str,
    changes: list[LifecycleChange],
    *,
    new_version: int,
    dry_run: bool,
) -> None:
    """History rows and the version marker, then commit (or roll back for a dry run)."""
    for change in changes:
        session.recorder.append_history(
            version=change.version,
            name=change.name,
            direction=action,
            started_at=session.now,
            finished_at=utc_now(),
            duration_ms=0.0,
            success=True,
            error=None,
            reason=reason,
            note=change.note,
        )
    session.backend.write_version_marker(new_version)
    if dry_run or not changes:
        session.backend.rollback()
        return
    session.backend.commit()


def _mark_applied(
    manager: MigrationManager, session: _Session, version: int, note: str
) -> LifecycleChange:
    registry = manager.registry
    description, reversible = registry.header_of(version)
    entry = registry.file_of(version)
    session.recorder.record_applied(
        version=version,
        name=registry.name_of(version),
        description=description,
        checksum=registry.checksum_of(version),
        source_key=entry.stat_key if entry else None,
        reversible=reversible,
        fingerprint=None,
        applied_at=session.now,
        duration_ms=0.0,
    )
    return LifecycleChange(version, registry.name_of(version), note)


def _record_expected(session: _Session, version: int, expected: _Expected) -> str:
    """Record what 1..``version`` produce as ``version``'s schema; why not, when it cannot."""
    from engine.drift import encode

    if version == 0:
        return ""
    if expected.facts is None:
        return f"no schema recorded for version {version}: {expected.problem}"
    session.recorder.record_schema(version, expected.fingerprint, encode(expected.facts))
    return ""


# -- the operations ---------------------------------------------------------------------------


def stamp(
    manager: MigrationManager, version: int | str, *, reason: str | None, dry_run: bool = False
) -> LifecycleResult:
    """Record exactly versions 1..``version`` as applied without running any code."""
    from engine.drift import sentences

    why = _reason(reason)
    _writable(manager, "stamp")
    target = manager.resolve_target(version)
    expected = _expected_schema(manager, target)
    with _locked(manager) as session:
        applied = session.recorder.applied()
        current = max(applied, default=0)
        changes = [
            _mark_applied(manager, session, v, "marked applied without running its up")
            for v in range(1, target + 1)
            if v not in applied
        ]
        for v in sorted((v for v in applied if v > target), reverse=True):
            session.recorder.record_unapplied(v)
            changes.append(
                LifecycleChange(v, applied[v].name, "mark removed without running its down")
            )
        schema_note = _record_expected(session, target, expected) if changes else ""
        differences: list[str] = []
        if expected.facts is not None:
            differences = sentences(expected.facts, list(session.backend.describe_schema().facts))
        _finish(session, "stamp", why, changes, new_version=target, dry_run=dry_run)
        return LifecycleResult(
            "stamp",
            current,
            target if changes else current,
            why,
            tuple(changes),
            tuple(differences),
            dry_run,
            schema_note,
        )


def unmark(
    manager: MigrationManager, version: int, *, reason: str | None, dry_run: bool = False
) -> LifecycleResult:
    """Forget that ``version`` (the newest applied) was applied, without running its down."""
    why = _reason(reason)
    _writable(manager, "unmark")
    with _locked(manager) as session:
        applied = session.recorder.applied()
        current = max(applied, default=0)
        if version not in applied:
            raise LifecycleError(
                f"Version {version} is not recorded as applied (the database is at version "
                f"{current}); nothing was changed."
            )
        if version != current:
            raise LifecycleError(
                f"Version {version} is below the newest applied version {current}; unmarking "
                f"it alone would leave a gap. Use `stamp {version - 1}` to unmark "
                f"{version}..{current}; nothing was changed."
            )
        session.recorder.record_unapplied(version)
        below = max((v for v in applied if v < version), default=0)
        change = LifecycleChange(
            version, applied[version].name, "mark removed without running its down"
        )
        _finish(session, "unmark", why, [change], new_version=below, dry_run=dry_run)
        return LifecycleResult("unmark", current, below, why, (change,), dry_run=dry_run)


def repair(
    manager: MigrationManager, version: int, *, reason: str | None, dry_run: bool = False
) -> LifecycleResult:
    """Accept the edited code of applied ``version`` (its checksum now), and clear attempts on it
    that began outside a transaction and never finished."""
    why = _reason(reason)
    _writable(manager, "repair")
    registry = manager.registry
    if version not in registry:
        raise LifecycleUsageError(
            f"There is no migration {version} in {registry.source}; repair works on versions the "
            "code has."
        )
    with _locked(manager) as session:
        applied = session.recorder.applied()
        current = max(applied, default=0)
        name = registry.name_of(version)
        changes: list[LifecycleChange] = []
        for history_id, started_at in session.recorder.unfinished_attempts(version):
            session.recorder.close_attempt(
                history_id, "interrupted outside a transaction; cleared by repair"
            )
            changes.append(
                LifecycleChange(
                    version, name, f"cleared the unfinished attempt started at {started_at}"
                )
            )
        row = applied.get(version)
        if row is None and not changes:
            raise LifecycleError(
                f"Version {version} is not applied and has no unfinished attempt; there is "
                "nothing to repair (stamp records a version as applied)."
            )
        if row is not None:
            now = registry.checksum_of(version)
            entry = registry.file_of(version)
            if now != row.checksum:
                session.recorder.set_checksum(version, now, entry.stat_key if entry else None)
                changes.append(
                    LifecycleChange(
                        version,
                        name,
                        f"accepted the edited code: checksum {row.checksum} -> {now}",
                    )
                )
        _finish(session, "repair", why, changes, new_version=current, dry_run=dry_run)
        return LifecycleResult("repair", current, current, why, tuple(changes), dry_run=dry_run)


def baseline(
    manager: MigrationManager,
    version: int | str,
    *,
    reason: str | None,
    force: bool = False,
    dry_run: bool = False,
) -> LifecycleResult:
    """Adopt an unmanaged database at ``version``: mark 1..N applied without running them, once
    its live schema is checked to be what 1..N produce on a scratch database."""
    from engine.backends.base import fingerprint_of
    from engine.drift import encode, sentences

    why = _reason(reason)
    _writable(manager, "baseline")
    target = manager.resolve_target(version)
    if target < 1:
        raise LifecycleUsageError(
            "baseline needs --version N of 1 or more: the version the existing schema is at."
        )
    expected = _expected_schema(manager, target)
    if expected.facts is None and not force:
        raise LifecycleError(
            f"Cannot check the baseline: {expected.problem}. Nothing was changed; fix the "
            "migrations, or pass --force to adopt the database unchecked (recorded)."
        )
    with _locked(manager) as session:
        applied = session.recorder.applied()
        if applied:
            raise LifecycleError(
                f"Database {manager.display} is already managed (version {max(applied)} is "
                "recorded); baseline adopts databases no migration ran on. Use stamp to change "
                "the recorded version; nothing was changed."
            )
        live = list(session.backend.describe_schema().facts)
        differences = sentences(expected.facts, live) if expected.facts is not None else []
        if differences and not force:
            raise BaselineMismatchError(
                f"Cannot baseline at version {target}: the live schema differs from what "
                f"migrations 1..{target} produce ({len(differences)} difference(s); 'added' is "
                f"only in the live database, 'dropped' only in the migrations): "
                f"{'; '.join(differences)}. Nothing was changed; fix the schema, choose another "
                "version, or pass --force to accept the differences (recorded in the history).",
                differences,
            )
        if expected.facts is None:
            how = f"adopted unchecked (--force: {expected.problem})"
        elif differences:
            how = f"adopted with --force: {len(differences)} difference(s) accepted: " + "; ".join(
                differences
            )
        else:
            how = f"adopted: the live schema matches what migrations 1..{target} produce"
        changes = [
            _mark_applied(manager, session, v, f"marked applied without running its up; {how}")
            for v in range(1, target + 1)
        ]
        # The live schema is what the operator adopted: drift is measured from it from now on.
        session.recorder.record_schema(target, fingerprint_of(live), encode(live))
        _finish(session, "baseline", why, changes, new_version=target, dry_run=dry_run)
        return LifecycleResult(
            "baseline", 0, target, why, tuple(changes), tuple(differences), dry_run
        )
