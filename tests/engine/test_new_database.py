"""Migrate on a new database loads its plan first: a migration that fails at import leaves no
empty database file (and no folders) behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import MetamigrateError, MigrationManager, Registry
from tests.lifecycle.helpers import run_cli

GOOD = '"""Create a."""\n\n\ndef up(tx):\n    tx.execute("CREATE TABLE a (id INTEGER)")\n'
BROKEN = {
    "sys.exit(3)": '"""Exits."""\n\nimport sys\n\nsys.exit(3)\n\n\ndef up(tx):\n    pass\n',
    "raise": '"""Raises."""\n\nraise RuntimeError("boom at import")\n\n\ndef up(tx):\n    pass\n',
}


def _migrations(folder: Path, broken: str, *, first_good: bool) -> Path:
    folder.mkdir()
    if first_good:
        (folder / "0001_create_a.py").write_text(GOOD, encoding="utf-8")
        (folder / "0002_broken.py").write_text(BROKEN[broken], encoding="utf-8")
    else:
        (folder / "0001_broken.py").write_text(BROKEN[broken], encoding="utf-8")
    return folder


@pytest.mark.parametrize("first_good", [False, True], ids=["first", "second"])
@pytest.mark.parametrize("broken", list(BROKEN))
def test_cli_migrate_of_a_new_database_whose_migration_fails_at_import_creates_nothing(
    tmp_path: Path, broken: str, first_good: bool
) -> None:
    folder = _migrations(tmp_path / "migrations", broken, first_good=first_good)
    db = tmp_path / "new" / "metadata.db"
    result = run_cli("migrate", "--db", str(db), "--migrations", str(folder))
    assert result.returncode != 0
    assert "failed to import" in result.stderr
    assert "Traceback" not in result.stderr
    assert not db.exists()
    assert not db.parent.exists()


def test_ensure_ready_migrate_of_a_new_database_that_fails_at_import_creates_nothing(
    tmp_path: Path,
) -> None:
    folder = _migrations(tmp_path / "migrations", "sys.exit(3)", first_good=True)
    db = tmp_path / "metadata.db"
    result = run_cli("ensure-ready", "--migrate", "--db", str(db), "--migrations", str(folder))
    assert result.returncode != 0 and "failed to import" in result.stderr
    assert not db.exists()


@pytest.mark.parametrize("broken", list(BROKEN))
def test_api_migrate_of_a_new_database_whose_migration_fails_at_import_creates_nothing(
    tmp_path: Path, broken: str
) -> None:
    folder = _migrations(tmp_path / "migrations", broken, first_good=True)
    db = tmp_path / "new" / "metadata.db"
    manager = MigrationManager(db, Registry.from_directory(folder))
    with pytest.raises(MetamigrateError, match="failed to import"):
        manager.migrate_to_latest()
    assert not db.parent.exists()
    # Up to the good one, the same manager creates it.
    assert manager.migrate_to(1).to_version == 1
    assert db.exists()
