"""Running the real CLI, in-process and as a subprocess, for the lifecycle tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """The console script in a real process (stdout and stderr are pipes, not terminals)."""
    full_env = {**os.environ, "NO_COLOR": "1"}
    for name in list(full_env):
        if name.startswith("METAMIGRATE_") or name == "COLUMNS":
            full_env.pop(name)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        input=stdin,
        timeout=120,
    )


def cli_json(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> Any:
    capsys.readouterr()
    assert main([*args, "--json"]) == code, capsys.readouterr()
    return json.loads(capsys.readouterr().out)
