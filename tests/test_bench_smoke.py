"""Smoke test of the benchmark harness: a tiny run writes well-formed results (no timings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _bench(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench-out")
    work = tmp_path_factory.mktemp("bench-work")
    result = _bench(
        "--quick",
        "--n",
        "5",
        "--reps",
        "1",
        "--status-runs",
        "1",
        "--status-n",
        "8",
        "--probe-reps",
        "1",
        "--idle-seconds",
        "0.2",
        "--status-large-tools",
        "raw,metamigrate",
        "--out-dir",
        str(out),
        "--workdir",
        str(work),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_a_tiny_run_writes_results_json_and_markdown(tiny_run: Path) -> None:
    results = json.loads((tiny_run / "results.json").read_text())
    assert results["mode"] == "quick"
    assert [c["n"] for c in results["cycles"]] == [5]
    assert results["status_large"]["n"] == 8
    assert {"python", "sqlite", "machine", "tools"} <= set(results["environment"])
    report = (tiny_run / "RESULTS.md").read_text()
    assert report.startswith("# Benchmark results")
    # The SQLite targets are issue 12's (issue 7's were replaced by them).
    assert "### Targets (issue 12)" in report and "issue 7" not in report


def test_every_available_tool_applies_reports_and_rolls_back(tiny_run: Path) -> None:
    results = json.loads((tiny_run / "results.json").read_text())
    cycle = results["cycles"][0]
    unavailable = {k for k, t in results["tools"].items() if t["skipped"]}
    assert set(cycle["results"]) | unavailable == set(results["tools"]), cycle["skipped"]
    for key, data in cycle["results"].items():
        assert data["apply"]["samples"] and data["rollback"]["samples"], key
    assert cycle["results"]["raw"]["apply"]["ratio_floor"] == pytest.approx(1.0)
    assert cycle["results"]["raw"]["commits"]["apply"] >= 5


def test_the_readme_section_is_rendered_between_the_markers(tiny_run: Path, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- bench:start -->\nold\n<!-- bench:end -->\ntail\n")
    result = _bench("--update-readme", str(readme), "--results", str(tiny_run / "results.json"))
    assert result.returncode == 0, result.stderr
    text = readme.read_text()
    assert (
        "old" not in text
        and "| apply all |" in text
        and text.endswith("<!-- bench:end -->\ntail\n")
    )
