"""The targets of issue 12 (SQLite) and issue 13 (PostgreSQL), checked against one run's results."""

from __future__ import annotations

import itertools
from typing import Any

#: Largest N the per-migration targets are judged at (the issue states them at N = 1000).
TARGET_N = 1000


def _cycle(results: dict[str, Any]) -> dict[str, Any] | None:
    cycles = [c for c in results.get("cycles", []) if c["n"] <= TARGET_N]
    return max(cycles, key=lambda c: c["n"]) if cycles else None


def _get(data: dict[str, Any] | None, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _target(name: str, goal: str, measured: str, ok: bool | None, note: str = "") -> dict[str, Any]:
    return {"name": name, "target": goal, "measured": measured, "ok": ok, "note": note}


def _ratio_target(
    cycle: dict[str, Any], key: str, op: str, which: str, limit: float, name: str, goal: str
) -> dict[str, Any]:
    """Judged on the ratio of medians; the ratio of minimums (less sensitive to other load on a
    shared machine) is shown beside it, and noted when it alone meets the target."""
    summary = _get(cycle, "results", key, op)
    value = _get(summary, which)
    if value is None:
        return _target(name, goal, "not measured", None, _get(cycle, "skipped", key) or "")
    at_min = _get(summary, which + "_min")
    measured = f"{value:.2f}x median ({summary['median']:.3f} s)"
    if at_min is not None:
        measured += f", {at_min:.2f}x min"
    measured += f", N = {cycle['n']}"
    note = (
        "met on the minimums only"
        if value > limit and at_min is not None and at_min <= limit
        else ""
    )
    return _target(name, goal, measured, value <= limit, note)


def _marginal(statuses: dict[int, float]) -> list[tuple[int, int, float]]:
    ns = sorted(statuses)
    return [(a, b, (statuses[b] - statuses[a]) / (b - a)) for a, b in itertools.pairwise(ns)]


def status_linearity(results: dict[str, Any], key: str) -> dict[str, Any]:
    """Median status seconds of ``key`` per N and the marginal cost per migration between Ns."""
    statuses: dict[int, float] = {}
    for section in [*results.get("cycles", []), results.get("status_large") or {}]:
        median = _get(section, "results", key, "status", "median")
        if median is not None:
            statuses[section["n"]] = median
    steps = _marginal(statuses)
    return {
        "median_s": {str(n): s for n, s in sorted(statuses.items())},
        "marginal_us_per_migration": [{"from": a, "to": b, "us": per * 1e6} for a, b, per in steps],
    }


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    cycle = _cycle(results)
    probes = results.get("probes", {})
    found: list[dict[str, Any]] = []
    if cycle is not None:
        found += [
            _ratio_target(
                cycle,
                "metamigrate",
                "apply",
                "ratio_floor",
                1.1,
                "apply, one tx per migration",
                "<= 1.1x raw floor",
            ),
            _ratio_target(
                cycle,
                "metamigrate-atomic",
                "apply",
                "ratio_baseline",
                1.5,
                "apply --atomic",
                "<= 1.5x raw one-tx",
            ),
            _ratio_target(
                cycle,
                "metamigrate",
                "status",
                "ratio_floor",
                1.5,
                "status --json of a migrated DB",
                "<= 1.5x raw",
            ),
            _ratio_target(
                cycle,
                "metamigrate",
                "rollback",
                "ratio_floor",
                1.2,
                "rollback all",
                "<= 1.2x raw floor",
            ),
        ]
        backup = _get(cycle, "results", "metamigrate-backup", "apply", "ratio_floor")
        found.append(
            _target(
                "apply with automatic backup",
                "reported",
                f"{backup:.2f}x raw floor" if backup is not None else "not measured",
                None,
                "" if backup is not None else "no backup option in this engine yet",
            )
        )
        commits = _get(cycle, "results", "metamigrate", "commits", "apply")
        lib = _get(probes, "library", "migrate_to_latest", "COMMIT")
        lib_n = _get(probes, "library", "migrations")
        ok = None if lib is None else lib == lib_n
        found.append(
            _target(
                "commits on apply",
                "one per migration",
                (
                    f"{lib} COMMIT for {lib_n} migrations (library trace); "
                    f"file change counter {commits} for N = {cycle['n']}"
                )
                if lib is not None
                else f"file change counter {commits} for N = {cycle['n']}",
                ok,
            )
        )
    linear = status_linearity(results, "metamigrate")
    steps = linear["marginal_us_per_migration"]
    if len(steps) >= 2:
        lo, hi = steps[-2]["us"], steps[-1]["us"]
        ok = hi <= 1.5 * max(lo, 1.0)
        text = ", ".join(f"{s['from']}->{s['to']}: {s['us']:.0f} us" for s in steps)
        found.append(
            _target("status linear up to N = 10,000", "marginal cost per migration flat", text, ok)
        )
    imp = probes.get("import_engine", {})
    found.append(
        _target(
            "import engine",
            "< 30 ms cumulative",
            f"{imp['median'] * 1000:.1f} ms median (min {imp['min'] * 1000:.1f})"
            if "median" in imp
            else "not measured",
            imp["median"] < 0.030 if "median" in imp else None,
            imp.get("skipped", ""),
        )
    )
    jp = probes.get("json_path", {})
    found.append(
        _target(
            "no Rich/Textual on status --json",
            "none imported",
            ("none" if jp.get("rich_free") else ", ".join(jp.get("ui_modules", [])[:6]))
            if "rich_free" in jp
            else "not measured",
            jp.get("rich_free"),
            jp.get("skipped", ""),
        )
    )
    con = probes.get("console", {})
    paint = con.get("first_paint_s")
    found.append(
        _target(
            f"console first paint ({con.get('n', '?')} migrations)",
            "< 1 s",
            f"{paint:.3f} s" if paint is not None else "not measured",
            paint < 1.0 if paint is not None else None,
            con.get("skipped", ""),
        )
    )
    idle = con.get("idle_cpu_share")
    found.append(
        _target(
            "idle console CPU",
            "< 2% of a core",
            f"{idle * 100:.2f}%" if idle is not None else "not measured",
            idle < 0.02 if idle is not None else None,
            con.get("skipped", ""),
        )
    )
    rss = _get(results, "status_large", "results", "metamigrate", "status", "max_rss_kib")
    large_n = _get(results, "status_large", "n")
    found.append(
        _target(
            f"peak memory, status at N = {large_n or 10000}",
            "reported",
            f"{rss / 1024:.1f} MiB (ru_maxrss of the process)" if rss else "not measured",
            None,
        )
    )
    return found


#: The PostgreSQL target's goals (issue 13): metamigrate against raw psycopg, same run.
POSTGRES_LIMITS = (
    ("apply", 1.2, "apply, one tx per migration", "<= 1.2x raw psycopg floor"),
    ("status", 1.5, "status --json of a migrated DB", "<= 1.5x raw psycopg"),
    ("rollback", 1.2, "rollback all (--to 0 --yes)", "<= 1.2x raw psycopg floor"),
)


def _peers_slower(cycle: dict[str, Any], tools: dict[str, Any]) -> dict[str, Any]:
    ours = cycle["results"].get("metamigrate")
    faster: list[str] = []
    compared = 0
    for key, data in cycle["results"].items():
        if tools.get(key, {}).get("group") != "peer" or not ours:
            continue
        for op in ("apply", "status", "rollback"):
            mine, theirs = _get(ours, op, "median"), _get(data, op, "median")
            if mine and theirs:
                compared += 1
                if theirs <= mine:
                    faster.append(f"{key} {op} {theirs:.3f} s vs {mine:.3f} s")
    measured = "; ".join(faster) if faster else f"all {compared} peer figures slower"
    return _target(
        "every peer slower",
        "each peer's median above metamigrate's, each op",
        f"{measured}, N = {cycle['n']}",
        None if not compared else not faster,
    )


def evaluate_postgres(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The PostgreSQL target's goals checked against its own section of results.json."""
    cycle = _cycle(results)
    found: list[dict[str, Any]] = []
    if cycle is not None:
        for op, limit, name, goal in POSTGRES_LIMITS:
            found.append(_ratio_target(cycle, "metamigrate", op, "ratio_floor", limit, name, goal))
        found.append(_peers_slower(cycle, results.get("tools", {})))
    start = results.get("replica_start") or {}
    if "ratio" in start:
        floor = start.get("floor") or {}
        notes = []
        if start["ratio"] > 2.0 and start["ratio_min"] <= 2.0:
            notes.append("met on the minimums only")
        if "ratio" in floor:
            notes.append(
                f"raw psycopg's status, {start['replicas']} at once against one: "
                f"{floor['ratio']:.2f}x"
            )
        found.append(
            _target(
                f"replica start: {start['replicas']} x ensure-ready at once",
                "<= 2x one process alone",
                f"{start['ratio']:.2f}x median ({start['all']['median']:.3f} s vs "
                f"{start['one']['median']:.3f} s), {start['ratio_min']:.2f}x min, "
                f"N = {start['n']}",
                start["ratio"] <= 2.0,
                "; ".join(notes),
            )
        )
    else:
        found.append(
            _target(
                "replica start",
                "<= 2x one process alone",
                "not measured",
                None,
                start.get("skipped", ""),
            )
        )
    return found
