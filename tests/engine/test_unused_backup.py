"""A run whose check under the lock finds nothing left to do keeps no backup (both backends)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import BackupTaken, ConcurrentChangeError, Event, MigrationManager, Registry
from tests.pg import Target


def _runner(backend: Target, migrations: Path, **kwargs: object) -> MigrationManager:
    return MigrationManager(
        backend.spec,
        Registry.from_directory(migrations),
        backup_dir=backend.path.parent / "backups" if backend.path else None,
        **kwargs,  # type: ignore[arg-type]
    )


def _raced(backend: Target, migrations: Path, change: str) -> tuple[MigrationManager, list[str]]:
    """A manager whose backup window sees another runner ``change`` the database."""
    taken: list[str] = []

    def meanwhile(event: Event) -> None:
        if isinstance(event, BackupTaken):
            other = _runner(backend, migrations, backup=False)
            other.migrate_to(3) if change == "migrate" else other.rollback(0)
            taken.append(event.path)

    return _runner(backend, migrations, on_event=meanwhile), taken


def test_a_backup_is_removed_when_another_runner_applied_everything_meanwhile(
    backend: Target, three_tables: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _runner(backend, three_tables).migrate_to(1)
    manager, taken = _raced(backend, three_tables, "migrate")
    result = manager.migrate_to(3)
    assert taken and not result.done and len(result.skipped) == 2
    assert manager.last_backup is None and not Path(taken[0]).exists()
    assert not Path(taken[0] + ".json").exists()
    assert manager.list_backups() == []
    assert manager.current_version == 3


def test_a_backup_is_removed_when_the_check_under_the_lock_refuses(
    backend: Target, three_tables: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _runner(backend, three_tables).migrate_to(1)
    manager, taken = _raced(backend, three_tables, "rollback")
    with pytest.raises(ConcurrentChangeError):
        manager.migrate_to(3)
    assert taken and manager.last_backup is None and not Path(taken[0]).exists()
    assert manager.list_backups() == [] and manager.current_version == 0


def test_a_run_that_changed_something_keeps_its_backup(
    backend: Target, three_tables: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _runner(backend, three_tables).migrate_to(1)
    manager = _runner(backend, three_tables)
    manager.migrate_to(3)
    assert manager.last_backup is not None and manager.last_backup.path.exists()
    assert manager.list_backups() == [manager.last_backup]
