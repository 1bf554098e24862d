"""The README's performance section, generated from results.json (never typed by hand)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import VERDICT, seconds, versus_peers
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


def render_section(results: dict[str, Any]) -> str:
    """Markdown for between the README markers: the headline table, targets and provenance."""
    cycles = [c for c in results.get("cycles", []) if c["n"] <= TARGET_N]
    if not cycles:
        raise ValueError("results.json has no apply/status/rollback cycle to report")
    cycle = max(cycles, key=lambda c: c["n"])
    env = results["environment"]
    m = env["machine"]
    tools = results["tools"]
    lines = [
        f"Whole processes, N = {cycle['n']} migrations (each: one table with three columns and "
        "one index), default durability (rollback journal, `synchronous=FULL`), median of "
        f"{cycle['reps']} repetitions and its ratio to raw `sqlite3` with one transaction per "
        "migration measured in the same run.",
        "",
        "| | apply all | status of a migrated DB | rollback all |",
        "|---|---|---|---|",
    ]
    for key, label in ROWS:
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
    lines += [
        "",
        f"Measured {env['date_utc']} on {m['cpu']} ({m['cores']} cores, {m['filesystem']}), "
        f"{env['python']}, SQLite {env['sqlite']}. Generated from `bench/results.json` by "
        "`python -m bench --update-readme`; full tables in "
        "[bench/RESULTS.md](bench/RESULTS.md), method in [bench/README.md](bench/README.md).",
    ]
    if results["mode"] == "quick":
        lines.append("")
        lines.append("*(quick run: N = 100 and few repetitions; indicative only.)*")
    return "\n".join(lines)


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
