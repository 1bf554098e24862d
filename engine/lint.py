"""``metamigrate lint``: static checks of migrations before they are deployed.

The pending migrations (or all, with ``all_migrations``) are run on a scratch database built from
the code's own migrations, by the real executor, with every statement traced. From what they run:

- ``drop-table`` / ``drop-column`` (error): an up destroys a table or a column and its data (a
  table rebuild, DROP then RENAME back to the same name, is not a drop);
- ``delete-without-where`` / ``update-without-where`` (error): an up changes every row;
- ``down-does-not-undo-up`` (error): after the down the schema is not what it was before the up,
  or up -> down -> up does not give the schema the first up gave (schema descriptions compared);
- ``fails-on-scratch`` (error): the up or the down fails on the scratch database;
- ``irreversible`` (warning): the migration has no down;

and on PostgreSQL (the target database is ``postgresql://``), from the SQL in the migration's code:
``create-index-not-concurrently``, ``add-column-volatile-default``, ``set-not-null`` (warnings: they
take long locks), ``no-lock-timeout`` (a warning for DDL in a file without ``LOCK_TIMEOUT``).

A finding is accepted by a comment in the migration file naming it::

    # metamigrate-lint: accept drop-table -- the table was retired in 2025

Accepted findings are listed but do not fail the lint. Exit 1 when an error is not accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from engine.errors import MetamigrateError

if TYPE_CHECKING:
    from engine.backends.base import Backend
    from engine.manager import MigrationManager
    from engine.offline_sql import Statement, StatementTracer

Severity = Literal["error", "warning"]

RULES: dict[str, tuple[Severity, str]] = {
    "drop-table": ("error", "drops a table and every row in it"),
    "drop-column": ("error", "drops a column and every value in it"),
    "delete-without-where": ("error", "deletes every row of a table (DELETE without WHERE)"),
    "update-without-where": ("error", "changes every row of a table (UPDATE without WHERE)"),
    "down-does-not-undo-up": ("error", "its down does not undo its up"),
    "fails-on-scratch": ("error", "fails on a scratch database built by the migrations"),
    "irreversible": ("warning", "has no down: a rollback cannot cross it"),
    "create-index-not-concurrently": (
        "warning",
        "CREATE INDEX without CONCURRENTLY blocks writes to the table while it builds",
    ),
    "add-column-volatile-default": (
        "warning",
        "ADD COLUMN with a volatile default rewrites the whole table under an exclusive lock",
    ),
    "set-not-null": (
        "warning",
        "SET NOT NULL scans the table under an exclusive lock; add a validated CHECK first",
    ),
    "no-lock-timeout": (
        "warning",
        "runs DDL without LOCK_TIMEOUT: a wait for its lock queues every query behind it",
    ),
}

_ACCEPT = re.compile(r"#\s*metamigrate-lint:\s*accept\s+([a-z0-9\-,\s]+?)(?:\s+--.*)?$", re.M)
_LITERAL = re.compile(r"'(?:[^']|'')*'")


class LintError(MetamigrateError):
    """The lint itself could not run (the scratch database could not be built)."""


@dataclass(frozen=True)
class Finding:
    version: int
    name: str
    rule: str
    severity: Severity
    message: str
    #: The statement the finding is about ('' when it is about the migration as a whole).
    statement: str = ""
    #: Accepted by a ``# metamigrate-lint: accept RULE`` comment in the migration file.
    accepted: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "name": self.name,
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "statement": self.statement,
            "accepted": self.accepted,
        }

    def line(self) -> str:
        label = f"{self.version:04d}_{self.name}"
        state = " (accepted)" if self.accepted else ""
        where = f": {_shorten(self.statement)}" if self.statement else ""
        return f"{label}: {self.severity} {self.rule}{state}: {self.message}{where}"


@dataclass(frozen=True)
class LintReport:
    checked: tuple[int, ...]
    findings: tuple[Finding, ...] = ()
    #: Versions that could not be checked (an earlier one failed on the scratch database).
    not_checked: tuple[int, ...] = ()
    backend: str = "SQLite"
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error" and not f.accepted]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning" and not f.accepted]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        accepted = sum(1 for f in self.findings if f.accepted)
        if not self.checked:
            return "Nothing to lint: no pending migration."
        return (
            f"{len(self.checked)} migration(s) checked: {len(self.errors)} error(s), "
            f"{len(self.warnings)} warning(s), {accepted} accepted"
            + (f", {len(self.not_checked)} not checked" if self.not_checked else "")
            + "."
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "backend": self.backend,
            "checked": list(self.checked),
            "not_checked": list(self.not_checked),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.to_dict() for f in self.findings],
            "notes": list(self.notes),
            "summary": self.summary(),
        }


def _shorten(sql: str, limit: int = 120) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def accepted_rules(source: str) -> set[str]:
    """The rules a migration file accepts with ``# metamigrate-lint: accept RULE[, RULE]``."""
    rules: set[str] = set()
    for match in _ACCEPT.finditer(source):
        rules.update(r.strip() for r in re.split(r"[,\s]+", match.group(1)) if r.strip())
    return rules


# -- rules on statements ----------------------------------------------------------------------


def statement_findings(statements: list[str]) -> list[tuple[str, str]]:
    """(rule, statement) for the destructive statements of one up."""
    found: list[tuple[str, str]] = []
    bare = [_LITERAL.sub("''", s) for s in statements]
    renamed_to = set()
    for text in bare:
        match = re.search(r"\bALTER\s+TABLE\s+\S+\s+RENAME\s+TO\s+(\S+)", text, re.I)
        if match:
            renamed_to.add(_name(match.group(1)))
    for original, text in zip(statements, bare, strict=True):
        drop = re.match(r"\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(\S+)", text, re.I)
        if drop:
            if _name(drop.group(1)) not in renamed_to:  # a rebuild renames a copy back
                found.append(("drop-table", original))
            continue
        if re.match(r"\s*ALTER\s+TABLE\s+\S+\s+DROP\s+(COLUMN\s+)?(?!CONSTRAINT\b)\S+", text, re.I):
            found.append(("drop-column", original))
        elif re.match(r"\s*DELETE\s+FROM\s+\S+\s*;?\s*$", text, re.I):
            found.append(("delete-without-where", original))
        elif re.match(r"\s*UPDATE\s+\S+\s+SET\b", text, re.I) and not re.search(
            r"\bWHERE\b", text, re.I
        ):
            found.append(("update-without-where", original))
    return found


def _name(identifier: str) -> str:
    return identifier.strip().rstrip(";").strip('"`[]').split(".")[-1].lower()


def postgres_findings(source: str) -> list[tuple[str, str]]:
    """(rule, statement) from the SQL written in a migration's code, for PostgreSQL."""
    import ast

    found: list[tuple[str, str]] = []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return found
    texts = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    ddl = False
    for text in texts:
        for statement in (s.strip() for s in text.split(";") if s.strip()):
            upper = " ".join(statement.upper().split())
            if re.match(r"(CREATE|ALTER|DROP)\b", upper):
                ddl = True
            if re.match(r"CREATE (UNIQUE )?INDEX\b", upper) and "CONCURRENTLY" not in upper:
                found.append(("create-index-not-concurrently", statement))
            if re.search(
                r"\bADD (COLUMN )?.*\bDEFAULT\b.*\b(NOW|RANDOM|CLOCK_TIMESTAMP|GEN_RANDOM_UUID"
                r"|UUID_GENERATE_V4)\s*\(",
                upper,
            ):
                found.append(("add-column-volatile-default", statement))
            if re.search(r"\bALTER COLUMN \S+ SET NOT NULL\b", upper):
                found.append(("set-not-null", statement))
    if (
        ddl
        and not re.search(r"^\s*LOCK_TIMEOUT\s*=", source, re.M)
        and not re.search(r"lock_timeout", source, re.I)
    ):
        found.append(("no-lock-timeout", ""))
    return found


# -- running ----------------------------------------------------------------------------------


def lint(manager: MigrationManager, *, all_migrations: bool = False) -> LintReport:
    """Lint the pending migrations of ``manager`` (every migration with ``all_migrations``)."""
    registry = manager.registry
    if all_migrations:
        versions = list(registry.versions)
    else:
        versions = [s.version for s in manager.plan() if s.direction == "up"]
    postgres = manager.location.lower().startswith(("postgres://", "postgresql"))
    backend_name = "PostgreSQL" if postgres else "SQLite"
    if not versions:
        return LintReport((), backend=backend_name)
    notes: list[str] = []
    if postgres:
        notes.append(
            "The migrations ran in a scratch schema of the database (dropped afterwards); the "
            "PostgreSQL lock rules read the SQL in their code."
        )
    findings: list[Finding] = []
    not_checked: list[int] = []
    checked: list[int] = []
    from engine.backends import open_backend
    from engine.manager import MigrationManager
    from engine.offline_sql import StatementTracer, traced_registry
    from engine.scratch import scratch_like

    tracer = StatementTracer()
    traced = traced_registry(registry, tracer, versions)
    with scratch_like(manager) as place:
        backend = open_backend(place.manager.location, place.manager.connect_options())
        try:
            scratch = MigrationManager(backend, traced, backup=False, on_event=tracer.on_event)
            base = versions[0] - 1
            try:
                scratch.migrate_to(base)
            except MetamigrateError as exc:
                raise LintError(
                    f"Cannot build the scratch database at version {base}: {exc.message}"
                ) from exc
            failed = False
            with backend.trace(tracer):
                for version in versions:
                    if failed:
                        not_checked.append(version)
                        continue
                    checked.append(version)
                    found, failed = _check_one(manager, scratch, backend, tracer, version)
                    findings += found
                    if postgres:
                        findings += _findings_from(
                            manager, version, postgres_findings(_source(manager, version))
                        )
        finally:
            backend.close()
    return LintReport(
        tuple(checked), tuple(findings), tuple(not_checked), backend_name, tuple(notes)
    )


def _source(manager: MigrationManager, version: int) -> str:
    entry = manager.registry.file_of(version)
    if entry is not None:
        return entry.read_source()
    import inspect

    migration = manager.registry.get(version)
    try:
        return inspect.getsource(inspect.getmodule(migration.up) or migration.up)
    except (OSError, TypeError):
        return ""


def _findings_from(
    manager: MigrationManager, version: int, found: list[tuple[str, str]]
) -> list[Finding]:
    accepted = accepted_rules(_source(manager, version)) if found else set()
    name = manager.registry.name_of(version)
    out: list[Finding] = []
    for rule, statement in found:
        severity, message = RULES[rule]
        out.append(Finding(version, name, rule, severity, message, statement, rule in accepted))
    return out


def _describe(backend: Backend) -> list[str]:
    return list(backend.describe_schema().facts)


def _check_one(
    manager: MigrationManager,
    scratch: MigrationManager,
    backend: Backend,
    tracer: StatementTracer,
    version: int,
) -> tuple[list[Finding], bool]:
    """The findings of one migration, and whether it failed (later ones cannot be checked)."""
    from engine.drift import sentences

    migration = manager.registry.get(version)
    found: list[tuple[str, str]] = []
    before = _describe(backend)
    mark = len(tracer.statements)
    try:
        scratch.migrate_to(version)
    except MetamigrateError as exc:
        return _findings_from(manager, version, [("fails-on-scratch", exc.message)]), True
    ups = _own(tracer.statements[mark:])
    found += statement_findings(ups)
    after_up = _describe(backend)
    found += _dropped_by_rebuild(before, after_up, found)
    if migration.down is None:
        found.append(("irreversible", ""))
        return _findings_from(manager, version, found), False
    try:
        scratch.rollback(version - 1)
    except MetamigrateError as exc:
        found.append(("fails-on-scratch", f"down: {exc.message}"))
        return _findings_from(manager, version, found), True
    after_down = _describe(backend)
    left = sentences(before, after_down)
    if left:
        found.append(("down-does-not-undo-up", "after the down: " + "; ".join(left)))
    try:
        scratch.migrate_to(version)
    except MetamigrateError as exc:
        found.append(("fails-on-scratch", f"up after its down: {exc.message}"))
        return _findings_from(manager, version, found), True
    again = sentences(after_up, _describe(backend))
    if again:
        found.append(("down-does-not-undo-up", "up -> down -> up: " + "; ".join(again)))
    return _findings_from(manager, version, found), False


def _dropped_by_rebuild(
    before: list[str], after: list[str], found: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Tables and columns gone after the up that no statement dropped by name (a table rebuilt
    without a column): the schema descriptions tell."""
    from engine.drift import compare

    named = " ".join(statement.lower() for _rule, statement in found)
    extra: list[tuple[str, str]] = []
    for change in compare(before, after):
        if change.change != "dropped" or change.kind not in ("table", "column"):
            continue
        short = change.name.split(".")[-1].lower()
        if short in named:
            continue
        rule = "drop-table" if change.kind == "table" else "drop-column"
        extra.append((rule, f"({change.kind} {change.name} is gone after the up)"))
    return extra


def _own(statements: list[Statement]) -> list[str]:
    return [s.sql for s in statements if not s.bookkeeping]
