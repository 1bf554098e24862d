"""With a base path, the readiness panel includes the Iceberg catalog's consistency check."""

from __future__ import annotations

from pathlib import Path

import pytest

import console.__main__ as console_main
from console.widgets import ReadinessPanel
from console.widgets.readiness_panel import render_details
from engine import cli
from engine.store import BUILTIN_MIGRATIONS
from tests.console.conftest import DB, make_console, settle


def inconsistent_service(base: Path) -> None:
    """A migrated store and a catalog where the store knows a database the catalog does not."""
    pytest.importorskip("pyiceberg", reason="the catalog extra is not installed")
    from engine.metadata import MetadataManager

    meta = MetadataManager.open(base / DB, base)
    try:
        meta.store.create_database("sales")  # the store half only: no Iceberg namespace
    finally:
        meta.close()


async def test_a_console_with_a_base_path_shows_the_catalog_check_failing(
    tmp_path: Path,
) -> None:
    inconsistent_service(tmp_path)
    app = make_console(migrations=BUILTIN_MIGRATIONS, base_path=tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        panel = app.query_one(ReadinessPanel)
        assert panel.status == "error"
        assert panel.deployment is not None
        report = panel.deployment.verification
        assert report is not None
        check = report.check("iceberg_catalog")
        assert not check.passed
        problem = "Database 'sales' is in the store but the Iceberg catalog has no such namespace."
        assert check.problems == [problem]
        assert problem in panel.deployment.problems
        assert any(problem in line for line in app.log_widget.lines_plain)
        assert check.title in render_details(panel.deployment).plain


async def test_without_a_base_path_there_is_no_catalog_check(tmp_path: Path) -> None:
    inconsistent_service(tmp_path)
    app = make_console(migrations=BUILTIN_MIGRATIONS)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        panel = app.query_one(ReadinessPanel)
        assert panel.deployment is not None and panel.deployment.verification is not None
        titles = [c.name for c in panel.deployment.verification.checks]
        assert "iceberg_catalog" not in titles


def test_metamigrate_console_passes_the_base_path_and_busy_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, object] = {}

    def fake_run_console(db: str, **kwargs: object) -> int:
        seen.update(kwargs, db=db)
        return 0

    monkeypatch.setattr(console_main, "run_console", fake_run_console)
    argv = ["console", "--db", "x.db", "--base-path", "svc", "--busy-timeout", "2"]
    assert cli.main(argv) == 0
    assert seen["db"] == "x.db"
    assert seen["base_path"] == Path("svc")
    assert seen["busy_timeout"] == 2.0
    monkeypatch.setenv("METAMIGRATE_BASE_PATH", "from-env")
    assert cli.main(["console", "--db", "x.db"]) == 0
    assert seen["base_path"] == Path("from-env")


def test_python_m_console_takes_the_base_path_from_the_option_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, object] = {}

    def fake_run_console(db: str, **kwargs: object) -> int:
        seen.update(kwargs)
        return 0

    monkeypatch.setattr(console_main, "run_console", fake_run_console)
    assert console_main.main(["--base-path", "svc"]) == 0
    assert seen["base_path"] == "svc"
    monkeypatch.setenv("METAMIGRATE_BASE_PATH", "from-env")
    assert console_main.main([]) == 0
    assert seen["base_path"] == "from-env"
