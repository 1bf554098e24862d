"""Initial schema: databases and their tables with metadata locations."""

from engine.tx import Tx


def up(tx: Tx) -> None:
    tx.script(
        """
        CREATE TABLE databases (
            id          INTEGER PRIMARY KEY,
            name        TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            location    TEXT,
            created_at  TEXT NOT NULL
        );
        CREATE TABLE tables (
            id                INTEGER PRIMARY KEY,
            database_id       INTEGER NOT NULL REFERENCES databases (id) ON DELETE CASCADE,
            name              TEXT NOT NULL,
            metadata_location TEXT NOT NULL,
            properties        TEXT NOT NULL DEFAULT '{}',
            created_at        TEXT NOT NULL,
            updated_at        TEXT NOT NULL,
            UNIQUE (database_id, name)
        );
        CREATE INDEX idx_tables_database ON tables (database_id);
        CREATE INDEX idx_tables_metadata_location ON tables (metadata_location);
        """
    )


def down(tx: Tx) -> None:
    tx.script(
        """
        DROP INDEX idx_tables_metadata_location;
        DROP INDEX idx_tables_database;
        DROP TABLE tables;
        DROP TABLE databases;
        """
    )
