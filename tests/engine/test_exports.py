"""engine's public names: one list, each name importable, the type-checking imports in step."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import engine

INIT = Path(engine.__file__)


@pytest.mark.parametrize("name", engine.__all__)
def test_every_exported_name_resolves_to_its_modules_object(name: str) -> None:
    value = getattr(engine, name)
    assert value is getattr(importlib.import_module(engine._EXPORTS[name]), name)


def test_all_is_the_lazy_loaders_list() -> None:
    assert sorted(engine.__all__) == sorted(engine._EXPORTS)
    assert set(engine.__all__) <= set(dir(engine))


def test_type_checking_imports_name_the_same_modules_as_the_loader() -> None:
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
    )
    imported = {
        alias.name: node.module
        for node in ast.walk(block)
        if isinstance(node, ast.ImportFrom) and node.module != "typing"
        for alias in node.names
    }
    assert imported == engine._EXPORTS


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        engine.Nope  # noqa: B018
