"""How a manager names a server database in messages: the URL whole, its password masked."""

from __future__ import annotations

from engine import MigrationManager, Registry

URL = "postgresql://root:s3cret@127.0.0.1:5432/test"


def test_a_server_manager_is_named_by_its_url_with_the_password_masked() -> None:
    manager = MigrationManager(URL, Registry())
    assert manager.display == "postgresql://root:***@127.0.0.1:5432/test"
    assert "postgresql://root:***@127.0.0.1:5432/test" in repr(manager)
    assert "s3cret" not in repr(manager)


def test_a_file_manager_is_named_by_its_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "metadata.db"
    manager = MigrationManager(db, Registry())
    assert manager.display == str(db)
