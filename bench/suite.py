"""Side-by-side runs: every tool applies, reports status and rolls back the same workload.

Repetitions are interleaved (rep 1 of every tool, then rep 2, ...), with the tool order rotated
each time, so that load from other processes on a shared machine spreads over all tools instead
of landing on one. Every project is byte-compiled when written (``compileall``, as the first run
after a deploy would leave it), and the first N of a run starts with one untimed warm-up cycle
per tool (interpreter, libraries and tools in the page cache).
"""

from __future__ import annotations

import compileall
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import dbcheck
from bench.proc import CommandFailed, Run, run_checked
from bench.stats import ratio, summarize
from bench.tools import Project, Tool
from bench.workload import Workload

OPS = ("apply", "status", "rollback")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class ToolRuns:
    apply: list[Run] = field(default_factory=list)
    status: list[Run] = field(default_factory=list)
    rollback: list[Run] = field(default_factory=list)
    commits: dict[str, int] = field(default_factory=dict)


def tool_entries(tools: list[Tool], skipped: dict[str, str]) -> dict[str, Any]:
    """The ``tools`` section of results.json: label, group, baseline, version, why skipped."""
    return {
        t.key: {
            "label": t.label,
            "group": t.group,
            "baseline": t.baseline,
            "version": t.version(),
            "skipped": skipped.get(t.key),
        }
        for t in tools
    }


def measures_status(tool: Tool) -> bool:
    """Status is measured once per distinct status command: not for the raw one-tx baseline
    and metamigrate's other modes, whose status is the same command on the same data."""
    return tool.key not in ("raw-1tx", "metamigrate-backup", "metamigrate-atomic")


def cycle(
    tool: Tool,
    project: Project,
    workload: Workload,
    status_runs: int,
    scratch: Path,
    into: ToolRuns | None,
) -> None:
    """Fresh file, apply, check, status, rollback, check. ``into=None``: warm-up, not recorded."""
    project.reset()
    applied = run_checked(project.apply, scratch)
    dbcheck.assert_applied(project.db, workload, tool.key)
    after_apply = dbcheck.change_counter(project.db)
    statuses = []
    for _ in range(status_runs if measures_status(tool) else 0):
        result = run_checked(project.status, scratch)
        if not tool.status_ok(result.stdout, workload):
            raise dbcheck.CheckFailed(f"{tool.key}: status output does not show all applied")
        statuses.append(result)
    after_status = dbcheck.change_counter(project.db)
    rolled = run_checked(project.rollback, scratch)
    dbcheck.assert_rolled_back(project.db, workload, tool.key)
    after_rollback = dbcheck.change_counter(project.db)
    if into is not None:
        into.apply.append(applied)
        into.status.extend(statuses)
        into.rollback.append(rolled)
        if after_apply is not None and after_status is not None and after_rollback is not None:
            into.commits = {
                "apply": after_apply,
                "status": after_status - after_apply,
                "rollback": after_rollback - after_status,
            }


def byte_compile(root: Path) -> None:
    """Write the ``__pycache__`` files the first run of each tool would write.

    They are written at least a second after the newest source, as after any real deploy:
    metamigrate trusts a timestamp pyc only then (one written in its source's second could
    hide a same-size edit), and every tool should start from the same cache."""
    newest = max((path.stat().st_mtime for path in root.rglob("*.py")), default=0.0)
    time.sleep(max(0.0, newest + 1.05 - time.time()))
    compileall.compile_dir(str(root), quiet=2, workers=1)


def run_cycles(
    tools: list[Tool], n: int, reps: int, status_runs: int, work: Path, warm_up: bool = True
) -> dict[str, Any]:
    """All tools at one N; returns the JSON-ready summaries keyed by tool."""
    workload = Workload(n)
    projects: dict[str, Project] = {}
    for tool in tools:
        log(f"N={n}: writing {tool.key} sources")
        projects[tool.key] = tool.prepare(workload, work / f"n{n}" / tool.key)
        byte_compile(projects[tool.key].root)
    runs = {tool.key: ToolRuns() for tool in tools}
    failed: dict[str, str] = {}
    for rep in range(0 if warm_up else 1, reps + 1):
        shift = rep % len(tools)
        for tool in tools[shift:] + tools[:shift]:
            if tool.key in failed:
                continue
            started = time.perf_counter()
            try:
                cycle(
                    tool,
                    projects[tool.key],
                    workload,
                    status_runs,
                    work / "scratch",
                    runs[tool.key] if rep else None,
                )
            except (CommandFailed, dbcheck.CheckFailed, OSError, ValueError) as exc:
                failed[tool.key] = f"failed: {exc}".strip()[:600]
                log(f"N={n}: {tool.key} {failed[tool.key]}")
                continue
            took = time.perf_counter() - started
            log(f"N={n} {'rep ' + str(rep) if rep else 'warm-up'}: {tool.key} cycle {took:.2f}s")
    results: dict[str, Any] = {}
    for tool in tools:
        if tool.key in failed:
            continue
        r = runs[tool.key]
        results[tool.key] = {
            "apply": summarize(r.apply),
            "status": summarize(r.status),
            "rollback": summarize(r.rollback),
            "commits": r.commits,
        }
    add_ratios(results, tools)
    return {
        "n": n,
        "reps": reps,
        "status_runs_per_rep": status_runs,
        "warm_up_cycle": warm_up,
        "results": results,
        "skipped": failed,
    }


def add_ratios(results: dict[str, Any], tools: list[Tool]) -> None:
    """ratio_floor: to raw one-tx-per-migration; ratio_baseline: to the tool's own baseline."""
    for tool in tools:
        if tool.key not in results:
            continue  # failed in this run: reported under "skipped", no figures to compare
        for op in OPS:
            summary = results[tool.key].get(op)
            if not summary:
                continue
            floor = results.get("raw", {}).get(op)
            base = results.get(tool.baseline, {}).get(op) if op != "status" else floor
            summary["ratio_floor"] = ratio(summary, floor)
            summary["ratio_floor_min"] = ratio(summary, floor, "min")
            summary["ratio_baseline"] = ratio(summary, base)
            summary["ratio_baseline_min"] = ratio(summary, base, "min")


def set_up(
    tool: Tool,
    workload: Workload,
    root: Path,
    setup_dir: Path | None,
    timeout: float,
    scratch: Path,
) -> Project:
    """Sources under ``root`` and a database migrated to the end by the tool's own apply.

    With ``setup_dir`` (a tmpfs), the project is written and applied there, where a commit costs
    no fsync, then copied to ``root`` with its timestamps (``copytree`` keeps mtimes, which
    metamigrate's checksum cache relies on): the same files and database, set up in less time.
    """
    if setup_dir is None:
        project = tool.prepare(workload, root)
        project.reset()
        run_checked(tool.setup_apply(project), scratch, timeout=timeout)
    else:
        staging = setup_dir / root.name
        fast = tool.prepare(workload, staging)
        fast.reset()
        run_checked(tool.setup_apply(fast), scratch, timeout=timeout)
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(staging, root)
        shutil.rmtree(staging, ignore_errors=True)
        project = tool.project(workload, root)
    dbcheck.assert_applied(project.db, workload, tool.key)
    return project


def run_status_large(
    tools: list[Tool],
    n: int,
    reps: int,
    work: Path,
    setup_timeout: float,
    setup_dir: Path | None = None,
) -> dict[str, Any]:
    """Status (and its peak memory) of a database migrated to N by each tool itself.

    The apply that sets the database up is not timed (and may run on a tmpfs, see ``set_up``); a
    tool whose apply takes longer than ``setup_timeout`` is reported as skipped.
    """
    workload = Workload(n)
    results: dict[str, Any] = {}
    ready: list[tuple[Tool, Project]] = []
    for tool in tools:
        if not measures_status(tool):
            continue
        log(f"N={n}: writing {tool.key} sources and applying (untimed, on {setup_dir or 'disk'})")
        root = work / f"n{n}" / tool.key
        started = time.perf_counter()
        try:
            project = set_up(tool, workload, root, setup_dir, setup_timeout, work / "scratch")
        except (CommandFailed, dbcheck.CheckFailed) as exc:
            took = time.perf_counter() - started
            reason = (
                f"setup apply did not finish in {setup_timeout:.0f} s"
                if took >= setup_timeout
                else f"setup apply failed: {exc}"[:600]
            )
            results[tool.key] = {"skipped": reason}
            log(f"N={n}: {tool.key} {reason}")
            continue
        results[tool.key] = {"setup_apply_s": time.perf_counter() - started}
        log(f"N={n}: {tool.key} applied in {results[tool.key]['setup_apply_s']:.1f}s")
        ready.append((tool, project))
    runs: dict[str, list[Run]] = {tool.key: [] for tool, _ in ready}
    for rep in range(reps + 1):
        shift = rep % max(len(ready), 1)
        for tool, project in ready[shift:] + ready[:shift]:
            if "skipped" in results[tool.key]:
                continue
            try:
                result = run_checked(project.status, work / "scratch")
                if not tool.status_ok(result.stdout, workload):
                    raise dbcheck.CheckFailed("status output does not show all applied")
            except (CommandFailed, dbcheck.CheckFailed, ValueError) as exc:
                results[tool.key]["skipped"] = f"status failed: {exc}"[:600]
                continue
            if rep:
                runs[tool.key].append(result)
        log(f"N={n} status {'rep ' + str(rep) if rep else 'warm-up'} done")
    for tool, project in ready:
        if "skipped" not in results[tool.key]:
            results[tool.key]["status"] = summarize(runs[tool.key])
        project.reset()
    floor = results.get("raw", {}).get("status")
    for entry in results.values():
        if "status" in entry:
            entry["status"]["ratio_floor"] = ratio(entry["status"], floor)
            entry["status"]["ratio_floor_min"] = ratio(entry["status"], floor, "min")
    return {"n": n, "reps": reps, "results": results}
