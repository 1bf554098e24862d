"""Schema verification: is the database what the applied migrations say it is?

Each check is independent and reports problems as sentences; ``verify`` never writes.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.backends import as_backend
from engine.errors import MetamigrateError
from engine.recorder import Recorder
from engine.records import Record

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: what verify imports must not load typing

if TYPE_CHECKING:
    from typing import Any

    from engine.backends.base import Backend
    from engine.migration import Registry
    from engine.models import MigrationStatus


class CheckResult(Record):
    """One verification check: ``passed`` with the problems found (empty when it passed)."""

    __slots__ = ("checked", "detail", "name", "notes", "passed", "problems", "title")
    name: str
    title: str
    passed: bool
    problems: list[str]
    detail: str
    #: False when the check could not be made (nothing recorded to compare with): then
    #: ``passed`` is False too, so nothing shows it as a pass, but it is no failure either.
    checked: bool
    #: Facts worth showing that are no problem (bookkeeping changes made by hand).
    notes: list[str]

    def __init__(
        self,
        name: str,
        title: str,
        passed: bool,
        problems: list[str] | None = None,
        detail: str = "",
        checked: bool = True,
        notes: list[str] | None = None,
    ) -> None:
        self._set(
            name,
            title,
            passed,
            [] if problems is None else problems,
            detail,
            checked,
            [] if notes is None else notes,
        )

    @property
    def status(self) -> str:
        """ "pass", "FAIL" or "not checked"."""
        if not self.checked:
            return "not checked"
        return "pass" if self.passed else "FAIL"

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "title": self.title,
            "passed": self.passed,
            "status": self.status,
            "problems": list(self.problems),
            "detail": self.detail,
            "notes": list(self.notes),
        }


class VerificationReport(Record):
    __slots__ = ("checks",)
    checks: list[CheckResult]

    def __init__(self, checks: list[CheckResult]) -> None:
        self._set(checks)

    @property
    def ok(self) -> bool:
        """No check failed (a check that could not be made is no failure, and no pass)."""
        return all(check.passed or not check.checked for check in self.checks)

    @property
    def problems(self) -> list[str]:
        return [problem for check in self.checks for problem in check.problems]

    def check(self, name: str) -> CheckResult:
        return next(c for c in self.checks if c.name == name)

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "checks": [check.to_dict() for check in self.checks]}


#: Extra checks (for example the Iceberg catalog) register here: callable(backend) -> result.
ExtraCheck = Callable[["Backend"], CheckResult]


def verify(
    conn: Backend | Any,
    registry: Registry,
    statuses: list[MigrationStatus],
    extra_checks: list[ExtraCheck] | None = None,
    *,
    full_checksums: bool = True,
) -> VerificationReport:
    """Run every check. ``full_checksums=False`` trusts the size/mtime cache for files that did
    not change since they were applied (what ``status`` does): the quick form for a UI refresh.
    ``conn`` is the backend (a raw connection is wrapped)."""
    backend = as_backend(conn)
    integrity = f"Integrity ({backend.capabilities.integrity_check})"
    checks = [
        _guarded(backend, "integrity", integrity, lambda: _integrity(backend)),
        _guarded(backend, "foreign_keys", "Foreign keys", lambda: _foreign_keys(backend)),
        _guarded(backend, "registry", "Code and database agree", lambda: _registry(statuses)),
        _guarded(
            backend,
            "checksums",
            "Applied migrations unchanged",
            lambda: _checksums(backend, registry, full=full_checksums),
        ),
        _guarded(
            backend,
            "schema_drift",
            "Live schema matches the recorded one",
            lambda: _drift(backend),
        ),
        _with_notes(
            _guarded(
                backend, "bookkeeping", "Bookkeeping consistent", lambda: _bookkeeping(backend)
            ),
            _lifecycle_notes(backend),
        ),
    ]
    for extra in extra_checks or []:
        checks.append(extra(backend))
    return VerificationReport(checks)


class NotChecked(Exception):
    """Raised by a check that has nothing to compare with; its message says why."""


def _guarded(
    backend: Backend, name: str, title: str, run: Callable[[], tuple[list[str], str]]
) -> CheckResult:
    try:
        problems, detail = run()
    except NotChecked as exc:
        return CheckResult(name, title, False, [], f"not checked: {exc}", checked=False)
    except MetamigrateError as exc:
        return CheckResult(name, title, False, [f"{title} could not run: {exc.message}"])
    except backend.driver_errors as exc:
        message = backend.translate_error(exc).message
        return CheckResult(name, title, False, [f"{title} could not run: {message}"])
    return CheckResult(name, title, not problems, problems, detail)


def _integrity(backend: Backend) -> tuple[list[str], str]:
    return [f"Integrity check: {p}" for p in backend.integrity_problems()], ""


def _foreign_keys(backend: Backend) -> tuple[list[str], str]:
    problems = backend.foreign_key_problems()
    return [f"Foreign key violation: {p}." for p in problems[:20]], f"{len(problems)} violation(s)"


def _registry(statuses: list[MigrationStatus]) -> tuple[list[str], str]:
    problems: list[str] = []
    unknown = [s.version for s in statuses if s.status == "unknown"]
    if unknown:
        problems.append(
            f"The database is ahead of the code: version(s) {', '.join(map(str, unknown))} are "
            "applied but unknown to these migrations."
        )
    applied = [s.version for s in statuses if s.status != "pending"]
    top = max(applied, default=0)
    below = [s.version for s in statuses if s.status == "pending" and s.version < top]
    if below:
        problems.append(
            f"Version(s) {', '.join(map(str, below))} are pending below applied version {top}: "
            "the database was migrated with different code."
        )
    return problems, ""


def _checksums(conn: Backend, registry: Registry, *, full: bool) -> tuple[list[str], str]:
    problems: list[str] = []
    rows = Recorder(conn).applied()
    for version, row in rows.items():
        if version not in registry:
            continue
        entry = registry.file_of(version)
        if not full and entry is not None and row.source_key == entry.stat_key:
            continue  # untouched since it was applied: the recorded checksum still holds
        if not registry.checksum_matches(version, row.checksum):
            actual = registry.checksum_of(version)
            problems.append(
                f"Migration {version:04d}_{row.name} was edited after it was applied (checksum "
                f"{row.checksum} recorded, {actual} now); restore its code and put the change in a "
                "new migration."
            )
    return problems, f"{len(rows)} applied migration(s) checked"


def _drift(conn: Backend) -> tuple[list[str], str]:
    from engine.backends.base import fingerprint_of
    from engine.drift import sentences

    recorder = Recorder(conn)
    current = recorder.head()[0]
    if current == 0:
        return [], "no migration applied"
    recorded = recorder.recorded_schema(current, with_facts=False)[0]
    if recorded is None:
        raise NotChecked(
            f"no schema recorded for version {current} (applied mid-run, or stamped by an older "
            "engine); the next migrate or stamp records it"
        )
    live_facts = list(conn.describe_schema().facts)
    live = fingerprint_of(live_facts)
    if live == recorded:
        return [], f"fingerprint {live}"
    facts = recorder.recorded_schema(current)[1]
    if facts is None:
        return [
            f"The live schema differs from the one recorded after version {current} "
            f"(fingerprint {recorded} recorded, {live} now): it was changed outside the "
            "migrations."
        ], ""
    changes = sentences(facts, live_facts) or ["the schema differs in a way not described"]
    return [
        f"Schema changed outside the migrations since version {current}: {c}." for c in changes
    ], (f"fingerprint {recorded} recorded, {live} now")


def _lifecycle_notes(conn: Backend) -> list[str]:
    """Bookkeeping changes made by hand (stamp, unmark, repair, baseline), newest first."""
    try:
        entries = [e for e in Recorder(conn).history() if e.lifecycle]
    except conn.driver_errors:
        return []
    notes = [
        f"{e.started_at[:19].replace('T', ' ')} {e.direction} {e.version:04d}_{e.name}: "
        f"{e.note or ''}, by {e.user}@{e.host}, reason: {e.reason or '(none)'}"
        for e in entries[:20]
    ]
    if len(entries) > 20:
        notes.append(f"... and {len(entries) - 20} older change(s) made by hand (see history)")
    return notes


def _with_notes(check: CheckResult, notes: list[str]) -> CheckResult:
    return check.replace(notes=notes) if notes else check


def _bookkeeping(conn: Backend) -> tuple[list[str], str]:
    top, count = Recorder(conn).head()
    problems: list[str] = []
    marker = conn.read_version_marker()
    if marker is not None and marker != top:
        problems.append(
            f"{conn.capabilities.version_marker_name} is {marker} but the highest applied "
            f"version is {top}."
        )
    if count != top:
        problems.append(
            f"{count} versions are recorded but the highest is {top}: some are missing."
        )
    if conn.capabilities.non_transactional:
        from engine.unfinished import unfinished_problems

        problems.extend(unfinished_problems(conn))
    if marker is None:
        return problems, f"{count} version(s) recorded"
    return problems, f"user_version {marker}"
