"""Add user preferences table."""

from engine.tx import Tx


def up(tx: Tx) -> None:
    tx.script(
        """
        CREATE TABLE user_preferences (
            user_name  TEXT NOT NULL,
            key        TEXT NOT NULL,
            value      TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (user_name, key)
        ) WITHOUT ROWID;
        """
    )


def down(tx: Tx) -> None:
    tx.execute("DROP TABLE user_preferences")
