"""Single-figure probes: interpreter startup, ``import engine``, imports on the ``--json`` path,
commits seen by the library, and the console (when it exists)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bench.proc import run, run_checked
from bench.stats import median_of
from bench.tools.base import PYTHON, Invocation
from bench.tools.metamigrate_tool import CLI, engine_unavailable, write_migrations
from bench.workload import Workload

HERE = Path(__file__).resolve().parent
IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")
UI_PACKAGES = ("rich", "textual")


def parse_importtime(stderr: str) -> list[tuple[int, int, int, str]]:
    """(self µs, cumulative µs, depth, module) for every line of ``-X importtime`` output."""
    rows = []
    for line in stderr.splitlines():
        match = IMPORTTIME.match(line)
        if match:
            depth = (len(match[3]) - 1) // 2
            rows.append((int(match[1]), int(match[2]), depth, match[4]))
    return rows


def subtree(rows: list[tuple[int, int, int, str]], top: str) -> list[tuple[int, int, int, str]]:
    """Direct children of the top-level import ``top`` (importtime prints children first)."""
    ends = [i for i, r in enumerate(rows) if r[2] == 0 and r[3] == top]
    if not ends:
        return []
    end = ends[-1]
    start = end
    while start > 0 and rows[start - 1][2] > 0:
        start -= 1
    return [r for r in rows[start:end] if r[2] == 1]


def _summary(values: list[float]) -> dict[str, Any]:
    return {"min": min(values), "median": median_of(values), "samples": values}


def interpreter_startup(reps: int, work: Path) -> dict[str, Any]:
    """``python -c "import sqlite3"``: the part of every whole-process figure no tool avoids."""
    call = Invocation([PYTHON, "-c", "import sqlite3"], work)
    run_checked(call, work / "scratch")
    return _summary([run_checked(call, work / "scratch").seconds for _ in range(reps)])


def import_engine(reps: int, work: Path) -> dict[str, Any]:
    """Cumulative ``import engine`` in ``python -X importtime``, and its heaviest imports."""
    call = Invocation([PYTHON, "-X", "importtime", "-c", "import engine"], work)
    run_checked(call, work / "scratch")  # bytecode caches
    samples: list[float] = []
    rows: list[tuple[int, int, int, str]] = []
    for _ in range(reps):
        rows = parse_importtime(run_checked(call, work / "scratch").stderr)
        top = [r for r in rows if r[3] == "engine" and r[2] == 0]
        if not top:
            return {"skipped": "no top-level 'engine' line in -X importtime output"}
        samples.append(top[-1][1] / 1e6)
    result = _summary(samples)
    result["heaviest"] = [
        {"module": m, "cumulative_ms": c / 1000}
        for _, c, _, m in sorted(subtree(rows, "engine"), key=lambda r: -r[1])[:8]
    ]
    result["ui_modules"] = sorted({r[3] for r in rows if r[3].split(".")[0] in UI_PACKAGES})
    return result


def json_path_imports(work: Path) -> dict[str, Any]:
    """Modules that ``metamigrate status --json`` imports: Rich and Textual must not be there."""
    root = work / "json-path"
    write_migrations(Workload(10), root / "migrations")
    base = [str(CLI), "--db", str(root / "db.sqlite3"), "--migrations", str(root / "migrations")]
    run_checked(Invocation([*base, "migrate"], root), work / "scratch")
    call = Invocation([PYTHON, "-X", "importtime", *base, "status", "--json"], root)
    run_checked(call, work / "scratch")
    result = run_checked(call, work / "scratch")
    rows = parse_importtime(result.stderr)
    ui = sorted({r[3] for r in rows if r[3].split(".")[0] in UI_PACKAGES})
    total = sum(r[1] for r in rows if r[2] == 0) / 1e6
    return {
        "command": "metamigrate status --json",
        "ui_modules": ui,
        "rich_free": not ui,
        "imports_total_s": total,
        "wall_s": result.seconds,
    }


def library_commits(n: int, work: Path) -> dict[str, Any]:
    """Statements and COMMITs the library sends to SQLite (trace callback), from a fresh file."""
    root = work / "library"
    write_migrations(Workload(n), root / "migrations")
    call = Invocation(
        [
            PYTHON,
            str(HERE / "library_probe.py"),
            str(root / "migrations"),
            str(root / "db.sqlite3"),
        ],
        root,
    )
    return json.loads(run_checked(call, work / "scratch").stdout)


def console(n: int, idle_seconds: float, work: Path) -> dict[str, Any]:
    """First paint with N migrations and idle CPU (see console_probe.py); skipped when absent."""
    root = work / "console"
    write_migrations(Workload(n), root / "migrations")
    call = Invocation(
        [
            PYTHON,
            str(HERE / "console_probe.py"),
            str(root / "migrations"),
            str(root / "db.sqlite3"),
            str(idle_seconds),
        ],
        root,
    )
    result = run(call, work / "scratch", timeout=120 + idle_seconds)
    if result.returncode != 0:
        return {"skipped": f"console probe failed: {(result.stderr or result.stdout)[-600:]}"}
    data: dict[str, Any] = json.loads(result.stdout)
    data["n"] = n
    return data


def all_probes(
    work: Path, *, reps: int, library_n: int, console_n: int, idle_seconds: float
) -> dict[str, Any]:
    probes: dict[str, Any] = {"interpreter_startup": interpreter_startup(reps, work)}
    reason = engine_unavailable()
    if reason:
        skipped = {"skipped": reason}
        probes.update(import_engine=skipped, json_path=skipped, library=skipped, console=skipped)
        return probes
    probes["import_engine"] = import_engine(reps, work)
    probes["json_path"] = json_path_imports(work)
    probes["library"] = library_commits(library_n, work)
    probes["console"] = console(console_n, idle_seconds, work)
    return probes
