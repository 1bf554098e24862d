"""The metadata service on PostgreSQL: the store and the Iceberg catalog in one database."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.pg import PgDatabase

pytest.importorskip("pyiceberg")
pa = pytest.importorskip("pyarrow")

from engine.cli import main  # noqa: E402
from engine.metadata import MetadataManager  # noqa: E402
from engine.metadata.errors import CatalogConflictError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("who", pa.string())])


def rows_of(who: str, *ids: int) -> pa.Table:
    return pa.table({"id": list(ids), "who": [who] * len(ids)}, schema=SCHEMA)


def test_the_store_and_the_catalog_live_in_the_same_database(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    with MetadataManager.open(pg_database.url, tmp_path) as meta:
        meta.create_database("sales")
        table = meta.create_table("sales", "orders", SCHEMA)
        meta.load_table("sales", "orders").append(rows_of("a", 1, 2))
        assert meta.check().passed
        assert meta.store.migrations.verify().ok
        location = meta.get_table("sales", "orders").metadata_location
    assert location != table.metadata_location  # the append moved the store's location too
    assert location.startswith(f"file://{tmp_path / 'warehouse'}/sales/orders/metadata/")
    assert pg_database.tables() == {"databases", "tables", "table_properties", "user_preferences"}
    # The catalog's own tables sit beside the store's schema, out of its fingerprint.
    assert pg_database.tables("public_iceberg") == {
        "iceberg_tables",
        "iceberg_namespace_properties",
    }
    assert pg_database.query(
        "SELECT table_namespace, table_name, metadata_location FROM public_iceberg.iceberg_tables"
    ) == [("sales", "orders", location)]


def test_the_consistency_check_finds_a_table_missing_from_the_catalog_and_fails_verify(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    with MetadataManager.open(pg_database.url, tmp_path) as meta:
        meta.create_database("sales")
        meta.create_table("sales", "orders", SCHEMA)
        pg_database.execute("DELETE FROM public_iceberg.iceberg_tables WHERE table_name = 'orders'")
        result = meta.check()
        assert not result.passed
        assert result.problems == [
            "Table sales.orders is in the store but its Iceberg table is gone from the catalog."
        ]
        report = meta.store.migrations.verify()
        assert not report.ok


def test_the_catalog_cli_checks_a_postgresql_service(
    pg_database: PgDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with MetadataManager.open(pg_database.url, tmp_path) as meta:
        meta.create_database("sales")
        meta.create_table("sales", "orders", SCHEMA)
    capsys.readouterr()
    code = main(["catalog", "check", "--db", pg_database.url, "--base-path", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    code = main(
        ["catalog", "list", "--json", "--db", pg_database.url, "--base-path", str(tmp_path)]
    )
    listing = json.loads(capsys.readouterr().out)
    assert code == 0 and [t["state"] for t in listing["tables"]] == ["ok"]


def test_update_table_reapplies_a_change_another_replica_beat_to_the_commit(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    with (
        MetadataManager.open(pg_database.url, tmp_path) as mine,
        MetadataManager.open(pg_database.url, tmp_path) as other,
    ):
        mine.create_database("sales")
        mine.create_table("sales", "orders", SCHEMA)
        attempts: list[int] = []

        def append_mine(table: object) -> None:
            attempts.append(1)
            if len(attempts) == 1:  # the other replica commits between our load and our commit
                other.load_table("sales", "orders").append(rows_of("other", 1))
            table.append(rows_of("mine", 2))  # type: ignore[attr-defined]

        mine.update_table("sales", "orders", append_mine)
        assert len(attempts) == 2
        data = mine.load_table("sales", "orders").scan().to_arrow()
        assert sorted(data["who"].to_pylist()) == ["mine", "other"]
        assert mine.check().passed  # the store follows the catalog's latest commit


def test_a_lost_commit_without_retries_is_one_sentence_and_changes_neither_half(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    with MetadataManager.open(pg_database.url, tmp_path) as meta:
        meta.create_database("sales")
        meta.create_table("sales", "orders", SCHEMA)
        stale = meta.load_table("sales", "orders")
        meta.load_table("sales", "orders").append(rows_of("first", 1))
        before = meta.get_table("sales", "orders").metadata_location
        with pytest.raises(CatalogConflictError, match="Another process committed") as caught:
            stale.append(rows_of("stale", 2))
        assert "\n" not in caught.value.message
        assert meta.get_table("sales", "orders").metadata_location == before
        assert meta.check().passed


REPLICA = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import pyarrow as pa
    from engine.metadata import MetadataManager
    from engine.store import AlreadyExistsError

    url, base, me, rounds = sys.argv[1:5]
    S = pa.schema([pa.field("id", pa.int64()), pa.field("who", pa.string())])
    with MetadataManager.open(url, base) as meta:
        try:
            meta.create_database("shared")
        except AlreadyExistsError:
            pass
        try:
            meta.create_table("shared", "events", S)
        except AlreadyExistsError:
            pass
        for i in range(int(rounds)):
            meta.update_table(
                "shared",
                "events",
                lambda t: t.append(pa.table({"id": [i], "who": [me]}, schema=S)),
                attempts=50,
            )
            name = f"db_{me}_{i}"
            meta.create_database(name)
            meta.create_table(name, "t", S)
            meta.drop_table(name, "t", purge=True)
            meta.drop_database(name)
    print("done", me)
    """
)


@pytest.mark.slow
def test_two_replicas_at_once_lose_no_update_and_leave_no_half_made_entry(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    # The first opening migrates the store; the replicas then start together on a ready database.
    MetadataManager.open(pg_database.url, tmp_path).close()
    rounds = 5
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", REPLICA, pg_database.url, str(tmp_path), me, str(rounds)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me in ("a", "b")
    ]
    results = [r.communicate(timeout=300) for r in replicas]
    assert [r.returncode for r in replicas] == [0, 0], [err[-2000:] for _, err in results]
    with MetadataManager.open(pg_database.url, tmp_path) as meta:
        who = meta.load_table("shared", "events").scan().to_arrow()["who"].to_pylist()
        assert sorted(who) == ["a"] * rounds + ["b"] * rounds  # no lost update
        assert [d.name for d in meta.list_databases()] == ["shared"]
        check = meta.check()
        assert check.passed, check.problems  # no half-made entry in either half
    assert pg_database.query(
        "SELECT DISTINCT namespace FROM public_iceberg.iceberg_namespace_properties"
    ) == [("shared",)]
