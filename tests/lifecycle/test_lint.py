"""metamigrate lint: destructive statements, irreversible and broken downs, accepted findings."""

from __future__ import annotations

import json
from pathlib import Path

from engine import MigrationManager, Registry
from engine.cli import main
from engine.lint import accepted_rules, lint, postgres_findings, statement_findings
from tests.conftest import MigrationFiles, table_migration
from tests.lifecycle.helpers import run_cli


def _rules(folder: Path, db: Path) -> list[tuple[int, str, bool]]:
    report = lint(MigrationManager(db, Registry.from_directory(folder)))
    return [(f.version, f.rule, f.accepted) for f in report.findings]


BASE = {"0001_create_a.py": table_migration("a"), "0002_create_b.py": table_migration("b")}


def _with(write_migrations: MigrationFiles, source: str) -> Path:
    return write_migrations({**BASE, "0003_change.py": source})


def test_drop_table_in_an_up_is_an_error(tmp_path: Path, write_migrations: MigrationFiles) -> None:
    folder = _with(
        write_migrations,
        "def up(tx):\n    tx.execute('DROP TABLE b')\n\n\n"
        "def down(tx):\n    tx.execute('CREATE TABLE b (id INTEGER PRIMARY KEY, value TEXT)')\n",
    )
    assert _rules(folder, tmp_path / "x.db") == [(3, "drop-table", False)]


def test_drop_column_update_and_delete_without_where_are_errors(
    tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = _with(
        write_migrations,
        "def up(tx):\n"
        "    tx.execute(\"UPDATE a SET value = 'x'\")\n"
        "    tx.execute('DELETE FROM b')\n"
        "    tx.execute('ALTER TABLE a DROP COLUMN value')\n",
    )
    rules = {rule for _v, rule, _a in _rules(folder, tmp_path / "x.db")}
    assert {"update-without-where", "delete-without-where", "drop-column"} <= rules
    assert "irreversible" in rules


def test_statements_with_where_and_table_rebuilds_are_not_destructive() -> None:
    assert (
        statement_findings(
            [
                "UPDATE a SET value = 'where' WHERE id = 1",
                "DELETE FROM a WHERE id = 2",
                'CREATE TABLE "_a_new" (id INTEGER)',
                'DROP TABLE "a"',
                'ALTER TABLE "_a_new" RENAME TO "a"',
            ]
        )
        == []
    )


def test_a_down_that_does_not_undo_its_up_is_an_error(
    tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = _with(
        write_migrations,
        "def up(tx):\n    tx.execute('CREATE TABLE c (id INTEGER)')\n"
        "    tx.execute('CREATE INDEX ix_c ON c (id)')\n\n\n"
        "def down(tx):\n    tx.execute('DROP INDEX ix_c')\n",
    )
    report = lint(MigrationManager(tmp_path / "x.db", Registry.from_directory(folder)))
    finding = report.findings[0]
    assert finding.rule == "down-does-not-undo-up" and "table c added" in finding.statement
    assert not report.ok


def test_a_clean_reversible_migration_has_no_findings(
    tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = _with(write_migrations, table_migration("c"))
    report = lint(MigrationManager(tmp_path / "x.db", Registry.from_directory(folder)))
    assert report.findings == () and report.ok and report.checked == (1, 2, 3)


def test_only_pending_migrations_are_linted_unless_all(
    tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations(
        {
            "0001_create_a.py": table_migration("a", down=False),
            "0002_create_b.py": table_migration("b"),
        }
    )
    db = tmp_path / "x.db"
    manager = MigrationManager(db, Registry.from_directory(folder))
    manager.migrate_to(1)
    assert lint(manager).checked == (2,)
    every = lint(manager, all_migrations=True)
    assert every.checked == (1, 2) and [f.rule for f in every.findings] == ["irreversible"]


def test_an_in_file_comment_accepts_a_named_finding(
    tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = _with(
        write_migrations,
        "# metamigrate-lint: accept drop-table -- b was retired\n"
        "def up(tx):\n    tx.execute('DROP TABLE b')\n",
    )
    report = lint(MigrationManager(tmp_path / "x.db", Registry.from_directory(folder)))
    by_rule = {f.rule: f.accepted for f in report.findings}
    assert by_rule == {"drop-table": True, "irreversible": False}
    assert report.ok  # the only error is accepted; a warning does not fail the lint


def test_accept_comment_parsing() -> None:
    assert accepted_rules("# metamigrate-lint: accept drop-table, drop-column -- why\n") == {
        "drop-table",
        "drop-column",
    }
    assert accepted_rules("# lint: accept drop-table\n") == set()


def test_a_migration_that_fails_on_scratch_stops_the_lint(
    tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations(
        {
            **BASE,
            "0003_bad.py": table_migration("a"),
            "0004_create_d.py": table_migration("d"),
        }
    )
    report = lint(MigrationManager(tmp_path / "x.db", Registry.from_directory(folder)))
    assert [f.rule for f in report.findings] == ["fails-on-scratch"]
    assert report.not_checked == (4,) and not report.ok


def test_lint_never_creates_or_changes_the_database(
    tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = _with(write_migrations, table_migration("c"))
    db = tmp_path / "x.db"
    assert main(["lint", "--db", str(db), "--migrations", str(folder)]) == 0
    assert not db.exists()


def test_cli_lint_exit_1_on_errors_and_json(
    tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = _with(write_migrations, "def up(tx):\n    tx.execute('DROP TABLE b')\n")
    common = ["--db", str(tmp_path / "x.db"), "--migrations", str(folder)]
    human = run_cli("lint", *common)
    assert human.returncode == 1
    assert "0003_change: error drop-table" in human.stdout
    as_json = run_cli("lint", "--json", *common)
    assert as_json.returncode == 1
    payload = json.loads(as_json.stdout)
    assert payload["ok"] is False and payload["errors"] == 1
    assert {f["rule"] for f in payload["findings"]} == {"drop-table", "irreversible"}


def test_the_built_in_store_migrations_pass_the_lint(tmp_path: Path) -> None:
    result = run_cli("lint", "--db", str(tmp_path / "store.db"))
    assert result.returncode == 0, result.stdout


def test_postgres_rules_read_the_sql_in_the_code() -> None:
    source = (
        "def up(tx):\n"
        "    tx.execute('CREATE INDEX ix_t ON t (a)')\n"
        "    tx.execute('ALTER TABLE t ADD COLUMN b timestamptz DEFAULT now()')\n"
        "    tx.execute('ALTER TABLE t ALTER COLUMN a SET NOT NULL')\n"
    )
    rules = [rule for rule, _statement in postgres_findings(source)]
    assert rules == [
        "create-index-not-concurrently",
        "add-column-volatile-default",
        "set-not-null",
        "no-lock-timeout",
    ]
    safe = (
        "LOCK_TIMEOUT = '2s'\n\n"
        "def up(tx):\n    tx.execute('CREATE INDEX CONCURRENTLY ix ON t (a)')\n"
    )
    assert postgres_findings(safe) == []
