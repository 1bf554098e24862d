"""results.json and RESULTS.md: the figures of one run, rendered as Markdown tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.targets import status_linearity

OPS = ("apply", "status", "rollback")
VERDICT = {True: "met", False: "**missed**", None: "reported"}


def seconds(value: float) -> str:
    if value >= 10:
        return f"{value:.1f} s"
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value:.3f} s"


def cell(summary: dict[str, Any] | None, baseline: str = "raw") -> str:
    """``0.912 s (1.00x) · min 0.887 s``: median, its ratio to the floor's median, and the min.

    Tools judged against the one-transaction baseline also show that ratio.
    """
    if not summary:
        return "—"
    text = seconds(summary["median"])
    if summary.get("ratio_floor") is not None:
        text += f" ({summary['ratio_floor']:.2f}x"
        if baseline != "raw" and summary.get("ratio_baseline") is not None:
            text += f"; {summary['ratio_baseline']:.2f}x raw one-tx"
        text += ")"
    return f"{text} · min {seconds(summary['min'])}"


def _label(results: dict[str, Any], key: str) -> str:
    tool = results["tools"][key]
    return f"{tool['label']} ({tool['version']})" if tool["group"] != "floor" else tool["label"]


def cycle_table(results: dict[str, Any], cycle: dict[str, Any]) -> list[str]:
    lines = [
        f"### N = {cycle['n']} ({cycle['reps']} repetitions; status "
        f"{cycle['status_runs_per_rep']}x per repetition)",
        "",
        "Median wall time of the whole process (ratio to the raw floor's median) · minimum.",
        "",
        "| | apply all | status of a migrated DB | rollback all | write transactions "
        "(apply / status / rollback) | status peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    for key, data in cycle["results"].items():
        commits = data.get("commits") or {}
        rss = (data.get("status") or {}).get("max_rss_kib")
        tool = results["tools"][key]
        base = "raw" if tool["group"] == "floor" else tool["baseline"]
        lines.append(
            f"| {_label(results, key)} | {cell(data.get('apply'), base)} "
            f"| {cell(data.get('status'))} | {cell(data.get('rollback'), base)} "
            f"| {commits.get('apply', '—')} / {commits.get('status', '—')} / "
            f"{commits.get('rollback', '—')} | {f'{rss / 1024:.0f} MiB' if rss else '—'} |"
        )
    for key, reason in cycle.get("skipped", {}).items():
        lines.append(f"| {results['tools'][key]['label']} | skipped: {reason} | | | | |")
    return [*lines, ""]


def versus_peers(results: dict[str, Any], cycle: dict[str, Any]) -> list[str]:
    """Peer median / metamigrate median per operation: above 1, metamigrate is faster."""
    res = cycle["results"]
    ours = res.get("metamigrate")
    peers = [k for k in res if results["tools"][k]["group"] == "peer"]
    if not ours or not peers:
        return []
    lines = [
        f"#### metamigrate against the peers, N = {cycle['n']}",
        "",
        "Peer median divided by metamigrate's median (one tx per migration, no backup): above 1, "
        "metamigrate is faster. `--atomic` apply against the same peers in the last column.",
        "",
        "| | apply | status | rollback | apply, metamigrate --atomic |",
        "|---|---|---|---|---|",
    ]
    atomic = res.get("metamigrate-atomic", {}).get("apply")
    slower: list[str] = []
    for key in peers:
        cells = []
        for op in ("apply", "status", "rollback"):
            mine, theirs = (ours.get(op) or {}), (res[key].get(op) or {})
            if mine.get("median") and theirs.get("median"):
                value = theirs["median"] / mine["median"]
                cells.append(f"{value:.2f}x")
                if value < 1:
                    slower.append(f"{results['tools'][key]['label']} on {op}")
            else:
                cells.append("—")
        apply = (res[key].get("apply") or {}).get("median")
        cells.append(f"{apply / atomic['median']:.2f}x" if apply and atomic else "—")
        lines.append(f"| {results['tools'][key]['label']} | {' | '.join(cells)} |")
    lines.append("")
    if slower:
        lines += [f"Faster than metamigrate in this run: {'; '.join(slower)}.", ""]
    return lines


def status_large_table(results: dict[str, Any], section: dict[str, Any]) -> list[str]:
    lines = [
        f"### Status at N = {section['n']} ({section['reps']} repetitions)",
        "",
        "Each database is migrated by the tool's own apply first (untimed; raw and metamigrate "
        "in one transaction, on tmpfs when available, then copied with its timestamps). Peak RSS "
        "is `ru_maxrss` of the whole status process (from `os.wait4`). Tools not listed were "
        "left out of this run (see bench/README.md for the peers at this N).",
        "",
        "| | status of a migrated DB | peak RSS | untimed setup apply |",
        "|---|---|---|---|",
    ]
    for key, data in section["results"].items():
        if "skipped" in data:
            lines.append(f"| {_label(results, key)} | skipped: {data['skipped']} | | |")
            continue
        status = data.get("status", {})
        lines.append(
            f"| {_label(results, key)} | {cell(status)} | "
            f"{status.get('max_rss_kib', 0) / 1024:.0f} MiB | {seconds(data['setup_apply_s'])} |"
        )
    return [*lines, ""]


def probes_section(results: dict[str, Any]) -> list[str]:
    probes = results.get("probes", {})
    lines = ["### Single figures", ""]
    start = probes.get("interpreter_startup", {})
    if "median" in start:
        lines.append(
            f"- Interpreter startup (`python -c 'import sqlite3'`), part of every figure above: "
            f"{seconds(start['median'])} median, min {seconds(start['min'])}."
        )
    imp = probes.get("import_engine", {})
    if "median" in imp:
        heavy = ", ".join(f"{h['module']} {h['cumulative_ms']:.1f} ms" for h in imp["heaviest"][:5])
        lines.append(
            "- `import engine` (cumulative, `-X importtime`): "
            f"{imp['median'] * 1000:.1f} ms median, "
            f"min {imp['min'] * 1000:.1f} ms. Heaviest: {heavy}."
        )
    jp = probes.get("json_path", {})
    if "rich_free" in jp:
        ui = ", ".join(jp["ui_modules"][:8]) or "none"
        lines.append(f"- UI modules imported by `metamigrate status --json`: {ui}.")
    lib = probes.get("library", {})
    if "migrate_to_latest" in lib:
        lines.append(
            f"- Library API (`{lib['import']}`), {lib['migrations']} migrations, statements sent "
            "to SQLite (trace callback): migrate_to_latest "
            f"{lib['migrate_to_latest']['statements']} statements, "
            f"{lib['migrate_to_latest'].get('COMMIT', 0)} COMMIT; "
            f"migrate_to(atomic=True) {lib['migrate_to_atomic'].get('COMMIT', 0)} COMMIT; "
            f"status() {lib['status']['statements']} statements; rollback(0) "
            f"{lib['rollback_0'].get('COMMIT', 0)} COMMIT."
        )
    con = probes.get("console", {})
    if "first_paint_s" in con:
        lines.append(
            f"- Console with {con['n']} migrations: first full paint "
            f"{seconds(con['first_paint_s'])} "
            f"(pilot, headless, Textual already imported; import took "
            f"{seconds(con['import_console_s'])}), table rows {con.get('table_rows')}; idle CPU "
            f"{con['idle_cpu_share'] * 100:.2f}% of a core over {con['idle_wall_s']:.0f} s."
        )
    for name in ("import_engine", "json_path", "library", "console"):
        if "skipped" in probes.get(name, {}):
            lines.append(f"- {name}: skipped ({probes[name]['skipped']}).")
    linear = status_linearity(results, "metamigrate")
    if linear["marginal_us_per_migration"]:
        per_n = ", ".join(f"N={n}: {seconds(s)}" for n, s in linear["median_s"].items())
        steps = ", ".join(
            f"{m['from']}->{m['to']}: {m['us']:.0f} us" for m in linear["marginal_us_per_migration"]
        )
        lines.append(
            f"- metamigrate status by N (median): {per_n}; cost per extra migration: {steps}."
        )
    return [*lines, ""]


def targets_table(results: dict[str, Any], issue: int = 12) -> list[str]:
    lines = [f"### Targets (issue {issue})", "", "| | target | measured | |", "|---|---|---|---|"]
    for t in results.get("targets", []):
        note = f" ({t['note']})" if t.get("note") else ""
        lines.append(
            f"| {t['name']} | {t['target']} | {t['measured']}{note} | {VERDICT[t['ok']]} |"
        )
    return [*lines, ""]


def environment_section(results: dict[str, Any]) -> list[str]:
    env = results["environment"]
    m = env["machine"]
    d = env["sqlite_defaults"]
    tools = "; ".join(sorted(set(env["tools"].values())))
    return [
        "### Environment",
        "",
        f"- {env['date_utc']}, `{results['mode']}` run, {results['duration_s']:.0f} s in all.",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']} {m['arch']}; "
        f"files on {m['filesystem']}. Load average at start {env['load_average_start']}, at end "
        f"{env.get('load_average_end')} (shared machine: other processes ran too).",
        f"- {env['python']}; SQLite {env['sqlite']} "
        f"(fresh files: journal_mode={d['journal_mode']}, "
        f"synchronous={d['synchronous']}); engine revision {env['engine_revision']}.",
        f"- Tools: {tools}.",
        "",
    ]


def replica_line(start: dict[str, Any] | None) -> list[str]:
    """The replica-start figure in one sentence (or why it is missing), and its floor."""
    if not start:
        return []
    if "ratio" not in start:
        return [f"Replica start: {start.get('skipped', 'not measured')}.", ""]
    line = (
        f"Replica start, N = {start['n']}: {start['replicas']} processes calling "
        f"`{start['command']}` at once on a migrated database, all ready after "
        f"{seconds(start['all']['median'])} (median of {start['reps']}; min "
        f"{seconds(start['all']['min'])}) against {seconds(start['one']['median'])} for one alone "
        f"(min {seconds(start['one']['min'])}): {start['ratio']:.2f}x "
        f"({start['ratio_min']:.2f}x on the minimums)."
    )
    floor = start.get("floor")
    if floor:
        line += (
            f" The same for raw psycopg's status script ({start['replicas']} at once "
            f"{seconds(floor['all']['median'])} against {seconds(floor['one']['median'])}): "
            f"{floor['ratio']:.2f}x, what {start['replicas']} processes cost on this machine's "
            "cores whatever they run."
        )
    return [line, ""]


def postgres_environment(section: dict[str, Any]) -> list[str]:
    env = section["environment"]
    m = env["machine"]
    server = env["postgres"]
    settings = ", ".join(f"{k}={v}" for k, v in server["settings"].items())
    tools = "; ".join(sorted(set(env["tools"].values())))
    return [
        "### Environment (PostgreSQL)",
        "",
        f"- {env['date_utc']}, `{section['mode']}` run, {section['duration_s']:.0f} s in all.",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']} {m['arch']}. "
        f"Load average at start {env['load_average_start']}, at end "
        f"{env.get('load_average_end')} (shared machine: other processes ran too).",
        f"- PostgreSQL {server['server_version']} at {server['server']} ({settings}), on the same "
        f"machine over loopback; psycopg {server['psycopg']}; {env['python']}; engine revision "
        f"{env['engine_revision']}.",
        f"- Tools: {tools}.",
        "",
    ]


def postgres_markdown(section: dict[str, Any]) -> list[str]:
    """The PostgreSQL target's part of RESULTS.md."""
    lines = [
        "## PostgreSQL",
        "",
        "Each tool on its own scratch database of the server, dropped and created again before "
        "each repetition; ratios to raw psycopg with one transaction per migration.",
        "",
    ]
    lines += targets_table(section, issue=13)
    for cycle in section.get("cycles", []):
        lines += cycle_table(section, cycle)
        lines += versus_peers(section, cycle)
    lines += replica_line(section.get("replica_start"))
    lines += postgres_environment(section)
    return lines


def render_markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Benchmark results",
        "",
        "Generated by `python -m bench`; do not edit by hand. How it is measured: "
        "[README.md](README.md). Each target (SQLite, PostgreSQL) comes from its own run "
        "(its date and engine revision are under its environment).",
        "",
    ]
    if results.get("cycles"):
        lines += [
            "## SQLite",
            "",
            f"`{results['mode']}` run.",
            "",
        ]
        lines += targets_table(results)
        for cycle in results.get("cycles", []):
            lines += cycle_table(results, cycle)
            lines += versus_peers(results, cycle)
        if results.get("status_large"):
            lines += status_large_table(results, results["status_large"])
        lines += probes_section(results)
        lines += environment_section(results)
    if results.get("postgres"):
        lines += postgres_markdown(results["postgres"])
    return "\n".join(lines)


def write(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "results.json", out_dir / "RESULTS.md"
    json_path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    md_path.write_text(render_markdown(results))
    return json_path, md_path


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def merge(
    previous: dict[str, Any],
    sqlite: dict[str, Any] | None = None,
    postgres: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The results.json to write: each target's new figures where it ran, its figures from
    ``previous`` where it did not (the SQLite figures are the top level, PostgreSQL's are under
    ``"postgres"``), so a run of one target never loses the other's."""
    if sqlite is not None:
        merged = {k: v for k, v in sqlite.items() if k != "postgres"}
    else:
        merged = {k: v for k, v in previous.items() if k != "postgres"} or {"schema": 1}
    kept = postgres if postgres is not None else previous.get("postgres")
    if kept:
        merged["postgres"] = kept
    return merged


def load_previous(path: Path) -> dict[str, Any]:
    """The results.json a run is about to replace ({} when there is none or it is unreadable):
    the figures of the target it does not run are carried over from it."""
    try:
        data = load(path)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
