"""The console's busy timeout comes from the engine's settings, as the CLI's does."""

from __future__ import annotations

import pytest

from console import MigrationConsole
from console.__main__ import build_parser
from engine.config import load_settings
from engine.options import flags_of
from engine.settings import Settings


def test_the_console_waits_the_engine_default_when_no_timeout_is_given() -> None:
    assert MigrationConsole("x.db").service.busy_timeout == Settings().busy_timeout


def test_a_given_busy_timeout_is_the_one_runs_wait() -> None:
    assert MigrationConsole("x.db", busy_timeout=12.5).service.busy_timeout == 12.5


def test_the_environment_sets_the_console_busy_timeout_like_the_cli(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("METAMIGRATE_BUSY_TIMEOUT", "7")
    settings = load_settings(flags_of(build_parser().parse_args([])))[0]
    assert settings.busy_timeout == 7.0
