"""Choosing a backend: a database location (path or URL) to the module that speaks to it.

A plain path (``metadata.db``, ``/srv/meta.db``) or ``sqlite:///path`` is SQLite, so every existing
command line keeps working; ``postgresql://`` and ``postgres://`` are PostgreSQL, whose module (and
its driver, psycopg) is imported only when such a URL is used. ``sqlite:///`` follows SQLAlchemy:
``sqlite:///relative.db`` and ``sqlite:////absolute/path.db``.

Each backend module provides ``connect_backend(location, options) -> Backend`` (open a connection it
owns) and ``wrap_connection(connection, options) -> Backend`` (borrow a connection the caller keeps
and closes).
"""

from __future__ import annotations

import importlib
import os
import re
from types import ModuleType

from engine.errors import DatabasePathError, MetamigrateError

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: what status imports must not load typing

if TYPE_CHECKING:
    from typing import Any

    from engine.backends.base import Backend, ConnectOptions

#: URL scheme -> module under engine/backends/.
SCHEMES: dict[str, str] = {
    "sqlite": "engine.backends.sqlite",
    "postgresql": "engine.backends.postgres",
    "postgres": "engine.backends.postgres",
}

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
#: What ``Path("postgresql://u@h/db")`` leaves: ``postgresql:/u@h/db`` (one slash).
_COLLAPSED = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):/(?!/)")
#: A known scheme and a colon with no ``//`` after it: ``postgresql:``, ``sqlite:x.db``.
_SCHEME_ONLY = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):(?!//)")


class DriverMissingError(MetamigrateError):
    """The database's driver is not installed (an optional extra)."""

    exit_code = 2


def scheme_of(location: str | os.PathLike[str]) -> str:
    """ "sqlite", "postgresql", ... for a location; a plain path (no ``scheme://``) is "sqlite"."""
    match = _SCHEME.match(location) if isinstance(location, str) else None
    if match is None:
        _refuse_url_turned_path(location)
        _refuse_half_url(location)
        return "sqlite"
    scheme = match.group("scheme").lower()
    # SQLAlchemy-style driver suffixes ("postgresql+psycopg") name the same database.
    return scheme.split("+", 1)[0]


def _refuse_url_turned_path(location: str | os.PathLike[str]) -> None:
    """A server URL that went through ``Path`` must never be taken for a file (SQLite would
    create ``postgresql:/user@host:port/db`` under the working directory)."""
    text = os.fspath(location)
    collapsed = _COLLAPSED.match(text)
    if collapsed is None:
        return
    scheme = collapsed.group("scheme").lower().split("+", 1)[0]
    if scheme in SCHEMES and scheme != "sqlite":
        raise DatabasePathError(
            f"{display_location(text.replace(':/', '://', 1))} was turned into a file path "
            f"({scheme}:/ with one slash); pass the {scheme}:// URL as text, not as a Path. "
            "Nothing was created."
        )


def _refuse_half_url(location: str | os.PathLike[str]) -> None:
    """``postgresql:``, ``postgres:host/db`` or ``sqlite:x.db`` is a mistyped URL, never a file to
    create (SQLite would make ``./postgresql:`` and migrate it); a file really named so is
    written ``./postgresql:...``."""
    text = os.fspath(location)
    half = _SCHEME_ONLY.match(text)
    if half is None:
        return
    scheme = half.group("scheme").lower().split("+", 1)[0]
    if scheme not in SCHEMES:
        return
    if scheme == "sqlite":
        form = "sqlite:///relative.db, sqlite:////absolute/path.db, or the plain path"
    else:
        form = f"{scheme}://user@host:port/dbname"
    raise DatabasePathError(
        f"{display_location(text)} is not a database URL: write {form} (a file of that name: "
        f"./{text}). Nothing was created."
    )


def is_url(location: str | os.PathLike[str]) -> bool:
    """True when ``location`` is written as a URL (``scheme://...``) rather than a plain path."""
    return isinstance(location, str) and _SCHEME.match(location) is not None


def sqlite_path(location: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """The file path of a SQLite location: the path itself, or what follows ``sqlite:///``."""
    if not is_url(location):
        return location
    text = os.fspath(location)
    rest = text.split("://", 1)[1]
    if not rest.startswith("/"):
        raise DatabasePathError(
            f"{text} is not a SQLite URL this engine understands; write sqlite:///relative.db, "
            "sqlite:////absolute/path.db, or the plain path."
        )
    path = rest[1:].split("?", 1)[0]
    if not path:
        raise DatabasePathError(f"{text} names no database file; add the path after sqlite:///.")
    return path


def backend_module(location: str | os.PathLike[str]) -> ModuleType:
    """The module that handles ``location``, imported now (PostgreSQL's only when asked for)."""
    return module_for(scheme_of(location))


def module_for(scheme: str) -> ModuleType:
    """The backend module of URL scheme ``scheme`` ("sqlite", "postgresql", ...)."""
    module_name = SCHEMES.get(scheme)
    if module_name is None:
        known = ", ".join(sorted(f"{name}://" for name in SCHEMES))
        raise DatabasePathError(
            f"Unknown database URL scheme {scheme}://; use a SQLite file path or one of {known}."
        )
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise DriverMissingError(
                f"This build of metamigrate has no {scheme} backend; use a SQLite file path."
            ) from exc
        if exc.name is not None and exc.name.split(".")[0] == "psycopg":
            raise DriverMissingError(
                "PostgreSQL support needs the psycopg driver, which is not installed; install "
                "it with: pip install 'metamigrate[postgres]'."
            ) from exc
        raise


def open_backend(
    location: str | os.PathLike[str], options: ConnectOptions | None = None
) -> Backend:
    """Open a connection to ``location`` (path or URL) and return its backend (caller closes)."""
    from engine.backends.base import ConnectOptions

    module = backend_module(location)
    backend: Backend = module.connect_backend(location, options or ConnectOptions())
    return backend


def wrap_connection(connection: Any, options: ConnectOptions | None = None) -> Backend:
    """A backend around a DB-API connection the caller owns (a ``sqlite3.Connection``, a
    ``psycopg.Connection``); closing the backend leaves the connection open."""
    from engine.backends.base import ConnectOptions

    family = type(connection).__module__.split(".")[0]
    module_name = {"sqlite3": SCHEMES["sqlite"], "psycopg": SCHEMES["postgresql"]}.get(family)
    if module_name is None:
        raise TypeError(
            f"Cannot use a {type(connection).__module__}.{type(connection).__name__} as a "
            "database connection; pass a sqlite3 or psycopg connection, a path or a URL."
        )
    backend: Backend = importlib.import_module(module_name).wrap_connection(
        connection, options or ConnectOptions()
    )
    return backend


def as_backend(value: Any, options: ConnectOptions | None = None) -> Backend:
    """``value`` itself when it is already a backend, else a backend borrowing the DB-API
    connection ``value`` (see ``wrap_connection``)."""
    if hasattr(value, "capabilities") and hasattr(value, "begin_write"):
        backend: Backend = value
        return backend
    return wrap_connection(value, options)


def validate_location(location: str | os.PathLike[str]) -> None:
    """Refuse, without creating or changing anything, a location that cannot be a database of
    its kind (a directory or a non-SQLite file given as a SQLite path): the backend module's
    ``validate_location`` when it has one."""
    validate = getattr(backend_module(location), "validate_location", None)
    if validate is not None:
        validate(location)


def is_file_location(location: str | os.PathLike[str]) -> bool:
    """True when the database lives in one local file (SQLite), whose existence can be checked
    without connecting."""
    return scheme_of(location) == "sqlite"


def display_location(location: str | os.PathLike[str]) -> str:
    """``location`` for messages: a path as is; a URL or libpq key=value string with any password
    (user info, ``?password=``, ``password=``) replaced by ``***``. Never show one unmasked."""
    text = os.fspath(location)
    if not is_url(text):
        if re.search(r"\bpassword\s*=", text):
            return re.sub(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", text)
        return text
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(text)
    except ValueError:  # a malformed URL ("Invalid IPv6 URL"): mask what looks like a password
        from engine.config import mask_password

        return mask_password(text)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostinfo = netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{hostinfo}"
    query = parts.query
    if query and "password" in query.lower():
        pairs = [
            (key, "***" if key.lower() == "password" else value)
            for key, value in parse_qsl(query, keep_blank_values=True)
        ]
        query = urlencode(pairs, safe="*/:=-")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def is_connection(value: object) -> bool:
    """True for a DB-API connection object a backend can wrap (without importing any driver)."""
    return type(value).__module__.split(".")[0] in ("sqlite3", "psycopg") and hasattr(
        value, "cursor"
    )
