"""The benchmark's PostgreSQL target: a tiny run on the real server writes well-formed results,
and a run of one target keeps the other target's figures (no timings asserted)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench import report
from bench.readme import render_section
from tests.pg import require_server, server_url
from tests.test_bench_smoke import _bench

REPO = Path(__file__).resolve().parent.parent
#: A real SQLite run's figures (the committed ones), as an earlier run would have left them.
SQLITE_PART = {
    k: v for k, v in report.load(REPO / "bench" / "results.json").items() if k != "postgres"
}


@pytest.fixture(scope="module")
def pg_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_server()
    out = tmp_path_factory.mktemp("bench-pg-out")
    (out / "results.json").write_text(json.dumps(SQLITE_PART))
    result = _bench(
        "--target",
        "postgres",
        "--pg-server",
        server_url(),
        "--n",
        "4",
        "--reps",
        "1",
        "--status-runs",
        "1",
        "--replicas",
        "2",
        "--out-dir",
        str(out),
        "--workdir",
        str(tmp_path_factory.mktemp("bench-pg-work")),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_every_postgres_tool_applies_reports_and_rolls_back(pg_run: Path) -> None:
    section = json.loads((pg_run / "results.json").read_text())["postgres"]
    cycle = section["cycles"][0]
    assert cycle["n"] == 4 and not cycle["skipped"], cycle["skipped"]
    assert set(cycle["results"]) == set(section["tools"])
    assert {"raw", "metamigrate", "django", "yoyo", "alembic"} <= set(cycle["results"])
    for key, data in cycle["results"].items():
        assert data["apply"]["samples"] and data["rollback"]["samples"], key
    assert cycle["results"]["raw"]["apply"]["ratio_floor"] == pytest.approx(1.0)
    assert section["environment"]["postgres"]["server_version"]


def test_the_replica_start_is_measured_against_one_process(pg_run: Path) -> None:
    start = json.loads((pg_run / "results.json").read_text())["postgres"]["replica_start"]
    assert start["replicas"] == 2 and start["n"] == 4
    assert start["floor"]["ratio"] > 0
    assert start["ratio"] == pytest.approx(start["all"]["median"] / start["one"]["median"])
    names = [
        t["name"] for t in json.loads((pg_run / "results.json").read_text())["postgres"]["targets"]
    ]
    assert any(name.startswith("replica start") for name in names)


def test_a_postgres_run_keeps_the_sqlite_figures(pg_run: Path) -> None:
    results = json.loads((pg_run / "results.json").read_text())
    assert {k: v for k, v in results.items() if k != "postgres"} == SQLITE_PART
    assert "## PostgreSQL" in (pg_run / "RESULTS.md").read_text()


def test_the_scratch_databases_are_dropped(pg_run: Path) -> None:
    import psycopg

    with psycopg.connect(server_url(), autocommit=True) as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'mm_bench_%%'"
        ).fetchall()
    assert not [name for (name,) in left if name.split("_")[2] == str(os.getpid())]


def test_the_readme_section_has_both_targets(pg_run: Path) -> None:
    text = render_section(report.load(pg_run / "results.json"))
    assert "**SQLite.**" in text and "**PostgreSQL" in text and "Replica start" in text


def test_a_sqlite_run_keeps_the_postgres_figures() -> None:
    previous = {"schema": 1, "cycles": ["old"], "postgres": {"cycles": ["pg"]}}
    merged = report.merge(previous, sqlite={"schema": 1, "cycles": ["new"]})
    assert merged == {"schema": 1, "cycles": ["new"], "postgres": {"cycles": ["pg"]}}


def test_a_postgres_run_replaces_only_the_postgres_figures() -> None:
    previous = {"schema": 1, "cycles": ["old"], "postgres": {"cycles": ["pg"]}}
    merged = report.merge(previous, postgres={"cycles": ["pg2"]})
    assert merged == {"schema": 1, "cycles": ["old"], "postgres": {"cycles": ["pg2"]}}


def test_the_postgres_target_refuses_with_a_sentence_when_no_server_answers(
    tmp_path: Path,
) -> None:
    result = _bench(
        "--target",
        "postgres",
        "--pg-server",
        "postgresql://root@127.0.0.1:1/none",
        "--out-dir",
        str(tmp_path),
    )
    assert result.returncode == 1
    assert "no PostgreSQL server at" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "results.json").exists()


def test_a_tool_that_failed_mid_run_is_left_out_of_the_ratios() -> None:
    from bench.suite import add_ratios
    from bench.tools import postgres_tools

    tools = postgres_tools("postgresql://root@127.0.0.1:1/none")  # nothing is connected to
    results = {"raw": {"apply": {"median": 2.0, "min": 1.5}}}
    add_ratios(results, tools)
    assert results["raw"]["apply"]["ratio_floor"] == pytest.approx(1.0)
    assert set(results) == {"raw"}
