"""Record each table's format (ICEBERG by default) so other formats can be catalogued."""

from engine.tx import Tx


def up(tx: Tx) -> None:
    tx.execute("ALTER TABLE tables ADD COLUMN table_format TEXT NOT NULL DEFAULT 'ICEBERG'")
    tx.execute("CREATE INDEX idx_tables_format ON tables (table_format)")


def down(tx: Tx) -> None:
    tx.execute("DROP INDEX idx_tables_format")
    tx.execute("ALTER TABLE tables DROP COLUMN table_format")
