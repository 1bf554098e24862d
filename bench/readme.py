"""The README's performance section, generated from results.json (never typed by hand)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import VERDICT, replica_line, seconds, versus_peers
from bench.targets import TARGET_N

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
ROWS = (
    ("raw", "raw sqlite3, one transaction per migration (the floor)"),
    ("raw-1tx", "raw sqlite3, one transaction for everything"),
    ("metamigrate", "**metamigrate**"),
    ("metamigrate-backup", "**metamigrate**, automatic backup on"),
    ("metamigrate-atomic", "**metamigrate** `migrate --atomic`"),
    ("django", "Django, RunPython migrations"),
    ("yoyo", "yoyo"),
    ("alembic", "Alembic (default: not atomic on SQLite)"),
    ("alembic-txddl", "Alembic with the transactional-DDL recipe"),
)
PG_ROWS = (
    ("raw", "raw psycopg, one transaction per migration (the floor)"),
    ("raw-1tx", "raw psycopg, one transaction for everything"),
    ("metamigrate", "**metamigrate**"),
    ("metamigrate-atomic", "**metamigrate** `migrate --atomic`"),
    ("django", "Django, RunPython migrations"),
    ("yoyo", "yoyo (`postgresql+psycopg`)"),
    ("alembic", "Alembic, default env.py (one transaction for the whole upgrade)"),
    ("alembic-txpm", "Alembic, `transaction_per_migration=True`"),
)


def _fig(summary: dict[str, Any] | None, baseline: str = "raw") -> str:
    if not summary:
        return "—"
    ratio = summary.get("ratio_floor")
    text = seconds(summary["median"])
    if ratio is not None:
        own = summary.get("ratio_baseline")
        extra = f"; {own:.2f}x one-tx" if baseline != "raw" and own is not None else ""
        text += f" ({ratio:.2f}x{extra})"
    return text


def _cycle(results: dict[str, Any]) -> dict[str, Any] | None:
    cycles = [c for c in results.get("cycles", []) if c["n"] <= TARGET_N]
    return max(cycles, key=lambda c: c["n"]) if cycles else None


def _rows(
    results: dict[str, Any], cycle: dict[str, Any], rows: tuple[tuple[str, str], ...]
) -> list[str]:
    """The headline table (apply / status / rollback per tool) and the versus-peers table."""
    tools = results["tools"]
    lines = ["| | apply all | status of a migrated DB | rollback all |", "|---|---|---|---|"]
    for key, label in rows:
        data = cycle["results"].get(key)
        if not data:
            continue
        floor = tools[key]["group"] == "floor"
        name = label if floor else f"{label} ({tools[key]['version']})"
        base = "raw" if floor else tools[key]["baseline"]
        lines.append(
            f"| {name} | {_fig(data.get('apply'), base)} "
            f"| {_fig(data.get('status'))} | {_fig(data.get('rollback'), base)} |"
        )
    lines += ["", *[line.replace("#### ", "") for line in versus_peers(results, cycle)]]
    lines += ["| target | measured | |", "|---|---|---|"]
    for t in results.get("targets", []):
        note = f" ({t['note']})" if t.get("note") else ""
        lines.append(f"| {t['name']}: {t['target']} | {t['measured']}{note} | {VERDICT[t['ok']]} |")
    return lines


def render_section(results: dict[str, Any]) -> str:
    """Markdown for between the README markers: per target, the headline table, targets and
    provenance."""
    cycle = _cycle(results)
    pg = results.get("postgres") or {}
    pg_cycle = _cycle(pg)
    if cycle is None and pg_cycle is None:
        raise ValueError("results.json has no apply/status/rollback cycle to report")
    lines: list[str] = []
    if cycle is not None:
        lines += _sqlite_section(results, cycle)
    if pg_cycle is not None:
        lines += ["", *_postgres_section(pg, pg_cycle)]
    return "\n".join(lines).strip("\n")


def _postgres_section(pg: dict[str, Any], cycle: dict[str, Any]) -> list[str]:
    env = pg["environment"]
    server = env["postgres"]
    lines = [
        f"**PostgreSQL {server['server_version']}** (local server over loopback, "
        f"`synchronous_commit={server['settings'].get('synchronous_commit')}`), each tool on a "
        f"fresh scratch database, N = {cycle['n']}, median of {cycle['reps']} repetitions and "
        "its ratio to raw psycopg with one transaction per migration measured in the same run.",
        "",
        *_rows(pg, cycle, PG_ROWS),
        "",
        *replica_line(pg.get("replica_start")),
        f"Measured {env['date_utc']}, engine revision {env['engine_revision']}, "
        f"psycopg {server['psycopg']}, `python -m bench --target postgres`.",
    ]
    if pg["mode"] == "quick":
        lines += ["", "*(quick run: small N and one repetition; indicative only.)*"]
    return lines


def _sqlite_section(results: dict[str, Any], cycle: dict[str, Any]) -> list[str]:
    env = results["environment"]
    m = env["machine"]
    lines = [
        f"**SQLite.** Whole processes, N = {cycle['n']} migrations (each: one table with three "
        "columns and one index), default durability (rollback journal, `synchronous=FULL`), "
        f"median of {cycle['reps']} repetitions and its ratio to raw `sqlite3` with one "
        "transaction per migration measured in the same run.",
        "",
        *_rows(results, cycle, ROWS),
        "",
        f"Measured {env['date_utc']} on {m['cpu']} ({m['cores']} cores, {m['filesystem']}), "
        f"{env['python']}, SQLite {env['sqlite']}, engine revision {env['engine_revision']}. "
        "Generated from `bench/results.json` by `python -m bench --update-readme`; full tables "
        "in [bench/RESULTS.md](bench/RESULTS.md), method in [bench/README.md](bench/README.md).",
    ]
    if results["mode"] == "quick":
        lines.append("")
        lines.append("*(quick run: N = 100 and few repetitions; indicative only.)*")
    return lines


class MarkersMissing(ValueError):
    pass


def update_readme(readme: Path, section: str) -> None:
    """Replace the text between the bench markers in ``readme``; refuse if they are absent."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise MarkersMissing(
            f"{readme} has no '{START}' ... '{END}' markers; add them where the performance "
            "section belongs, then run `python -m bench --update-readme` again."
        )
    new = text[: start + len(START)] + "\n" + section.rstrip() + "\n" + text[end:]
    readme.write_text(new, encoding="utf-8")
