"""CPU of one command on both sides of a local PostgreSQL server: the command's own processes
(user + system, from the rusage of its children) and the server backends connected to DATABASE
while it runs (utime + stime from ``/proc/PID/stat``, sampled every 20 ms: a backend's last
20 ms may be missed). Wall times move with the load of a shared machine; CPU seconds much less.

    python bench/pg_cpu.py DATABASE COMMAND [ARG ...]

The server must run on this machine (its backends are read from ``/proc``); the database is
not created or changed (do that first, e.g. ``createdb``). Prints one line: exit code, wall,
client CPU, server CPU and how many backends were seen.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import psycopg

SERVER = os.environ.get("METAMIGRATE_TEST_POSTGRES") or "postgresql://root@127.0.0.1:5432/postgres"
TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu(pid: int) -> float | None:
    """utime + stime of process ``pid`` in seconds (None: it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def measure(database: str, argv: list[str]) -> str:
    seen: dict[int, float] = {}
    with psycopg.connect(SERVER, autocommit=True) as admin:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None:
            rows = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
            ).fetchall()
            for (pid,) in rows:
                cpu = backend_cpu(pid)
                if cpu is not None:
                    seen[pid] = cpu
            time.sleep(0.02)
        wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (
        f"rc={proc.returncode} wall {wall:.2f} s, client CPU "
        f"{usage.ru_utime + usage.ru_stime:.2f} s, server CPU {sum(seen.values()):.2f} s "
        f"({len(seen)} backends)"
    )


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    print(measure(sys.argv[1], sys.argv[2:]))
