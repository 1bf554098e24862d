from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("METAMIGRATE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_COLOR", "1")
