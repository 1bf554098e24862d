"""Add user preferences table.

A clustered ``WITHOUT ROWID`` table on SQLite; a plain table with its primary key on PostgreSQL.
"""

from engine.tx import Tx

#: The checksum of this migration before it learnt PostgreSQL: SQLite stores migrated by earlier
#: releases recorded it, and what it does on SQLite is unchanged.
PREVIOUS_CHECKSUMS = ("c8a0efd23797240d",)

CREATE = """
CREATE TABLE user_preferences (
    user_name  TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_name, key)
)"""


def up(tx: Tx) -> None:
    # PostgreSQL has no rowid to leave out: every table is a heap with its primary key index.
    tx.execute(CREATE if tx.dialect == "postgresql" else CREATE + " WITHOUT ROWID")


def down(tx: Tx) -> None:
    tx.execute("DROP TABLE user_preferences")
