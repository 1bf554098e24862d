"""Enforce non-blank table names and metadata locations in the database itself.

PostgreSQL adds and drops the two CHECK constraints with ``ALTER TABLE``. SQLite cannot add a
CHECK constraint to an existing table, so there both directions rebuild ``tables`` with
``tx.rebuild_table`` (SQLite's 12-step procedure): the rows, their ids, the indexes and the
``table_properties`` rows that point at them all survive. Foreign keys must be off while the old
table is dropped, which the engine arranges around the transaction because of
``DISABLE_FOREIGN_KEYS`` (PostgreSQL needs nothing of the kind). The up fails, and changes
nothing, if a row already breaks a rule.
"""

from engine.tx import Tx

#: The checksum of this migration before it learnt PostgreSQL: SQLite stores migrated by earlier
#: releases recorded it, and what it does on SQLite is unchanged.
PREVIOUS_CHECKSUMS = ("339cc908a7ba1929",)

#: Only SQLite rebuilds the table (PostgreSQL keeps its foreign keys checked).
DISABLE_FOREIGN_KEYS = "sqlite"

NAME_CHECK = "length(trim(name)) > 0"
LOCATION_CHECK = "length(metadata_location) > 0"


def up(tx: Tx) -> None:
    if tx.dialect == "postgresql":
        tx.execute(
            f"ALTER TABLE tables ADD CONSTRAINT tables_name_check CHECK ({NAME_CHECK}), "
            f"ADD CONSTRAINT tables_metadata_location_check CHECK ({LOCATION_CHECK})"
        )
        return
    tx.rebuild_table(
        "tables",
        f"""
        CREATE TABLE tables (
            id                INTEGER PRIMARY KEY,
            database_id       INTEGER NOT NULL REFERENCES databases (id) ON DELETE CASCADE,
            name              TEXT NOT NULL CHECK ({NAME_CHECK}),
            metadata_location TEXT NOT NULL CHECK ({LOCATION_CHECK}),
            created_at        TEXT NOT NULL,
            updated_at        TEXT NOT NULL,
            table_format      TEXT NOT NULL DEFAULT 'ICEBERG',
            UNIQUE (database_id, name)
        )
        """,
    )


def down(tx: Tx) -> None:
    if tx.dialect == "postgresql":
        tx.execute(
            "ALTER TABLE tables DROP CONSTRAINT tables_name_check, "
            "DROP CONSTRAINT tables_metadata_location_check"
        )
        return
    tx.rebuild_table(
        "tables",
        """
        CREATE TABLE tables (
            id                INTEGER PRIMARY KEY,
            database_id       INTEGER NOT NULL REFERENCES databases (id) ON DELETE CASCADE,
            name              TEXT NOT NULL,
            metadata_location TEXT NOT NULL,
            created_at        TEXT NOT NULL,
            updated_at        TEXT NOT NULL,
            table_format      TEXT NOT NULL DEFAULT 'ICEBERG',
            UNIQUE (database_id, name)
        )
        """,
    )
