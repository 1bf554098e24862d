"""Any BaseException from migration code is a failure with a sentence and a non-zero exit.

``sys.exit(0)`` at import or inside up/down, GeneratorExit, a home-made BaseException: in every
mode (migrate, --atomic, --rehearse, ensure-ready --migrate, rollback --yes, plan --to N, the
library API) the command fails, says so in one sentence, and nothing is left half-applied.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import DeploymentManager, MigrationManager, Store
from engine.errors import MetamigrateError, MigrationError, RegistryError
from tests.safety.helpers import applied_versions, assert_clean_failure, run_cli, write_files

RAISES = {
    "sys.exit(0)": "import sys\n    sys.exit(0)",
    "SystemExit(None)": "raise SystemExit",
    "GeneratorExit": "raise GeneratorExit",
    "custom BaseException": "class Stop(BaseException):\n        pass\n    raise Stop('stop')",
}

FIRST = '''
"""Create a."""


def up(tx):
    tx.execute("CREATE TABLE a (id INTEGER PRIMARY KEY)")


def down(tx):
    tx.execute("DROP TABLE a")
'''


def second(*, up_raises: str = "", down_raises: str = "", import_raises: str = "") -> str:
    body = '"""Create b."""\n\n'
    if import_raises:
        # At module level: the same statements, not indented.
        body += "\n".join(line.removeprefix("    ") for line in import_raises.splitlines())
        body += "\n\n"
    body += 'def up(tx):\n    tx.execute("CREATE TABLE b (id INTEGER PRIMARY KEY)")\n'
    if up_raises:
        body += f"    {up_raises}\n"
    body += '\n\ndef down(tx):\n    tx.execute("DROP TABLE b")\n'
    if down_raises:
        body += f"    {down_raises}\n"
    return body


def migrations(folder: Path, **second_kwargs: str) -> Path:
    return write_files(
        folder, {"0001_create_a.py": FIRST, "0002_create_b.py": second(**second_kwargs)}
    )


def at_version(db: Path, folder: Path, version: int) -> None:
    MigrationManager(db, folder, backup=False).migrate_to(version)


# -- at import ------------------------------------------------------------------------------


@pytest.mark.parametrize("raising", list(RAISES), ids=list(RAISES))
@pytest.mark.parametrize("command", [["migrate"], ["ensure-ready", "--migrate"]])
def test_a_pending_file_that_raises_at_import_fails_the_deploy_gate(
    tmp_path: Path, command: list[str], raising: str
) -> None:
    db = tmp_path / "app.db"
    at_version(db, write_files(tmp_path / "good", {"0001_create_a.py": FIRST}), 1)
    folder = migrations(tmp_path / "m", import_raises=RAISES[raising])
    result = run_cli("--db", str(db), "--migrations", str(folder), *command)
    assert_clean_failure(result, (1, 2), "0002_create_b.py")
    assert applied_versions(db) == [1]


# -- inside up --------------------------------------------------------------------------------


@pytest.mark.parametrize("raising", ["sys.exit(0)", "custom BaseException"])
@pytest.mark.parametrize(
    "command",
    [
        ["migrate"],
        ["migrate", "--atomic"],
        ["ensure-ready", "--migrate"],
        ["migrate", "--rehearse"],
    ],
    ids=["migrate", "atomic", "ensure-ready", "rehearse"],
)
def test_an_up_that_raises_a_base_exception_fails_in_every_mode(
    tmp_path: Path, command: list[str], raising: str
) -> None:
    db = tmp_path / "app.db"
    folder = migrations(tmp_path / "m", up_raises=RAISES[raising])
    at_version(db, folder, 1)
    result = run_cli("--db", str(db), "--migrations", str(folder), *command)
    assert_clean_failure(result, (1,))
    assert "0002_create_b" in result.stderr + result.stdout
    assert applied_versions(db) == [1]


# -- inside down ------------------------------------------------------------------------------


@pytest.mark.parametrize("raising", ["sys.exit(0)", "custom BaseException"])
@pytest.mark.parametrize(
    "command",
    [
        ["rollback", "--to", "1", "--yes"],
        ["rollback", "--to", "1", "--yes", "--atomic"],
        ["rollback", "--to", "1", "--rehearse"],
        ["plan", "--to", "1"],
    ],
    ids=["rollback", "atomic", "rehearse", "plan-impact"],
)
def test_a_down_that_raises_a_base_exception_fails_in_every_mode(
    tmp_path: Path, command: list[str], raising: str
) -> None:
    db = tmp_path / "app.db"
    folder = migrations(tmp_path / "m", down_raises=RAISES[raising])
    at_version(db, folder, 2)
    result = run_cli("--db", str(db), "--migrations", str(folder), *command)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert "0002_create_b" in result.stderr + result.stdout
    assert applied_versions(db) == [1, 2]


# -- the library API ----------------------------------------------------------------------


def test_manager_turns_sys_exit_at_import_into_a_registry_error(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    folder = migrations(tmp_path / "m", import_raises=RAISES["sys.exit(0)"])
    with pytest.raises(RegistryError, match=r"sys\.exit\(0\)"):
        MigrationManager(db, folder).migrate_to_latest()
    assert applied_versions(db) == []


def test_store_open_fails_instead_of_exiting_when_a_migration_calls_sys_exit(
    tmp_path: Path,
) -> None:
    folder = migrations(tmp_path / "m", up_raises=RAISES["sys.exit(0)"])
    with pytest.raises(MigrationError, match=r"0002_create_b.*sys\.exit\(0\)"):
        Store.open(tmp_path / "app.db", migrations=folder)
    assert applied_versions(tmp_path / "app.db") == [1]


def test_deployment_gate_raises_when_a_migration_calls_sys_exit(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    folder = migrations(tmp_path / "m", import_raises=RAISES["sys.exit(0)"])
    with pytest.raises(MetamigrateError):
        DeploymentManager(MigrationManager(db, folder)).ensure_ready(migrate=True)
    assert applied_versions(db) == []


def test_rehearsal_reports_a_step_that_calls_sys_exit_as_failing(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    folder = migrations(tmp_path / "m", up_raises=RAISES["sys.exit(0)"])
    at_version(db, folder, 1)
    report = MigrationManager(db, folder).rehearse()
    assert not report.ok
    assert report.failed_step is not None and "sys.exit(0)" in (report.failed_step.error or "")


def test_rollback_impact_reports_a_down_that_raises_a_base_exception(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    folder = migrations(tmp_path / "m", down_raises=RAISES["GeneratorExit"])
    at_version(db, folder, 2)
    impact = MigrationManager(db, folder).rollback_impact(1)
    assert impact.would_fail and "GeneratorExit" in (impact.error or "")
