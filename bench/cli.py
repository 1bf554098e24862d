"""``python -m bench``: run the benchmark, or render / paste the README section from a run."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import environment, pg, probes, profiling, readme, report, suite, targets
from bench.tools import Tool, all_tools, postgres_tools

HERE = Path(__file__).resolve().parent
REPO_README = HERE.parent / "README.md"


@dataclass(frozen=True)
class Plan:
    """How much to measure: the quick smoke run or the full run, before overrides."""

    mode: str
    ns: tuple[int, ...]
    status_n: int | None
    #: Timed repetitions for each N of ``ns`` (the last one also for the large status run).
    reps: tuple[int, ...]
    #: Tools in the large status run (None: all). Peers take minutes there: see bench/README.md.
    status_large_tools: tuple[str, ...] | None
    status_runs: int
    probe_reps: int
    library_n: int
    console_n: int
    idle_seconds: float


QUICK = Plan("quick", (100,), None, (2,), None, 2, 3, 100, 100, 2.0)
FULL = Plan("full", (100, 1000), 10_000, (4, 3), ("raw", "metamigrate"), 3, 10, 1000, 1000, 10.0)


@dataclass(frozen=True)
class PostgresPlan:
    """The PostgreSQL target's run: its Ns, repetitions, status runs and replica processes."""

    ns: tuple[int, ...]
    reps: int
    status_runs: int
    replicas: int


PG_QUICK = PostgresPlan((50,), 1, 2, 8)
PG_FULL = PostgresPlan((1000,), 3, 3, 8)
TARGETS = ("sqlite", "postgres", "all")


def reps_for(plan: Plan, index: int, override: int | None) -> int:
    return override or plan.reps[min(index, len(plan.reps) - 1)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: SQLite at N = 100 (2 repetitions) and PostgreSQL at N = 50 (1)",
    )
    p.add_argument(
        "--target",
        choices=TARGETS,
        help="which databases: sqlite, postgres or all (default: all with --quick, else sqlite); "
        "results of a target not run are kept from the existing results.json",
    )
    p.add_argument(
        "--pg-server",
        default=pg.default_server(),
        help="PostgreSQL server for the postgres target; scratch databases are created and "
        "dropped on it (default: $METAMIGRATE_TEST_POSTGRES or the local server)",
    )
    p.add_argument(
        "--replicas", type=int, help="processes of the replica-start figure (postgres; 0: skip)"
    )
    p.add_argument(
        "--n", type=int, nargs="+", help="override the Ns of the apply/status/rollback runs"
    )
    p.add_argument("--status-n", type=int, help="N of the large status/memory run (0: skip)")
    p.add_argument("--reps", type=int, help="timed repetitions per tool")
    p.add_argument(
        "--status-large-tools",
        help="comma-separated tools for the large status run, or 'all' "
        "(default: raw,metamigrate in a full run; peers take minutes each at N = 10,000)",
    )
    p.add_argument("--status-runs", type=int, help="status runs per repetition")
    p.add_argument("--tools", help="comma-separated tool keys (default: all; per target)")
    p.add_argument("--probe-reps", type=int, help="repetitions of the single-figure probes")
    p.add_argument("--no-probes", action="store_true", help="skip import/commit/console probes")
    p.add_argument("--idle-seconds", type=float, help="idle console measurement window")
    p.add_argument(
        "--setup-timeout",
        type=float,
        default=240.0,
        help="seconds a tool may take to set up the large status run (untimed)",
    )
    p.add_argument(
        "--setup-on-disk",
        action="store_true",
        help="set up the large status run on disk rather than on /dev/shm",
    )
    p.add_argument("--workdir", type=Path, help="where generated projects go (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument(
        "--out-dir", type=Path, default=HERE, help="where RESULTS.md and results.json go"
    )
    p.add_argument("--results", type=Path, help="results.json to render (default: OUT_DIR's)")
    p.add_argument(
        "--readme-section",
        action="store_true",
        help="print the README performance section from results.json and exit",
    )
    p.add_argument(
        "--update-readme",
        nargs="?",
        const=REPO_README,
        type=Path,
        metavar="README",
        help="rewrite the text between the bench markers of README.md and exit",
    )
    p.add_argument(
        "--profile",
        choices=profiling.OPERATIONS,
        help="cProfile one metamigrate command on the workload and exit",
    )
    p.add_argument(
        "--breakdown",
        action="store_true",
        help="time the engine's parts for migrate/rollback in process and exit",
    )
    p.add_argument("--profile-n", type=int, default=1000, help="N for --profile / --breakdown")
    p.add_argument("--list-tools", action="store_true", help="list tool keys and exit")
    return p.parse_args(argv)


def choose_tools(selection: str | None) -> list[Tool]:
    tools = all_tools()
    if not selection:
        return tools
    wanted = [key.strip() for key in selection.split(",") if key.strip()]
    known = {t.key for t in tools} | {t.key for t in postgres_tools(pg.DEFAULT_SERVER)}
    unknown = [k for k in wanted if k not in known]
    if unknown:
        raise SystemExit(f"unknown tool(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [t for t in tools if t.key in wanted]


def large_tools(runnable: list[Tool], plan: Plan, selection: str | None) -> list[Tool]:
    if selection == "all" or (selection is None and plan.status_large_tools is None):
        return runnable
    keys = selection.split(",") if selection else list(plan.status_large_tools or ())
    return [t for t in runnable if t.key in keys]


def tmpfs() -> Path | None:
    """A scratch directory on /dev/shm for untimed setup, when there is one."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or not environment.filesystem(shm).startswith("tmpfs"):
        return None
    return Path(tempfile.mkdtemp(prefix="metamigrate-bench-setup-", dir=shm))


def measure_postgres(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The PostgreSQL target's section of results.json."""
    from bench import pg_suite

    plan = PG_QUICK if args.quick else PG_FULL
    selection = None
    if args.tools:
        selection = [key.strip() for key in args.tools.split(",") if key.strip()]
    return pg_suite.run_target(
        args.pg_server,
        [n for n in (args.n or plan.ns) if n > 0],
        args.reps or plan.reps,
        args.status_runs or plan.status_runs,
        plan.replicas if args.replicas is None else args.replicas,
        "quick" if args.quick else "full",
        work / "postgres",
        selection,
    )


def measure(args: argparse.Namespace, plan: Plan, work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    tools = choose_tools(args.tools)
    skipped = {t.key: reason for t in tools if (reason := t.unavailable())}
    runnable = [t for t in tools if t.key not in skipped]
    for key, reason in skipped.items():
        suite.log(f"skipping {key}: {reason}")
    results: dict[str, Any] = {
        "schema": 1,
        "mode": plan.mode,
        "tools": suite.tool_entries(tools, skipped),
        "environment": environment.describe(work, {t.key: t.version() for t in tools}),
        "cycles": [],
        "status_large": None,
        "probes": {},
    }
    for index, n in enumerate(n for n in (args.n or plan.ns) if n > 0):
        cycle = suite.run_cycles(
            runnable,
            n,
            reps_for(plan, index, args.reps),
            args.status_runs or plan.status_runs,
            work,
        )
        cycle["skipped"].update(skipped)
        results["cycles"].append(cycle)
    status_n = plan.status_n if args.status_n is None else args.status_n
    if status_n:
        setup_dir = None if args.setup_on_disk else tmpfs()
        try:
            results["status_large"] = suite.run_status_large(
                large_tools(runnable, plan, args.status_large_tools),
                status_n,
                reps_for(plan, len(plan.reps), args.reps),
                work,
                args.setup_timeout,
                setup_dir,
            )
        finally:
            if setup_dir is not None:
                shutil.rmtree(setup_dir, ignore_errors=True)
    if not args.no_probes:
        suite.log("probes: startup, import engine, --json imports, library commits, console")
        results["probes"] = probes.all_probes(
            work,
            reps=args.probe_reps or plan.probe_reps,
            library_n=plan.library_n,
            console_n=plan.console_n,
            idle_seconds=args.idle_seconds or plan.idle_seconds,
        )
    results["targets"] = targets.evaluate(results)
    results["environment"]["load_average_end"] = environment.load_average()
    results["duration_s"] = time.perf_counter() - started
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list_tools:
        for tool in all_tools():
            print(f"sqlite    {tool.key:20s} {tool.label}")
        for tool in postgres_tools(args.pg_server):
            print(f"postgres  {tool.key:20s} {tool.label}")
        return 0
    results_path = args.results or args.out_dir / "results.json"
    if args.readme_section or args.update_readme:
        section = readme.render_section(report.load(results_path))
        if args.readme_section:
            print(readme.START)
            print(section)
            print(readme.END)
        if args.update_readme:
            try:
                readme.update_readme(args.update_readme, section)
            except readme.MarkersMissing as exc:
                print(exc, file=sys.stderr)
                return 1
            print(f"updated {args.update_readme}", file=sys.stderr)
        return 0
    if args.profile or args.breakdown:
        work = args.workdir or Path(tempfile.mkdtemp(prefix="metamigrate-profile-"))
        try:
            if args.profile:
                print(profiling.profile(args.profile, args.profile_n, work))
            else:
                data = profiling.breakdown(args.profile_n, work)
                print(profiling.render_breakdown(data))
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
        return 0
    plan = QUICK if args.quick else FULL
    target = args.target or ("all" if args.quick else "sqlite")
    postgres_reason = None
    if target in ("postgres", "all"):
        postgres_reason = pg.unavailable(args.pg_server)
        if postgres_reason and target == "postgres":
            print(f"{postgres_reason}; start it or pass --pg-server URL.", file=sys.stderr)
            return 1
        if postgres_reason:
            suite.log(f"skipping the postgres target: {postgres_reason}")
    previous = report.load_previous(args.out_dir / "results.json")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="metamigrate-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    sqlite_results = postgres_results = None
    try:
        if target in ("sqlite", "all"):
            sqlite_results = measure(args, plan, work)
        if target != "sqlite" and postgres_reason is None:
            postgres_results = measure_postgres(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results = report.merge(previous, sqlite_results, postgres_results)
    json_path, md_path = report.write(results, args.out_dir)
    print(report.render_markdown(results))
    print(f"wrote {md_path} and {json_path}", file=sys.stderr)
    return 0
