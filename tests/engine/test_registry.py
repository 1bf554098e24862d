"""Registry: building, validation and loading of migrations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine import Migration, Registry, RegistryError, Tx
from engine.checksum import source_checksum
from tests.conftest import MigrationFiles, table_migration


def noop(tx: Tx) -> None:
    tx.execute("SELECT 1")


def test_import_engine_loads_no_ui_or_third_party_module() -> None:
    code = (
        "import sys, engine\n"
        "from engine import MigrationManager, DeploymentManager, Store\n"
        "bad = [m for m in ('textual', 'rich', 'pyiceberg', 'sqlalchemy') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_duplicate_versions_are_refused_naming_both() -> None:
    registry = Registry([Migration(1, "first", "", noop)])
    with pytest.raises(RegistryError, match="Duplicate migration version 1"):
        registry.add(Migration(1, "again", "", noop))


@pytest.mark.parametrize("version", [0, -3, 1.5, "2", True])
def test_versions_must_be_positive_integers(version: object) -> None:
    with pytest.raises(RegistryError, match="not a positive integer"):
        Registry([Migration(version, "x", "", noop)])  # type: ignore[arg-type]


def test_empty_names_are_refused() -> None:
    with pytest.raises(RegistryError, match="empty name"):
        Registry([Migration(1, "  ", "", noop)])


def test_gaps_are_refused_at_validation() -> None:
    registry = Registry([Migration(1, "a", "", noop), Migration(3, "c", "", noop)])
    with pytest.raises(RegistryError, match="version 2 is missing"):
        registry.validate()


def test_decorator_registers_up_and_attaches_down() -> None:
    registry = Registry()

    @registry.migration(1, "create_items", "Create the items table")
    def up(tx: Tx) -> None:
        tx.execute("CREATE TABLE items (id INTEGER)")

    assert not registry.get(1).reversible

    @up.down
    def down(tx: Tx) -> None:
        tx.execute("DROP TABLE items")

    migration = registry.get(1)
    assert migration.reversible
    assert migration.description == "Create the items table"
    assert migration.down is down


def test_decorator_takes_the_description_from_the_docstring() -> None:
    registry = Registry()

    @registry.migration(1, "x")
    def up(tx: Tx) -> None:
        """Add the x table.

        Longer text is not part of the one-line description.
        """

    assert registry.get(1).description == "Add the x table."


def test_from_directory_reads_names_versions_and_docstrings(
    write_migrations: MigrationFiles,
) -> None:
    folder = write_migrations(
        {
            "0001_create_a.py": table_migration("a", doc="Create table a"),
            "0002_create_b.py": table_migration("b", down=False),
            "README.md": "not a migration",
            "__init__.py": "",
        }
    )
    registry = Registry.from_directory(folder)
    assert registry.versions == [1, 2]
    assert registry.name_of(2) == "create_b"
    assert registry.header_of(1) == ("Create table a.", True)
    assert registry.header_of(2) == ("Create b.", False)
    assert registry.get(2).down is None


def test_a_file_that_fails_to_import_is_an_error_naming_the_file(
    write_migrations: MigrationFiles,
) -> None:
    folder = write_migrations(
        {"0001_ok.py": table_migration("a"), "0002_broken.py": "import does_not_exist\n"}
    )
    registry = Registry.from_directory(folder)  # discovery reads names only
    with pytest.raises(RegistryError, match=r"0002_broken\.py failed to import"):
        registry.get(2)


def test_a_file_without_up_is_refused(write_migrations: MigrationFiles) -> None:
    folder = write_migrations({"0001_empty.py": '"""Nothing."""\n'})
    with pytest.raises(RegistryError, match="defines no up"):
        Registry.from_directory(folder).get(1)


def test_a_misnamed_migration_file_is_refused(write_migrations: MigrationFiles) -> None:
    folder = write_migrations({"0001-bad-name.py": table_migration("a")})
    with pytest.raises(RegistryError, match="misnamed"):
        Registry.from_directory(folder)


def test_duplicate_versions_in_a_folder_are_refused(write_migrations: MigrationFiles) -> None:
    folder = write_migrations({"0001_a.py": table_migration("a"), "001_b.py": table_migration("b")})
    with pytest.raises(RegistryError, match="Duplicate migration version 1"):
        Registry.from_directory(folder)


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="does not exist"):
        Registry.from_directory(tmp_path / "nope")


def test_from_module_loads_the_builtin_store_migrations() -> None:
    registry = Registry.from_module("engine.store.migrations")
    assert registry.versions[:4] == [1, 2, 3, 4]
    assert registry.name_of(2) == "add_user_preferences"
    assert registry.get(2).description == "Add user preferences table."


def test_unknown_module_is_a_clear_error() -> None:
    with pytest.raises(RegistryError, match=r"cannot be found|not an importable package"):
        Registry.from_module("no_such_package.migrations")


def test_checksum_ignores_comments_docstrings_and_layout() -> None:
    original = 'def up(tx):\n    tx.execute("CREATE TABLE a (id INTEGER)")\n'
    reformatted = (
        '"""Now with a docstring."""\n# a comment\n\ndef up( tx ):\n'
        '    # explain\n    tx.execute(\n        "CREATE TABLE a (id INTEGER)"\n    )\n'
    )
    edited = 'def up(tx):\n    tx.execute("CREATE TABLE a (id INTEGER, b TEXT)")\n'
    assert source_checksum(original) == source_checksum(reformatted)
    assert source_checksum(original) != source_checksum(edited)


def test_in_code_checksum_changes_with_the_code_only() -> None:
    def up_one(tx: Tx) -> None:
        tx.execute("CREATE TABLE a (id INTEGER)")

    def up_one_reformatted(tx: Tx) -> None:
        # same statement, different layout
        tx.execute("CREATE TABLE a (id INTEGER)")

    def up_two(tx: Tx) -> None:
        tx.execute("CREATE TABLE a (id INTEGER, b TEXT)")

    first = Migration(1, "a", "", up_one).checksum
    assert first == Migration(1, "a", "", up_one_reformatted).checksum
    assert first != Migration(1, "a", "", up_two).checksum
