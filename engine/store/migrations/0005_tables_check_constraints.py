"""Enforce non-blank table names and metadata locations in the database itself.

SQLite cannot add a CHECK constraint to an existing table, so both directions rebuild ``tables``
with ``tx.rebuild_table`` (SQLite's 12-step procedure): the rows, their ids, the indexes and the
``table_properties`` rows that point at them all survive. Foreign keys must be off while the old
table is dropped, which the engine arranges around the transaction because of
``DISABLE_FOREIGN_KEYS``. The up fails, and changes nothing, if a row already breaks a rule.
"""

from engine.tx import Tx

DISABLE_FOREIGN_KEYS = True


def up(tx: Tx) -> None:
    tx.rebuild_table(
        "tables",
        """
        CREATE TABLE tables (
            id                INTEGER PRIMARY KEY,
            database_id       INTEGER NOT NULL REFERENCES databases (id) ON DELETE CASCADE,
            name              TEXT NOT NULL CHECK (length(trim(name)) > 0),
            metadata_location TEXT NOT NULL CHECK (length(metadata_location) > 0),
            created_at        TEXT NOT NULL,
            updated_at        TEXT NOT NULL,
            table_format      TEXT NOT NULL DEFAULT 'ICEBERG',
            UNIQUE (database_id, name)
        )
        """,
    )


def down(tx: Tx) -> None:
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
