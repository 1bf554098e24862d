"""Move table properties from a JSON column into a key/value table.

Properties are string-to-string (as in Iceberg). The store writes the JSON column canonically
(keys sorted by code point, compact separators), which is exactly what the down rebuilds from the
rows ordered by key (SQLite's ``json_group_object``; on PostgreSQL the same text is assembled from
``to_json`` of each key and value, ordered by ``COLLATE "C"``, since ``json_object_agg`` adds
spaces), so the down restores the column byte for byte on both.
"""

from engine.tx import Tx

# metamigrate-lint: accept drop-column -- the values are copied into table_properties first

#: The checksum of this migration before it learnt PostgreSQL: SQLite stores migrated by earlier
#: releases recorded it, and what it does on SQLite is unchanged.
PREVIOUS_CHECKSUMS = ("7de9315d1271b587",)

TABLE = """
CREATE TABLE table_properties (
    table_id {id_type} NOT NULL REFERENCES tables (id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (table_id, key)
){suffix};
"""

SQLITE_UP = """
INSERT INTO table_properties (table_id, key, value)
    SELECT tables.id, props.key, props.value
    FROM tables, json_each(tables.properties) AS props;
ALTER TABLE tables DROP COLUMN properties;
"""

POSTGRESQL_UP = """
INSERT INTO table_properties (table_id, key, value)
    SELECT tables.id, props.key, props.value
    FROM tables, json_each_text(tables.properties::json) AS props;
ALTER TABLE tables DROP COLUMN properties;
"""

SQLITE_DOWN = """
ALTER TABLE tables ADD COLUMN properties TEXT NOT NULL DEFAULT '{}';
UPDATE tables SET properties = (
    SELECT coalesce(json_group_object(key, value), '{}')
    FROM (SELECT key, value FROM table_properties
          WHERE table_id = tables.id ORDER BY key)
);
DROP TABLE table_properties;
"""

POSTGRESQL_DOWN = """
ALTER TABLE tables ADD COLUMN properties TEXT NOT NULL DEFAULT '{}';
UPDATE tables SET properties = coalesce(
    (SELECT '{' || string_agg(to_json(key)::text || ':' || to_json(value)::text, ','
                              ORDER BY key COLLATE "C") || '}'
     FROM table_properties WHERE table_id = tables.id),
    '{}'
);
DROP TABLE table_properties;
"""


def up(tx: Tx) -> None:
    if tx.dialect == "postgresql":
        tx.script(TABLE.format(id_type="BIGINT", suffix="") + POSTGRESQL_UP)
    else:
        tx.script(TABLE.format(id_type="INTEGER", suffix=" WITHOUT ROWID") + SQLITE_UP)


def down(tx: Tx) -> None:
    tx.script(POSTGRESQL_DOWN if tx.dialect == "postgresql" else SQLITE_DOWN)
