"""PostgreSQL probe: metamigrate against the raw psycopg floor on the local server; replica start.

``python -m bench.pg_probe --n 1000 [--reps 3] [--server URL]``. Not part of ``python -m bench``'s
harness yet (no Alembic/yoyo/Django peers on PostgreSQL): it prints medians and ratios only. Every
tool is a whole process, on a scratch database created and dropped by the probe.

- floor: raw psycopg, one transaction per migration plus a version row (``--one-tx``: one for all);
- metamigrate: ``migrate --no-backup``, ``status --json``, ``rollback --to 0 --yes --force``;
- replica start: 8 processes calling ``ensure-ready`` at once on a migrated database, against one.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.workload import Workload

RAW = r"""
import sys, time, psycopg
url, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, sys.argv[4])
from bench.workload import Workload
steps = Workload(n).steps()
conn = psycopg.connect(url, autocommit=True)
conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version TEXT PRIMARY KEY, applied_at "
             "DOUBLE PRECISION NOT NULL)")
done = {r[0] for r in conn.execute("SELECT version FROM schema_version")}
if mode == "apply":
    for step in steps:
        if step.version in done:
            continue
        conn.execute("BEGIN")
        for sql in step.up:
            conn.execute(sql)
        conn.execute("INSERT INTO schema_version VALUES (%s, %s)", (step.version, time.time()))
        conn.execute("COMMIT")
elif mode == "status":
    print(len(done))
else:
    for step in reversed(steps):
        if step.version not in done:
            continue
        conn.execute("BEGIN")
        for sql in step.down:
            conn.execute(sql)
        conn.execute("DELETE FROM schema_version WHERE version = %s", (step.version,))
        conn.execute("COMMIT")
"""

REPO = Path(__file__).resolve().parents[1]


def _admin(server: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(server, autocommit=True)


def _timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started


def _write_migrations(folder: Path, n: int) -> None:
    for step in Workload(n).steps():
        up = "\n".join(f"    tx.execute({sql!r})" for sql in step.up)
        down = "\n".join(f"    tx.execute({sql!r})" for sql in step.down)
        (folder / f"{step.slug}.py").write_text(
            f'"""Create {step.table}."""\n\n\ndef up(tx):\n{up}\n\n\ndef down(tx):\n{down}\n'
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pg_probe")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--server",
        default=os.environ.get("METAMIGRATE_TEST_POSTGRES", "postgresql://root@127.0.0.1/postgres"),
    )
    args = parser.parse_args(argv)
    from urllib.parse import urlsplit, urlunsplit

    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "migrations"
        folder.mkdir()
        _write_migrations(folder, args.n)
        for _rep in range(args.reps):
            for tool in ("raw", "metamigrate"):
                name = f"mm_bench_{os.getpid()}_{secrets.token_hex(3)}"
                with _admin(args.server) as admin:
                    admin.execute(f'CREATE DATABASE "{name}"')
                url = urlunsplit(urlsplit(args.server)._replace(path="/" + name))
                try:
                    if tool == "raw":
                        base = [sys.executable, "-c", RAW, url]
                        tail = [str(args.n), str(REPO)]
                        runs = {op: [*base, op, *tail] for op in ("apply", "status", "rollback")}
                    else:
                        cli = [sys.executable, "-m", "engine"]
                        where = ["--db", url, "--migrations", str(folder)]
                        runs = {
                            "apply": [*cli, "migrate", "--no-backup", *where],
                            "status": [*cli, "status", "--json", *where],
                            "rollback": [
                                *cli,
                                "rollback",
                                "--to",
                                "0",
                                "--yes",
                                "--force",
                                "--no-backup",
                                *where,
                            ],
                        }
                    for op in ("apply", "status", "rollback"):
                        times.setdefault(f"{tool} {op}", []).append(_timed(runs[op]))
                    if tool == "metamigrate":
                        subprocess.run(runs["apply"], check=True, stdout=subprocess.DEVNULL)
                        ready = [sys.executable, "-m", "engine", "ensure-ready", *where]
                        times.setdefault("ensure-ready x1", []).append(_timed(ready))
                        started = time.perf_counter()
                        procs = [
                            subprocess.Popen(ready, stdout=subprocess.DEVNULL) for _ in range(8)
                        ]
                        assert all(p.wait() == 0 for p in procs)
                        times.setdefault("ensure-ready x8", []).append(
                            time.perf_counter() - started
                        )
                finally:
                    with _admin(args.server) as admin:
                        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    median = {key: statistics.median(values) for key, values in times.items()}
    print(f"PostgreSQL probe, N = {args.n}, {args.reps} rep(s), medians:")
    for key, value in median.items():
        print(f"  {key:<22} {value:8.3f} s")
    for op in ("apply", "status", "rollback"):
        ratio = median[f"metamigrate {op}"] / median[f"raw {op}"]
        print(f"  metamigrate/raw {op:<8} {ratio:5.2f}x")
    print(f"  8 replicas / 1        {median['ensure-ready x8'] / median['ensure-ready x1']:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
