"""PyIceberg's SqlCatalog in a PostgreSQL database: the production path of the Iceberg catalog."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.metadata.errors import CatalogAlreadyExistsError, CatalogConflictError, CatalogError

pytest.importorskip("pyiceberg")
psycopg = pytest.importorskip("psycopg")
pa = pytest.importorskip("pyarrow")

from engine.metadata.iceberg import IcebergCatalog, postgres_catalog_uri  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string())])


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture
def schema(pg_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    name = "c_" + request.node.name[5:45]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {q(name)}")
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {q(name)} CASCADE")
        conn.execute(f"DROP SCHEMA IF EXISTS {q(name + '_iceberg')} CASCADE")


@pytest.fixture
def catalog(pg_url: str, schema: str, tmp_path: Path) -> Iterator[IcebergCatalog]:
    opened = IcebergCatalog.on_postgres(pg_url, tmp_path / "warehouse", schema=schema)
    yield opened
    opened.close()


def catalog_rows(url: str, schema: str) -> list[tuple[str, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            f"SELECT table_namespace, table_name FROM {q(schema + '_iceberg')}.iceberg_tables "
            "ORDER BY 1, 2"
        ).fetchall()


def test_the_catalog_tables_live_in_their_own_schema_beside_the_stores(
    pg_url: str, schema: str, catalog: IcebergCatalog, tmp_path: Path
) -> None:
    catalog.create_namespace("sales")
    location = catalog.create_table("sales", "orders", SCHEMA)
    assert location.startswith(f"file://{tmp_path / 'warehouse'}/sales/orders/metadata/")
    assert catalog_rows(pg_url, schema) == [("sales", "orders")]
    table = catalog.load_table("sales", "orders")
    table.append(pa.table({"id": [1, 2], "name": ["a", "b"]}, schema=SCHEMA))
    assert catalog.load_table("sales", "orders").scan().to_arrow().num_rows == 2
    assert catalog.namespaces() == ["sales"]


def test_the_sqlalchemy_url_is_psycopg_3_and_the_message_text_has_no_password() -> None:
    uri, shown = postgres_catalog_uri(
        "postgresql://svc:s3cret@db.internal:6432/meta?sslmode=require", "my schema"
    )
    assert uri.startswith("postgresql+psycopg://svc:s3cret@db.internal:6432/meta?")
    assert "sslmode=require" in uri and "search_path" in uri
    assert "s3cret" not in shown and "meta" in shown and "my schema" in shown


def test_an_error_names_the_database_without_its_password(
    pg_url: str, schema: str, tmp_path: Path
) -> None:
    url = pg_url.replace("root@", "root:s3cret@").rsplit("/", 1)[0] + "/mm_no_such_database"
    with pytest.raises(CatalogError) as caught:
        IcebergCatalog.on_postgres(url, tmp_path, schema=schema)
    assert "mm_no_such_database" in caught.value.message
    assert "s3cret" not in caught.value.message


def test_a_namespace_created_twice_is_already_exists(catalog: IcebergCatalog) -> None:
    catalog.create_namespace("hr")
    with pytest.raises(CatalogAlreadyExistsError):
        catalog.create_namespace("hr")


def test_a_stale_commit_is_a_conflict_sentence_and_retry_commits_reapplies_it(
    catalog: IcebergCatalog,
) -> None:
    catalog.create_namespace("sales")
    catalog.create_table("sales", "orders", SCHEMA)
    stale = catalog.load_table("sales", "orders")
    catalog.load_table("sales", "orders").append(pa.table({"id": [1], "name": ["x"]}, SCHEMA))
    with pytest.raises(CatalogConflictError, match="Another process committed"):
        stale.append(pa.table({"id": [2], "name": ["y"]}, SCHEMA))
    catalog.retry_commits(
        lambda: catalog.load_table("sales", "orders"),
        lambda t: t.append(pa.table({"id": [2], "name": ["y"]}, SCHEMA)),
    )
    ids = sorted(catalog.load_table("sales", "orders").scan().to_arrow()["id"].to_pylist())
    assert ids == [1, 2]


def test_retry_commits_gives_up_after_the_bounded_number_of_attempts(
    catalog: IcebergCatalog,
) -> None:
    catalog.create_namespace("sales")
    catalog.create_table("sales", "orders", SCHEMA)
    tries: list[int] = []

    def always_beaten(table: object) -> None:
        tries.append(1)
        # Someone else commits between this load and this change, every time.
        catalog.load_table("sales", "orders").append(pa.table({"id": [0], "name": ["o"]}, SCHEMA))
        assert hasattr(table, "append")
        table.append(pa.table({"id": [9], "name": ["me"]}, SCHEMA))  # type: ignore[attr-defined]

    with pytest.raises(CatalogConflictError, match="lost 3 times in a row"):
        catalog.retry_commits(
            lambda: catalog.load_table("sales", "orders"), always_beaten, attempts=3
        )
    assert len(tries) == 3
    ids = catalog.load_table("sales", "orders").scan().to_arrow()["id"].to_pylist()
    assert 9 not in ids


WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import pyarrow as pa
    from engine.metadata.iceberg import IcebergCatalog

    url, schema, warehouse, me, rounds = sys.argv[1:6]
    S = pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string())])
    catalog = IcebergCatalog.on_postgres(url, Path(warehouse), schema=schema)
    try:
        catalog.create_namespace("shared")
    except Exception:
        pass
    try:
        catalog.create_table("shared", "events", S)
    except Exception:
        pass
    for i in range(int(rounds)):
        catalog.retry_commits(
            lambda: catalog.load_table("shared", "events"),
            lambda t: t.append(pa.table({"id": [i], "name": [me]}, S)),
            attempts=50,
        )
        ns = f"own_{me}_{i}"
        catalog.create_namespace(ns)
        catalog.create_table(ns, "t", S)
        catalog.drop_table(ns, "t")
        catalog.drop_namespace(ns)
    catalog.close()
    print("done", me)
    """
)


@pytest.mark.slow
def test_two_processes_at_once_lose_no_commit_and_leave_no_half_made_entry(
    pg_url: str, schema: str, tmp_path: Path
) -> None:
    rounds = 6
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, pg_url, schema, str(tmp_path / "wh"), me, str(rounds)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me in ("a", "b")
    ]
    outputs = [w.communicate(timeout=300) for w in workers]
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    catalog = IcebergCatalog.on_postgres(pg_url, tmp_path / "wh", schema=schema)
    try:
        names = catalog.load_table("shared", "events").scan().to_arrow()["name"].to_pylist()
        # No lost update: every append of both processes is in the table.
        assert sorted(names) == ["a"] * rounds + ["b"] * rounds
        # No half-made entry: the namespaces and tables each process made and dropped are gone.
        assert catalog.namespaces() == ["shared"]
        assert catalog_rows(pg_url, schema) == [("shared", "events")]
        # ... and what the catalog lists can be read: no metadata file was deleted under it.
        for location in catalog.table_locations().values():
            assert location is not None and catalog.metadata_exists(location)
    finally:
        catalog.close()


@pytest.mark.slow
def test_processes_opening_a_new_catalog_at_once_create_its_tables_once(
    pg_url: str, schema: str, tmp_path: Path
) -> None:
    script = (
        "import sys; from pathlib import Path; from engine.metadata.iceberg import IcebergCatalog;"
        "c = IcebergCatalog.on_postgres(sys.argv[1], Path(sys.argv[3]), schema=sys.argv[2]);"
        "print(c.namespaces()); c.close()"
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, pg_url, schema, str(tmp_path / "wh")],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0, 0], [err for _, err in results]
    assert catalog_rows(pg_url, schema) == []
