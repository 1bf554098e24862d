"""Finding migration files on disk and importing them.

Discovery reads file names only (``0002_add_user_preferences.py``); a module is imported when its
code is needed, so asking for the status of a thousand applied migrations imports none of them.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import re
import sys
import types
from pathlib import Path
from stat import S_ISREG

from engine.errors import RegistryError
from engine.files import path_problem, special_kind
from engine.migration import Migration, MigrationFile, docstring_summary, too_deep

# The text a loaded migration module was made from (see load_migration_file).
_SOURCE_ATTRIBUTE = "__metamigrate_source__"

MIGRATION_FILE = re.compile(r"^(?P<version>\d+)_(?P<name>[A-Za-z0-9_]+)\.py$")


def scan_directory(directory: Path, *, package: str | None) -> list[MigrationFile]:
    """Migration files in ``directory``, by version; other files are ignored, odd names refused."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError as exc:
        raise RegistryError(
            f"Migrations folder {directory} does not exist; check --migrations."
        ) from exc
    except NotADirectoryError as exc:
        raise RegistryError(
            f"Migrations path {directory} is a file, not a folder; pass the folder that holds them."
        ) from exc
    except PermissionError as exc:
        raise RegistryError(
            f"Cannot read migrations folder {directory}: permission denied."
        ) from exc
    except OSError as exc:  # a name over the file system's limit, a symlink loop
        raise RegistryError(path_problem(directory, exc)) from exc
    found: list[MigrationFile] = []
    # os.path.join(directory, name) for every file, with the folder's part worked out once.
    prefix = os.path.join(os.fspath(directory), "")
    for entry in entries:
        file_name = entry.name
        if not file_name.endswith(".py") or file_name.startswith(("_", ".")):
            continue
        match = MIGRATION_FILE.match(file_name)
        if match is None:
            if file_name[0].isdigit():
                raise RegistryError(
                    f"Migration file {Path(directory, file_name)} is misnamed; use "
                    "NNNN_name.py with letters, digits and underscores."
                )
            continue
        try:
            stat = entry.stat()
        except OSError as exc:  # a dangling symlink, a file gone meanwhile
            raise RegistryError(path_problem(entry.path, exc)) from exc
        if not S_ISREG(stat.st_mode):
            # Refused here, before anything reads it: opening a FIFO would wait for ever.
            raise RegistryError(
                f"Migration file {Path(directory, file_name)} is "
                f"{special_kind(entry.path) or 'not a regular file'}; remove it or put the "
                "migration's source there."
            )
        stem = file_name[:-3]
        found.append(
            MigrationFile(
                version=int(match["version"]),
                name=match["name"],
                path=prefix + file_name,
                module_name=f"{package}.{stem}" if package else "",
                size=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
            )
        )
    found.sort(key=lambda item: item.version)
    return found


def package_directory(module_name: str) -> Path:
    """The folder of an importable package such as ``engine.store.migrations``."""
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError) as exc:
        raise RegistryError(
            f"Migrations module {module_name} cannot be found ({exc}); check --migrations."
        ) from exc
    if spec is None or not spec.submodule_search_locations:
        raise RegistryError(
            f"Migrations module {module_name} is not an importable package; pass a folder or a "
            "package name such as engine.store.migrations."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {exc}"


def load_migration_file(entry: MigrationFile) -> Migration:
    """Import one file and build its Migration; any failure names the file."""
    source, read_stat = _read_source(entry)
    # One read serves both the code and its checksum (importlib would read and parse it again).
    # The folder's absolute path names the module: the same relative path from another working
    # directory is another file, and must not get the module loaded from the first.
    module_name = entry.module_name or (
        f"_metamigrate_{abs(hash(os.path.dirname(os.path.abspath(entry.path)))):x}_{entry.name}"
    )
    module = sys.modules.get(module_name)
    try:
        # A module loaded earlier in this process is reused only for the very same text: a file
        # edited since (a console left open while someone fixes a pending migration) is imported
        # again, so the code that runs is always the code whose checksum is recorded.
        if (
            module is None
            or getattr(module, "__file__", None) != entry.path
            or getattr(module, _SOURCE_ATTRIBUTE, None) != source
        ):
            module = types.ModuleType(module_name)
            module.__file__ = entry.path
            setattr(module, _SOURCE_ATTRIBUTE, source)
            module.__package__ = module_name.rpartition(".")[0] if entry.module_name else ""
            sys.modules[module_name] = module
            try:
                code = _cached_code(entry, source, read_stat) or compile(
                    source, entry.path, "exec", dont_inherit=True
                )
                exec(code, module.__dict__)
            except BaseException:
                sys.modules.pop(module_name, None)
                raise
    except KeyboardInterrupt:
        raise  # Ctrl-C while importing: the caller reports the interruption
    except (RecursionError, MemoryError) as exc:
        raise RegistryError(too_deep(entry.path)) from exc
    except BaseException as exc:
        # SystemExit (sys.exit at import), GeneratorExit and the like are failures too: letting
        # them through would end a deploy with exit 0 and nothing applied.
        raise RegistryError(
            f"Migration file {entry.path} failed to import ({_describe(exc)}); fix the file."
        ) from exc
    up = getattr(module, "up", None)
    down = getattr(module, "down", None)
    if not callable(up):
        raise RegistryError(f"Migration file {entry.path} defines no up(tx) function; add one.")
    if down is not None and not callable(down):
        raise RegistryError(f"Migration file {entry.path} has a down that is not a function.")
    return Migration(
        version=entry.version,
        name=entry.name,
        description=docstring_summary(module.__doc__),
        up=up,
        down=down,
        source=entry.path,
        disable_foreign_keys=_foreign_keys_flag(module, entry.path),
        transaction=_transaction_flag(module, entry.path),
        lock_timeout=_duration(module, "LOCK_TIMEOUT", entry.path),
        statement_timeout=_duration(module, "STATEMENT_TIMEOUT", entry.path),
        previous_checksums=_previous_checksums(module, entry.path),
        _source_text=source,
    )


def _read_source(entry: MigrationFile) -> tuple[str, os.stat_result | None]:
    """``entry.read_source()``, and the file's stat taken on the descriptor it was read from (the
    file as read, for the bytecode check). Bytes decoded here cost less than a text stream; any
    problem is left to ``read_source`` to word (then the stat is None)."""
    try:
        if special_kind(entry.path) is None:  # never opened otherwise (see read_source)
            data, read_stat = _read_whole(entry.path)
            text = data.decode("utf-8")
            if "\r" in text:  # what a text stream's universal newlines make of it
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            return text, read_stat
    except (OSError, UnicodeDecodeError):
        pass
    return entry.read_source(), None


def _read_whole(path: str) -> tuple[bytes, os.stat_result]:
    """A file's bytes, and the stat of the descriptor they were read from, taken after reading
    (the file as read). Plain descriptor calls: a buffered file object makes twice as many
    system calls for a small file, and a thousand migrations are two thousand files."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    try:
        parts = []
        while chunk := os.read(fd, 1 << 16):
            parts.append(chunk)
        return b"".join(parts), os.fstat(fd)
    finally:
        os.close(fd)


def _cached_code(
    entry: MigrationFile, source: str, read_stat: os.stat_result | None = None
) -> types.CodeType | None:
    """The file's code from its ``__pycache__`` bytecode when it provably matches ``source``,
    else None. Unmarshalling is much cheaper than compiling a thousand files again on every run.

    A checked-hash pyc is used when its hash is that of the source. A timestamp pyc (Python's
    default) records the source's mtime in whole seconds and its size: that alone would let an
    edit of the same size in the same second run the old code, so it is used only when it was
    also written at least a second after that recorded mtime (any later edit then has another
    second). Anything else compiles the source."""
    import marshal

    try:
        cached = _bytecode_path(entry.path)
        if special_kind(cached) is not None:
            return None  # never opened: a FIFO there would block the read
        data, cached_stat = _read_whole(cached)
        written_ns = cached_stat.st_mtime_ns
    except (OSError, NotImplementedError, ValueError):
        return None
    if len(data) < 16 or data[:4] != importlib.util.MAGIC_NUMBER:
        return None
    flags = int.from_bytes(data[4:8], "little")
    if flags & 0b1:  # hash-based
        if not flags & 0b10:
            return None  # an unchecked-hash pyc says nothing about this source
        if data[8:16] != importlib.util.source_hash(source.encode("utf-8")):
            return None
    else:
        # The file as it is now, not as the scan saw it: a console scans once and may load
        # minutes later, after an edit, when the source text read is the edited one.
        # ``read_stat``: taken on the descriptor ``source`` was read from.
        try:
            now = read_stat or os.stat(entry.path)
        except OSError:
            return None
        mtime = int.from_bytes(data[8:12], "little")
        size = int.from_bytes(data[12:16], "little")
        seconds = now.st_mtime_ns // 1_000_000_000
        if mtime != seconds & 0xFFFFFFFF or size != now.st_size & 0xFFFFFFFF:
            return None
        if written_ns < (seconds + 1) * 1_000_000_000:
            return None  # compiled within the source's second: a same-size edit could follow
    try:
        code = marshal.loads(data[16:])
    except (EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None


def _bytecode_path(source: str) -> str:
    """``importlib.util.cache_from_source(source)``, its folder part worked out once per folder."""
    folder, name = os.path.split(source)
    prefix, suffix = _bytecode_parts(folder)
    return prefix + name[:-3] + suffix


@functools.lru_cache(maxsize=64)
def _bytecode_parts(folder: str) -> tuple[str, str]:
    model = importlib.util.cache_from_source(os.path.join(folder, "_.py"))
    head, tail = os.path.split(model)
    return os.path.join(head, ""), tail[1:]  # "_.cpython-311.pyc" -> ".cpython-311.pyc"


def _transaction_flag(module: object, path: str) -> bool:
    value = getattr(module, "TRANSACTION", True)
    if not isinstance(value, bool):
        raise RegistryError(
            f"Migration file {path} sets TRANSACTION = {value!r}; use True or False."
        )
    return value


_DURATION = re.compile(r"^\s*\d+(\.\d+)?\s*(us|ms|s|min|h|d)?\s*$")


def _duration(module: object, name: str, path: str) -> str | None:
    """A PostgreSQL duration ("2s", "500ms", "1min"; a bare number is seconds), or None."""
    value = getattr(module, name, None)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return f"{value:g}s"
    if isinstance(value, str) and _DURATION.match(value):
        text = value.strip().replace(" ", "")
        return text if not text[-1].isdigit() else f"{text}s"
    raise RegistryError(
        f'Migration file {path} sets {name} = {value!r}; write a duration such as "2s", '
        '"500ms" or "1min".'
    )


def _previous_checksums(module: types.ModuleType, path: str) -> tuple[str, ...]:
    if not hasattr(module, "PREVIOUS_CHECKSUMS"):
        return ()  # the usual case: no need to import engine.checksum (and ast) to say so
    from engine.checksum import checked_previous_checksums

    value = module.PREVIOUS_CHECKSUMS
    try:
        return checked_previous_checksums(value)
    except ValueError as exc:
        raise RegistryError(f"Migration file {path}: {exc}; fix the file.") from exc


def _foreign_keys_flag(module: types.ModuleType, path: str) -> bool | frozenset[str]:
    """``DISABLE_FOREIGN_KEYS``: True/False, or the database families it applies to."""
    value = getattr(module, "DISABLE_FOREIGN_KEYS", False)
    if isinstance(value, str):
        value = (value,)
    if isinstance(value, tuple | list | set | frozenset):
        if not all(isinstance(item, str) for item in value):
            raise RegistryError(
                f"Migration file {path}: DISABLE_FOREIGN_KEYS must be True, False, or database "
                'families such as "sqlite"; fix the file.'
            )
        return frozenset(value)
    return bool(value)
