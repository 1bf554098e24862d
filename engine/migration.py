"""Migrations as Python functions, and the registry that orders and validates them.

A registry always holds versions 1..N with no gaps and no duplicates: a gap would make "the database
is at version 7" ambiguous (was 5 skipped on purpose, or lost in a merge?), so it is refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from engine.errors import RegistryError
from engine.records import Record

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: what status imports must not load typing

if TYPE_CHECKING:
    import ast
    from typing import TypeVar

    from engine.tx import Tx

    _T = TypeVar("_T")

MigrationFunc = Callable[["Tx"], None]


class Migration(Record):
    """One schema change: ``up`` applies it, ``down`` undoes it (``None``: irreversible)."""

    __slots__ = (
        "_checksum",
        "_source_text",
        "description",
        "disable_foreign_keys",
        "down",
        "lock_timeout",
        "name",
        "previous_checksums",
        "source",
        "statement_timeout",
        "transaction",
        "up",
        "version",
    )
    version: int
    name: str
    description: str
    up: MigrationFunc
    down: MigrationFunc | None
    #: Where the migration came from (a file path), for error messages; '' for in-code migrations.
    source: str
    #: Set when the migration rebuilds tables: the engine turns foreign keys off around it. True
    #: on every database, or the database families it applies to (``DISABLE_FOREIGN_KEYS =
    #: "sqlite"``: a migration that rebuilds on SQLite and alters in place elsewhere).
    disable_foreign_keys: bool | frozenset[str]
    #: False (module constant ``TRANSACTION = False``): runs outside a transaction, for statements
    #: such as ``CREATE INDEX CONCURRENTLY`` (PostgreSQL only; refused on SQLite).
    transaction: bool
    #: ``LOCK_TIMEOUT = "2s"``: this migration's lock wait for its DDL (servers; None: the default).
    lock_timeout: str | None
    #: ``STATEMENT_TIMEOUT = "5min"``: this migration's statement timeout (servers; None: default).
    statement_timeout: str | None
    #: ``PREVIOUS_CHECKSUMS = ("...",)``: checksums of earlier revisions of this migration that
    #: did the same on databases that recorded them (e.g. before it learnt another dialect).
    previous_checksums: tuple[str, ...]
    _checksum: str | None
    #: The file's source, kept so that its checksum is computed only when asked for (applying
    #: records it; undoing and status do not need it). Neither is compared or shown.
    _source_text: str | None

    def __init__(
        self,
        version: int,
        name: str,
        description: str,
        up: MigrationFunc,
        down: MigrationFunc | None = None,
        source: str = "",
        disable_foreign_keys: bool | frozenset[str] = False,
        transaction: bool = True,
        lock_timeout: str | None = None,
        statement_timeout: str | None = None,
        previous_checksums: tuple[str, ...] = (),
        _checksum: str | None = None,
        _source_text: str | None = None,
    ) -> None:
        self._set(
            version,
            name,
            description,
            up,
            down,
            source,
            disable_foreign_keys,
            transaction,
            lock_timeout,
            statement_timeout,
            previous_checksums,
            _checksum,
            _source_text,
        )

    @property
    def reversible(self) -> bool:
        return self.down is not None

    @property
    def checksum(self) -> str:
        """A hash of the code's syntax tree: edits change it, comments and reformatting do not."""
        if self._checksum is not None:
            return self._checksum
        if self._source_text is not None:
            from engine.checksum_cache import file_checksum

            # Remembered across runs, keyed by the text itself (engine.checksum_cache).
            value = file_checksum(self.source, self._source_text)
            object.__setattr__(self, "_checksum", value)  # frozen: computed once, then kept
            return value
        from engine.checksum import code_checksum

        return code_checksum(self.up, self.down)

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    def disables_foreign_keys(self, dialect: str) -> bool:
        """Whether foreign keys go off around this migration on ``dialect`` ("sqlite", ...)."""
        if isinstance(self.disable_foreign_keys, frozenset):
            return dialect in self.disable_foreign_keys
        return bool(self.disable_foreign_keys)


def too_deep(path: str) -> str:
    return (
        f"Migration file {path} is nested too deeply for Python to parse (it overflowed the "
        "parser's recursion limit); split it into smaller expressions or functions."
    )


def docstring_summary(doc: str | None) -> str:
    """The first line of a docstring: the migration's one-line description."""
    text = (doc or "").strip()
    return text.splitlines()[0].strip() if text else ""


class MigrationFile(Record):
    """A migration known by its file name only; its code is read on demand."""

    __slots__ = ("module_name", "mtime_ns", "name", "path", "size", "version")
    version: int
    name: str
    #: A plain string: building thousands of Path objects is a visible cost of ``status``.
    path: str
    module_name: str
    size: int
    mtime_ns: int

    def __init__(
        self, version: int, name: str, path: str, module_name: str, size: int, mtime_ns: int
    ) -> None:
        self._set(version, name, path, module_name, size, mtime_ns)

    @property
    def stat_key(self) -> str:
        """Changes whenever the file may have changed: the key of the cached checksum."""
        return f"{self.size}:{self.mtime_ns}"

    def read_source(self) -> str:
        from engine.files import special_kind

        try:
            kind = special_kind(self.path)
            if kind is not None:
                # Never opened: reading a FIFO would wait forever for a writer.
                raise RegistryError(
                    f"Migration file {self.path} is {kind}, not a regular file; remove it or "
                    "put the migration's source there."
                )
            with open(self.path, encoding="utf-8") as handle:  # (a Path costs more than the read)
                return handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise RegistryError(
                f"Migration file {self.path} cannot be read ({exc}); fix or remove it."
            ) from exc

    def _parse(self) -> ast.Module:
        import ast

        return self._parsed(ast.parse)

    def _parsed(self, parse: Callable[[str], _T]) -> _T:
        """``parse(source)``, its failures (syntax, nesting) worded as the file's problem."""
        try:
            return parse(self.read_source())
        except (SyntaxError, ValueError) as exc:
            raise RegistryError(
                f"Migration file {self.path} cannot be parsed ({exc}); fix or remove it."
            ) from exc
        except (RecursionError, MemoryError) as exc:
            raise RegistryError(too_deep(self.path)) from exc

    def read_header(self) -> tuple[str, bool]:
        """(description, reversible) from the file's syntax tree, without importing it."""
        import ast

        from engine.checksum import defines_down

        tree = self._parse()
        # clean=False: cleaning imports inspect (for cleandoc), whose first line, stripped, is
        # the raw one's with tabs expanded.
        doc = ast.get_docstring(tree, clean=False)
        return docstring_summary(doc and doc.expandtabs()), defines_down(tree)

    def checksum(self) -> str:
        import functools

        from engine.checksum_cache import file_checksum

        return self._parsed(functools.partial(file_checksum, self.path))

    def previous_checksums(self) -> tuple[str, ...]:
        """The module's ``PREVIOUS_CHECKSUMS`` constant, read from its syntax tree."""
        from engine.checksum import previous_checksums

        try:
            return previous_checksums(self._parse())
        except ValueError as exc:
            raise RegistryError(f"Migration file {self.path}: {exc}; fix the file.") from exc

    def load(self) -> Migration:
        from engine.loader import load_migration_file

        return load_migration_file(self)


class Registry:
    """The ordered set of migrations the code knows, versions 1..N.

    Migrations come from ``add``, the ``migration`` decorator, or a folder of files
    (``0002_add_user_preferences.py``); files are only imported when their code is needed.
    """

    def __init__(self, migrations: Iterable[Migration] = ()) -> None:
        self._loaded: dict[int, Migration] = {}
        self._files: dict[int, MigrationFile] = {}
        self.source: str = "<code>"
        for migration in migrations:
            self.add(migration)

    # -- building -----------------------------------------------------------------------------

    def add(self, migration: Migration) -> Migration:
        _check_identity(migration.version, migration.name, migration.source or "<code>")
        if migration.version in self:
            raise RegistryError(
                f"Duplicate migration version {migration.version}: "
                f"{self._describe(migration.version)} and {migration.source or migration.name}; "
                "give each migration its own version."
            )
        self._loaded[migration.version] = migration
        return migration

    def add_file(self, entry: MigrationFile) -> None:
        _check_identity(entry.version, entry.name, entry.path)
        if entry.version in self:
            raise RegistryError(
                f"Duplicate migration version {entry.version}: {self._describe(entry.version)} "
                f"and {entry.path}; renumber one of them."
            )
        self._files[entry.version] = entry

    def migration(
        self,
        version: int,
        name: str,
        description: str = "",
        *,
        disable_foreign_keys: bool | frozenset[str] = False,
        transaction: bool = True,
        lock_timeout: str | None = None,
        statement_timeout: str | None = None,
    ) -> Callable[[MigrationFunc], _Decorated]:
        """Decorator: ``@registry.migration(2, "name", "text")`` on ``up``, then ``@up.down``."""

        def decorate(up: MigrationFunc) -> _Decorated:
            import inspect

            self.add(
                Migration(
                    version=version,
                    name=name,
                    description=description or docstring_summary(inspect.getdoc(up)),
                    up=up,
                    down=None,
                    source=f"{up.__module__}.{up.__qualname__}",
                    disable_foreign_keys=disable_foreign_keys,
                    transaction=transaction,
                    lock_timeout=lock_timeout,
                    statement_timeout=statement_timeout,
                )
            )
            return _Decorated(self, version, up)

        return decorate

    def attach_down(self, version: int, down: MigrationFunc) -> None:
        self._loaded[version] = self.get(version).replace(down=down)

    @classmethod
    def from_directory(cls, path: str | Path) -> Registry:
        from engine.loader import scan_directory

        registry = cls()
        directory = Path(path)
        registry.source = str(directory)
        for entry in scan_directory(directory, package=None):
            registry.add_file(entry)
        registry.validate()
        return registry

    @classmethod
    def from_module(cls, module_name: str) -> Registry:
        from engine.loader import package_directory, scan_directory

        registry = cls()
        directory = package_directory(module_name)
        registry.source = module_name
        for entry in scan_directory(directory, package=module_name):
            registry.add_file(entry)
        registry.validate()
        return registry

    @classmethod
    def from_spec(cls, spec: Registry | str | os.PathLike[str] | None) -> Registry:
        """A Registry, a folder or a module name; ``None``: the built-in store migrations."""
        if isinstance(spec, Registry):
            return spec
        if spec is None:
            from engine.store import BUILTIN_MIGRATIONS

            return cls.from_module(BUILTIN_MIGRATIONS)
        text = str(spec)
        if Path(text).is_dir():
            return cls.from_directory(text)
        if isinstance(spec, Path) or "/" in text or text.endswith(".py"):
            raise RegistryError(f"Migrations folder {text} does not exist; check --migrations.")
        return cls.from_module(text)

    # -- reading ------------------------------------------------------------------------------

    def validate(self) -> None:
        """Refuse gaps: versions must be exactly 1..N."""
        for expected, version in enumerate(self.versions, start=1):
            if version != expected:
                raise RegistryError(
                    f"Migration version {expected} is missing (the next one is {version}) in "
                    f"{self.source}; versions must be 1, 2, 3, ... with no gaps."
                )

    @property
    def versions(self) -> list[int]:
        return sorted({*self._loaded, *self._files})

    @property
    def latest_version(self) -> int:
        return max(self._loaded.keys() | self._files.keys(), default=0)

    def __contains__(self, version: object) -> bool:
        return version in self._loaded or version in self._files

    def __len__(self) -> int:
        return len(self._loaded.keys() | self._files.keys())

    def __iter__(self) -> Iterator[Migration]:
        for version in self.versions:
            yield self.get(version)

    def get(self, version: int) -> Migration:
        """The migration with its code loaded (files are imported at most once)."""
        if version in self._loaded:
            return self._loaded[version]
        entry = self._files.get(version)
        if entry is None:
            raise KeyError(version)
        migration = entry.load()
        self._loaded[version] = migration
        return migration

    def name_of(self, version: int) -> str:
        if version in self._files:
            return self._files[version].name
        return self._loaded[version].name

    def file_of(self, version: int) -> MigrationFile | None:
        return self._files.get(version)

    def header_of(self, version: int) -> tuple[str, bool]:
        """(description, reversible), reading a file's syntax tree rather than importing it."""
        if version in self._loaded:
            migration = self._loaded[version]
            return migration.description, migration.reversible
        return self._files[version].read_header()

    def checksum_of(self, version: int) -> str:
        """Checksum without importing: files are parsed, in-code migrations inspected."""
        entry = self._files.get(version)
        if entry is not None:
            return entry.checksum()
        return self._loaded[version].checksum

    def checksum_matches(self, version: int, recorded: str) -> bool:
        """Whether ``recorded`` (the checksum a database holds) is this migration's code: its
        checksum now, or one of the ``PREVIOUS_CHECKSUMS`` it declares equivalent."""
        if self.checksum_of(version) == recorded:
            return True
        entry = self._files.get(version)
        if entry is not None:
            return recorded in entry.previous_checksums()
        return recorded in self._loaded[version].previous_checksums

    def _describe(self, version: int) -> str:
        if version in self._files:
            return self._files[version].path
        migration = self._loaded[version]
        return migration.source or migration.name


class _Decorated:
    """What ``Registry.migration`` returns: callable as ``up``, with ``.down`` to attach one."""

    def __init__(self, registry: Registry, version: int, up: MigrationFunc) -> None:
        self._registry = registry
        self.version = version
        self.up = up
        self.__doc__ = up.__doc__
        self.__name__ = getattr(up, "__name__", "up")

    def __call__(self, tx: Tx) -> None:
        self.up(tx)

    def down(self, func: MigrationFunc) -> MigrationFunc:
        self._registry.attach_down(self.version, func)
        return func


def _check_identity(version: object, name: object, where: str) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RegistryError(
            f"Migration version {version!r} in {where} is not a positive integer; use 1, 2, 3, ..."
        )
    if not isinstance(name, str) or not name.strip():
        raise RegistryError(f"Migration {version} in {where} has an empty name; give it a name.")
