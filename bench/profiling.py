"""Where the time goes: cProfile of one metamigrate CLI command on the benchmark workload.

``python -m bench --profile apply|atomic|status|rollback [--profile-n N]`` writes the workload,
prepares the database (untimed), then runs the same ``metamigrate`` command the benchmark times,
under ``python -m cProfile``, and prints the functions with the most cumulative and own time.

``python -m bench --breakdown [--profile-n N]``: self time of the engine's parts (bookkeeping,
COMMIT, the migrations' SQL, imports...) for migrate and rollback in process, next to raw sqlite3.
"""

from __future__ import annotations

import io
import json
import pstats
from pathlib import Path
from typing import Any

from bench.proc import run_checked
from bench.suite import byte_compile
from bench.tools.base import PYTHON, Invocation
from bench.tools.metamigrate_tool import Metamigrate, write_migrations
from bench.tools.raw import RawSqlite
from bench.workload import Workload

OPERATIONS = ("apply", "atomic", "status", "rollback")
HERE = Path(__file__).resolve().parent


def profile(operation: str, n: int, work: Path, top: int = 30) -> str:
    tool = Metamigrate("atomic" if operation == "atomic" else "no-backup")
    project = tool.prepare(Workload(n), work / f"profile-{operation}-{n}")
    byte_compile(project.root)  # as the benchmark does: the profile must time the same work
    project.reset()
    scratch = work / "scratch"
    if operation in ("status", "rollback"):
        run_checked(project.apply, scratch)
    invocation = {
        "apply": project.apply,
        "atomic": project.apply,
        "status": project.status,
        "rollback": project.rollback,
    }[operation]
    if operation in ("apply", "atomic"):
        # A warm-up run writes the bytecode caches, as on any machine after the first deploy.
        run_checked(invocation, scratch)
        run_checked(project.rollback, scratch)
    stats_file = work / f"{operation}-{n}.prof"
    argv = [PYTHON, "-m", "cProfile", "-o", str(stats_file), *invocation.argv]
    result = run_checked(Invocation(argv, invocation.cwd), scratch)
    out = io.StringIO()
    out.write(f"# metamigrate {operation}, N = {n}: {result.seconds:.3f} s wall under cProfile\n")
    stats = pstats.Stats(str(stats_file), stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def breakdown(n: int, work: Path) -> dict[str, Any]:
    """Self time per engine function for migrate/rollback in process (see breakdown_probe.py)."""
    root = work / f"breakdown-{n}"
    workload = Workload(n)
    write_migrations(workload, root / "migrations")
    RawSqlite(one_tx=False).write_sources(workload, root / "raw")
    byte_compile(root)
    argv = [
        PYTHON,
        str(HERE / "breakdown_probe.py"),
        str(root / "migrations"),
        str(root / "db.sqlite3"),
        str(root / "raw" / "migrations"),
    ]
    data: dict[str, Any] = json.loads(run_checked(Invocation(argv, root), work / "scratch").stdout)
    data["n"] = n
    return data


def render_breakdown(data: dict[str, Any], top: int = 12) -> str:
    lines = [f"# Where the library's time goes, N = {data['n']} (in process, self time)", ""]
    for mode in ("per_migration", "atomic"):
        for op in ("migrate", "rollback"):
            entry = data[f"{op}_{mode}"]
            raw = data[f"raw_{'apply' if op == 'migrate' else 'rollback'}_{mode}_s"]
            lines += [
                f"## {op}, {mode.replace('_', ' ')}: {entry['total_s']:.3f} s "
                f"(raw sqlite3 in the same process: {raw:.3f} s)",
                "",
                "| part | calls | ms |",
                "|---|---|---|",
            ]
            parts = sorted(entry["parts"].items(), key=lambda kv: -kv[1]["seconds"])
            for name, part in parts[:top]:
                lines.append(f"| {name} | {part['calls']} | {part['seconds'] * 1000:.1f} |")
            lines += [f"| everything else | | {entry['unattributed_s'] * 1000:.1f} |", ""]
    if data.get("unwrapped"):
        lines.append(f"Not in this engine (not wrapped): {', '.join(data['unwrapped'])}.")
    return "\n".join(lines)
