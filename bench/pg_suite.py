"""The PostgreSQL target: the same cycles as on SQLite, on scratch databases of one server, and
the replica-start figure (8 processes calling ``ensure-ready`` at once against one alone).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import dbcheck, environment, pg, suite
from bench.proc import CommandFailed, run_checked
from bench.proc import environment as child_environment
from bench.stats import summarize
from bench.tools import Tool, postgres_tools
from bench.tools.base import Invocation
from bench.tools.metamigrate_tool import Metamigrate
from bench.tools.raw import RawPostgres
from bench.workload import Workload


def choose(server: str, selection: list[str] | None) -> list[Tool]:
    tools = postgres_tools(server)
    return tools if selection is None else [t for t in tools if t.key in selection]


def replica_start(
    server: str, n: int, replicas: int, reps: int, work: Path, warm_up: bool = True
) -> dict[str, Any]:
    """Seconds until ``replicas`` processes started at once have all exited from
    ``metamigrate ensure-ready`` on a database migrated to N, against one process alone; and
    the same for raw psycopg's status script (the floor: on a machine with fewer cores than
    processes, CPU time alone makes N processes slower than one).

    Each database is migrated once by the tool's apply (untimed); each repetition times one
    process alone, then all of them together (spawn of the first to reap of the last), and
    every process must succeed (exit 0: READY for ensure-ready).
    """
    workload = Workload(n)
    scratch = work / "scratch"
    commands: dict[str, Invocation] = {}
    for tool, make in (
        (Metamigrate("no-backup", server), lambda p: [*p.status.argv[:-2], "ensure-ready"]),
        (RawPostgres(False, server), lambda p: p.status.argv),
    ):
        tool.key += "-replicas"  # its own scratch database
        project = tool.prepare(workload, work / f"replicas-n{n}-{tool.key}")
        suite.byte_compile(project.root)
        project.reset()
        run_checked(project.apply, scratch)
        dbcheck.assert_applied(project.db, workload, tool.key)
        commands[tool.key.removesuffix("-replicas")] = Invocation(make(project), project.root)
    samples: dict[str, tuple[list[Any], list[float], list[float]]] = {
        key: ([], [], []) for key in commands
    }
    for rep in range(0 if warm_up else 1, reps + 1):
        for key, command in commands.items():
            single = run_checked(command, scratch)
            seconds, cpu_seconds = _all_at_once(command, replicas, scratch)
            if rep:
                alone, together, cpu = samples[key]
                alone.append(single)
                together.append(seconds)
                cpu.append(cpu_seconds)
            suite.log(
                f"N={n} replica start {'rep ' + str(rep) if rep else 'warm-up'}: {key}: 1 alone "
                f"{single.seconds:.3f}s, {replicas} at once {seconds:.3f}s"
            )
    figures = {key: _figure(*samples[key]) for key in commands}
    return {
        "n": n,
        "replicas": replicas,
        "reps": reps,
        "command": "metamigrate ensure-ready",
        **figures["metamigrate"],
        # The same measurement of the raw status script: what this machine's cores allow.
        "floor": {"command": "raw psycopg status", **figures["raw"]},
    }


def _figure(alone: list[Any], together: list[float], cpu: list[float]) -> dict[str, Any]:
    one = summarize(alone)
    many = {"min": min(together), "median": _median(together), "samples": together}
    many["cpu_seconds_all_processes_median"] = _median(cpu)
    return {
        "one": one,
        "all": many,
        "ratio": many["median"] / one["median"],
        "ratio_min": many["min"] / one["min"],
    }


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values)


def _all_at_once(invocation: Invocation, count: int, scratch: Path) -> tuple[float, float]:
    """Wall seconds from the first spawn to the last reap, and the processes' CPU seconds."""
    scratch.mkdir(parents=True, exist_ok=True)
    env = child_environment(invocation.env)
    with contextlib.ExitStack() as stack:
        outputs = [
            stack.enter_context(open(scratch / f"replica-{i}.txt", "wb")) for i in range(count)
        ]
        started = time.perf_counter()
        children = [
            subprocess.Popen(
                invocation.argv,
                cwd=invocation.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            for out in outputs
        ]
        cpu = 0.0
        failed = []
        for child in children:
            _, status, usage = os.wait4(child.pid, 0)
            cpu += usage.ru_utime + usage.ru_stime
            if os.waitstatus_to_exitcode(status) != 0:
                failed.append(child.pid)
        seconds = time.perf_counter() - started
    if failed:
        text = (scratch / "replica-0.txt").read_text(errors="replace")[-1000:]
        raise CommandFailed(f"{len(failed)} of {count} ensure-ready processes failed:\n{text}")
    return seconds, cpu


def run_target(
    server: str,
    ns: list[int],
    reps: int,
    status_runs: int,
    replicas: int,
    mode: str,
    work: Path,
    selection: list[str] | None = None,
) -> dict[str, Any]:
    """Every PostgreSQL tool at each N, then the replica start at the largest N."""
    from bench import targets

    started = time.perf_counter()
    tools = choose(server, selection)
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "schema": 1,
        "mode": mode,
        "tools": suite.tool_entries(tools, {}),
        "environment": {
            **environment.describe(work, {t.key: t.version() for t in tools}),
            "postgres": pg.describe(server),
        },
        "cycles": [],
        "replica_start": None,
    }
    try:
        for n in ns:
            results["cycles"].append(suite.run_cycles(tools, n, reps, status_runs, work))
        if ns and replicas and (selection is None or "metamigrate" in selection):
            try:
                results["replica_start"] = replica_start(server, max(ns), replicas, reps, work)
            except (CommandFailed, dbcheck.CheckFailed) as exc:
                results["replica_start"] = {"skipped": f"failed: {exc}"[:600]}
    finally:
        pg.drop_all()
    results["targets"] = targets.evaluate_postgres(results)
    results["environment"]["load_average_end"] = environment.load_average()
    results["duration_s"] = time.perf_counter() - started
    return results
