"""Run one command as a whole process and measure it: wall time, CPU time, peak RSS."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.tools.base import Invocation

#: Variables that would change how Python runs the tools (bytecode cache, dev mode...).
SCRUBBED = (
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONDEVMODE",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONTRACEMALLOC",
)


@dataclass(frozen=True)
class Run:
    """One finished process."""

    seconds: float
    cpu_seconds: float
    max_rss_kib: int
    returncode: int
    stdout: str
    stderr: str


class CommandFailed(RuntimeError):
    pass


def environment(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(extra)
    return env


def run(invocation: Invocation, scratch: Path, timeout: float = 900.0) -> Run:
    """Run ``invocation`` to completion; wall time spans spawn to reap.

    Output goes to files (not pipes), so the child never blocks on a full pipe and the rusage of
    exactly this child comes from ``os.wait4``: ``ru_maxrss`` is its peak resident set (KiB).
    """
    scratch.mkdir(parents=True, exist_ok=True)
    out_path, err_path = scratch / "stdout.txt", scratch / "stderr.txt"
    env = environment(invocation.env)
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        child = subprocess.Popen(
            invocation.argv,
            cwd=invocation.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        timer = threading.Timer(timeout, child.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    return Run(
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        max_rss_kib=usage.ru_maxrss,
        returncode=child.returncode,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )


def run_checked(invocation: Invocation, scratch: Path, timeout: float = 900.0) -> Run:
    result = run(invocation, scratch, timeout)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout)[-2000:]
        raise CommandFailed(f"{' '.join(invocation.argv)} exited {result.returncode}:\n{tail}")
    return result
