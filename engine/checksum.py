"""Checksums of migration code from its syntax tree.

An edit to an applied migration must be caught; reformatting it or adding comments must not be.
Hashing a compact dump of the syntax tree (docstrings, positions and contexts left out) does both,
and stays the same across Python versions, which bytecode would not.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: status reads headers with this module

if TYPE_CHECKING:
    from typing import Any


def defines_down(tree: ast.Module) -> bool:
    """Whether a migration module defines a down (a function, or a name not bound to None)."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "down":
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "down" for target in node.targets
        ):
            return not (isinstance(node.value, ast.Constant) and node.value.value is None)
    return False


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    """Drop the docstrings of the module and of its functions and classes (at any depth)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        body: list[ast.stmt] = getattr(node, "body", [])
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body = body[1:] or [ast.Pass()]
            node.body = body  # type: ignore[attr-defined]
        stack.extend(child for child in body if isinstance(child, _SCOPES))
    return tree


def _serialise(node: ast.AST, out: list[str]) -> None:
    """A compact dump of the syntax tree: no positions, no expression contexts, no empty fields.

    Leaving out empty fields keeps checksums stable across Python versions whose ``ast.dump``
    differ only in how they show defaults, and it is about three times faster than ``ast.dump``.
    Walked with a stack rather than recursion, so a tree as deep as the parser allows (a long
    chain of ``+``) cannot overflow Python's recursion limit; the output is the same.
    """
    stack: list[ast.AST | str] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        parts: list[ast.AST | str] = [type(item).__name__]
        for field_name in item._fields:
            value = getattr(item, field_name, None)
            if value is None or value == [] or field_name in ("ctx", "type_ignores"):
                continue
            parts.append(field_name)
            if isinstance(value, ast.AST):
                parts.append(value)
            elif isinstance(value, list):
                parts.append("[")
                parts.extend(e if isinstance(e, ast.AST) else repr(e) for e in value)
                parts.append("]")
            else:
                parts.append(repr(value))
        stack.extend(reversed(parts))


def tree_checksum(tree: ast.AST) -> str:
    out: list[str] = []
    _serialise(_strip_docstrings(tree), out)
    return _digest("\x1f".join(out))


def _digest(text: str) -> str:
    import hashlib  # here: status reads headers (defines_down) and needs no digest

    return hashlib.sha256(text.encode()).hexdigest()[:16]


def source_checksum(source: str) -> str:
    """Checksum of a whole migration module's code (docstrings, comments and layout excluded)."""
    return tree_checksum(ast.parse(source))


def _function_fingerprint(func: Callable[..., Any] | None) -> str:
    if func is None:
        return "<none>"
    import inspect
    import textwrap

    try:
        source = textwrap.dedent(inspect.getsource(func))
        tree = ast.parse(source)
        node: ast.AST = tree.body[0] if tree.body else tree
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.decorator_list = []
            node.name = "_"
        return tree_checksum(node)
    except (OSError, TypeError, SyntaxError, IndexError):
        # Defined in a REPL or generated: the bytecode still changes with the code.
        code = getattr(func, "__code__", None)
        return repr((code.co_code, code.co_consts, code.co_names)) if code else repr(func)


def code_checksum(up: Callable[..., Any], down: Callable[..., Any] | None) -> str:
    """Checksum of in-code up/down functions, from their syntax trees."""
    return _digest(_function_fingerprint(up) + "\x1e" + _function_fingerprint(down))


def previous_checksums(tree: ast.Module) -> tuple[str, ...]:
    """A module's ``PREVIOUS_CHECKSUMS = ("...", ...)`` (``ValueError`` if it is not literal
    strings)."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "PREVIOUS_CHECKSUMS"
            for target in node.targets
        ):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                value = None
            return checked_previous_checksums(value)
    return ()


def checked_previous_checksums(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, tuple | list):
        raise ValueError("PREVIOUS_CHECKSUMS must be a tuple of checksum strings")
    if not all(isinstance(item, str) for item in value):
        raise ValueError("PREVIOUS_CHECKSUMS must be a tuple of checksum strings")
    return tuple(value)
