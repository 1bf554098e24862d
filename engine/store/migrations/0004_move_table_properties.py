"""Move table properties from a JSON column into a key/value table.

Properties are string-to-string (as in Iceberg). The store writes the JSON column canonically
(sorted keys, compact separators), which is exactly what ``json_group_object`` over rows ordered by
key produces, so the down restores the column byte for byte.
"""

from engine.tx import Tx


def up(tx: Tx) -> None:
    tx.script(
        """
        CREATE TABLE table_properties (
            table_id INTEGER NOT NULL REFERENCES tables (id) ON DELETE CASCADE,
            key      TEXT NOT NULL,
            value    TEXT NOT NULL,
            PRIMARY KEY (table_id, key)
        ) WITHOUT ROWID;
        INSERT INTO table_properties (table_id, key, value)
            SELECT tables.id, props.key, props.value
            FROM tables, json_each(tables.properties) AS props;
        ALTER TABLE tables DROP COLUMN properties;
        """
    )


def down(tx: Tx) -> None:
    tx.script(
        """
        ALTER TABLE tables ADD COLUMN properties TEXT NOT NULL DEFAULT '{}';
        UPDATE tables SET properties = (
            SELECT coalesce(json_group_object(key, value), '{}')
            FROM (SELECT key, value FROM table_properties
                  WHERE table_id = tables.id ORDER BY key)
        );
        DROP TABLE table_properties;
        """
    )
