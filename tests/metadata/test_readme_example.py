"""The README's MetadataManager example, run exactly as printed there."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

#: Keep identical to the README's "Metadata service" example.
README_EXAMPLE = """\
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType
from engine import DeploymentManager
from engine.metadata import MetadataManager

with MetadataManager.open("var/metadata.db", "var") as meta:
    meta.create_database("sales")
    schema = Schema(NestedField(1, "id", LongType(), required=True),
                    NestedField(2, "region", StringType()))
    meta.create_table("sales", "orders", schema)
    print(DeploymentManager(meta.store).status().status)  # ready
"""


def test_the_readme_example_creates_a_table_and_reports_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(README_EXAMPLE, "README.md", "exec"), {"__name__": "__readme__"})
    assert printed.getvalue() == "ready\n"
    assert len(README_EXAMPLE.splitlines()) <= 11
    tables = list((tmp_path / "var" / "warehouse" / "sales" / "orders" / "metadata").iterdir())
    assert [p.suffix for p in tables] == [".json"]


def test_the_readme_shows_exactly_this_example() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    if "engine.metadata" not in readme:
        pytest.skip("the README has no MetadataManager example yet (issue 6)")
    assert README_EXAMPLE in readme
