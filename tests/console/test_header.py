"""The header line: title, database and version, cut where it hurts least at narrow widths."""

from __future__ import annotations

import os

import pytest
from textual.widgets import Static

from console.formatting import server_label
from console.widgets import ConsoleHeader
from console.widgets.header import fit_title, shorten_middle
from tests.console.conftest import settle
from tests.console.test_on_postgres import open_console
from tests.pg import PgDatabase, Target

TITLE = "metamigrate console"
SERVER = "db.internal:5432/metadata · public · version 2 of 4"


def test_the_whole_line_is_shown_when_it_fits() -> None:
    assert fit_title(TITLE, SERVER, 80).plain == f"{TITLE} — {SERVER}"


def test_the_title_goes_first_when_the_line_is_too_long() -> None:
    assert fit_title(TITLE, SERVER, 62).plain == SERVER


def test_a_long_host_is_shortened_in_its_middle_and_database_schema_and_version_stay_whole() -> (
    None
):
    sub_title = "db-primary.internal.example.com:5432/metadata_production · ops · version 12 of 40"
    line = fit_title(TITLE, sub_title, 62).plain
    assert len(line) == 62
    assert line.endswith("/metadata_production · ops · version 12 of 40")
    assert line.startswith("db-pr") and "…" in line and ":5432/" in line


def test_a_database_name_too_long_for_the_line_is_shortened_in_its_middle() -> None:
    sub_title = "db:5432/" + "m" * 30 + "_the_end · public · version 1 of 2"
    line = fit_title(TITLE, sub_title, 40).plain
    assert len(line) == 40
    assert line.startswith("db:5432") and "…" in line
    assert line.endswith("_end · public · version 1 of 2")


def test_shorten_middle_keeps_both_ends() -> None:
    assert shorten_middle("abcdefghij", 10) == "abcdefghij"
    assert shorten_middle("abcdefghij", 5) == "ab…ij"
    assert shorten_middle("abcdefghij", 1) == "…"


async def test_on_a_long_server_url_at_80_columns_the_header_keeps_schema_and_version(
    pg_database: PgDatabase,
) -> None:
    app = open_console(Target("postgresql", pg_database.url, pg=pg_database))
    async with app.run_test(size=(120, 24)) as pilot:
        await settle(pilot)
        shown = app.query_one(ConsoleHeader).query_one("HeaderTitle", Static)
        assert str(shown.content).startswith(TITLE)  # room for all of it at 120
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        line = str(shown.content)
        assert line.endswith(" · public · version 0 of 4")
        assert f"/{pg_database.name} · " in line
        assert len(line) <= 80 - 18


# -- where libpq connects: the URL, else PGHOST / PGPORT / PGDATABASE, else libpq's default --------


@pytest.mark.parametrize(
    ("url", "environ", "label"),
    [
        ("postgresql://db.internal/metadata", {}, "db.internal/metadata"),
        ("postgresql:///metadata", {"PGHOST": "db.elsewhere"}, "db.elsewhere/metadata"),
        ("postgresql:///metadata", {"PGHOST": "db", "PGPORT": "6432"}, "db:6432/metadata"),
        (
            "postgresql://db.internal:5433/metadata",
            {"PGHOST": "db", "PGPORT": "6432"},
            "db.internal:5433/metadata",
        ),
        ("postgresql:///metadata", {"PGHOST": "/tmp"}, "socket /tmp/metadata"),
        ("postgresql:///metadata?host=/run/pg", {"PGHOST": "db"}, "socket /run/pg/metadata"),
        ("postgresql://db/metadata", {"PGHOSTADDR": "10.0.0.5"}, "10.0.0.5/metadata"),
        ("postgresql://svc@db/", {"PGDATABASE": "ops"}, "db/ops"),
        pytest.param(
            "postgresql:///metadata",
            {},
            "local socket/metadata",
            marks=pytest.mark.skipif(os.name == "nt", reason="libpq's default is localhost there"),
        ),
    ],
)
def test_the_header_names_where_libpq_connects(
    url: str, environ: dict[str, str], label: str
) -> None:
    assert server_label(url, environ=environ) == f"{label} · public"
