"""The CLI's catalog parts: --base-path on status/verify/ensure-ready, and catalog list|check."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import pytest

from engine.cli import main
from engine.metadata import MetadataManager
from tests.metadata.conftest import orders_schema


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METAMIGRATE_DB", raising=False)
    monkeypatch.delenv("METAMIGRATE_BASE_PATH", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def service(store_db: Path, base: Path) -> str:
    """A service with sales.orders in both halves; returns the table's metadata location."""
    with MetadataManager.open(store_db, base) as meta:
        meta.create_database("sales")
        return meta.create_table("sales", "orders", orders_schema()).metadata_location


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, " ".join(captured.err.split())


def test_status_with_a_base_path_includes_the_catalog_check(
    capsys: pytest.CaptureFixture[str], service: str, store_db: Path, base: Path
) -> None:
    code, out, _ = run(capsys, "status", "--json", "--db", str(store_db), "--base-path", str(base))
    assert code == 0
    catalog = json.loads(out)["catalog"]
    assert catalog["name"] == "iceberg_catalog" and catalog["passed"] is True


def test_status_without_a_base_path_keeps_its_json_shape(
    capsys: pytest.CaptureFixture[str], service: str, store_db: Path
) -> None:
    code, out, _ = run(capsys, "status", "--json", "--db", str(store_db))
    assert code == 0
    assert set(json.loads(out)) == {"database", "current_version", "latest_version", "migrations"}


def test_verify_with_a_base_path_reports_a_deleted_metadata_file(
    capsys: pytest.CaptureFixture[str], service: str, store_db: Path, base: Path
) -> None:
    Path(urlparse(service).path).unlink()
    code, out, _ = run(capsys, "verify", "--db", str(store_db), "--base-path", str(base))
    assert code == 1
    assert "✗ FAIL  Store and Iceberg catalog agree" in out
    assert "is missing (deleted outside the service)" in " ".join(out.split())


def test_ensure_ready_takes_the_base_path_from_the_environment(
    capsys: pytest.CaptureFixture[str],
    service: str,
    store_db: Path,
    base: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("METAMIGRATE_BASE_PATH", str(base))
    code, out, _ = run(capsys, "ensure-ready", "--json", "--db", str(store_db))
    assert code == 0
    assert "iceberg_catalog" in [c["name"] for c in json.loads(out)["checks"]]

    Path(urlparse(service).path).unlink()
    code, out, _ = run(capsys, "ensure-ready", "--json", "--db", str(store_db))
    assert code == 1
    status = json.loads(out)
    assert status["status"] == "error" and status["schema_valid"] is False
    assert any("sales.orders" in problem for problem in status["problems"])


def test_ensure_ready_migrate_on_a_fresh_service_without_a_catalog_yet_is_ready(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db, base = tmp_path / "new" / "metadata.db", tmp_path / "new"
    code, out, _ = run(
        capsys, "ensure-ready", "--migrate", "--json", "--db", str(db), "--base-path", str(base)
    )
    assert code == 0, out
    assert not (base / "iceberg_catalog.db").exists()  # the CLI only reads the catalog


def test_catalog_list_shows_both_halves(
    capsys: pytest.CaptureFixture[str], service: str, store_db: Path, base: Path
) -> None:
    code, out, _ = run(
        capsys, "catalog", "list", "--json", "--db", str(store_db), "--base-path", str(base)
    )
    assert code == 0
    listing = json.loads(out)
    assert listing["databases"] == [{"name": "sales", "in_store": True, "in_catalog": True}]
    assert listing["tables"] == [
        {
            "database": "sales",
            "name": "orders",
            "state": "ok",
            "store_metadata_location": service,
            "catalog_metadata_location": service,
        }
    ]
    code, out, _ = run(capsys, "catalog", "list", "--db", str(store_db), "--base-path", str(base))
    assert code == 0
    assert "sales" in out and "orders" in out and "✓ ok" in out


def test_catalog_check_exits_1_on_a_table_the_store_does_not_know(
    capsys: pytest.CaptureFixture[str], service: str, store_db: Path, base: Path
) -> None:
    code, out, _ = run(capsys, "catalog", "check", "--db", str(store_db), "--base-path", str(base))
    assert code == 0 and "✓ pass" in out
    with MetadataManager.open(store_db, base) as meta:
        meta.catalog.create_table("sales", "stray", orders_schema())
    code, out, _ = run(
        capsys, "catalog", "check", "--json", "--db", str(store_db), "--base-path", str(base)
    )
    assert code == 1
    assert json.loads(out)["problems"] == [
        "Iceberg table sales.stray is in the catalog but the store does not know it."
    ]


def test_catalog_commands_without_a_base_path_are_bad_usage(
    capsys: pytest.CaptureFixture[str], service: str, store_db: Path
) -> None:
    code, _, err = run(capsys, "catalog", "list", "--db", str(store_db))
    assert code == 2
    assert err == (
        "error: The catalog commands need the service's base path: pass --base-path PATH or set "
        "METAMIGRATE_BASE_PATH."
    )


def test_catalog_list_without_a_catalog_at_the_base_path_is_bad_input(
    capsys: pytest.CaptureFixture[str], service: str, store_db: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    code, _, err = run(
        capsys, "catalog", "list", "--db", str(store_db), "--base-path", str(elsewhere)
    )
    assert code == 2
    assert "There is no Iceberg catalog at" in err
    assert not elsewhere.exists()
