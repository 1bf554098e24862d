"""Under a locale that cannot print check marks (LC_ALL=C, PYTHONIOENCODING=ascii) the CLI prints
their ASCII fallbacks ("+ pass", "x FAIL", "o pending"), never an escape like \\u2713."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from engine import MigrationManager
from engine.formatting import ascii_fallback_errors
from tests.lifecycle.helpers import run_cli

NOT_UTF8 = [
    {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""},
    {"PYTHONIOENCODING": "ascii"},
]


def _ascii(result: subprocess.CompletedProcess[str]) -> str:
    """The output, checked to be plain ASCII without escapes."""
    output = result.stdout + result.stderr
    assert output.isascii(), output
    assert "\\u" not in output and "Traceback" not in output, output
    return output


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    MigrationManager(path, backup=False).migrate_to(2)
    return path


@pytest.mark.parametrize("env", NOT_UTF8, ids=["LC_ALL=C", "PYTHONIOENCODING=ascii"])
def test_verify_prints_ascii_marks(db: Path, env: dict[str, str]) -> None:
    output = _ascii(run_cli("verify", "--db", str(db), env=env))
    assert "+ pass  Integrity" in output


@pytest.mark.parametrize("env", NOT_UTF8, ids=["LC_ALL=C", "PYTHONIOENCODING=ascii"])
def test_status_prints_ascii_marks_and_an_ascii_table(db: Path, env: dict[str, str]) -> None:
    output = _ascii(run_cli("status", "--db", str(db), env=env))
    assert "+ applied" in output and "o pending" in output


def test_a_failed_and_a_not_checked_check_print_in_ascii(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("UPDATE schema_migrations SET fingerprint = NULL, schema_facts = NULL")
    conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
    conn.commit()
    conn.close()
    output = _ascii(run_cli("verify", "--db", str(db), env=NOT_UTF8[0]))
    assert "x FAIL  Applied migrations unchanged" in output
    assert "- not checked  Live schema matches the recorded one" in output


def test_a_utf8_output_keeps_the_check_marks(db: Path) -> None:
    result = run_cli("verify", "--db", str(db), env={"PYTHONIOENCODING": "utf-8"})
    assert "✓ pass  Integrity" in result.stdout


def test_the_fallback_escapes_what_has_no_ascii_form() -> None:
    text = "✓ café … \udcff"
    assert text.encode("ascii", ascii_fallback_errors()) == b"+ caf\\xe9 ... \\udcff"
    assert text.encode("latin-1", ascii_fallback_errors()) == b"+ caf\xe9 ... \\udcff"
