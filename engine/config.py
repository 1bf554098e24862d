"""The configuration file: ``metamigrate.toml`` in the working directory, or the
``[tool.metamigrate]`` table of ``pyproject.toml`` there (``--config FILE`` / ``METAMIGRATE_CONFIG``
name another file). Read with ``tomllib``; nothing is written.

Precedence, per setting: the command-line flag, then the environment, then the file, then the
default (``engine.settings``). ``describe`` tells, per setting, which of them gave the value, for
``metamigrate config``; passwords in database URLs are never shown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from engine.errors import EXIT_BAD_INPUT, MetamigrateError
from engine.records import Record

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: what status imports must not load typing

if TYPE_CHECKING:
    from typing import Any

    from engine.settings import Settings

CONFIG_FILE = "metamigrate.toml"
PYPROJECT = "pyproject.toml"
#: Names the configuration file to read instead of looking in the working directory.
ENV_CONFIG = "METAMIGRATE_CONFIG"

#: Options that belong on the command line only: what one run does, not where things are.
NOT_IN_FILE = ("json", "rehearse", "no_backup", "config")
#: Other spellings accepted in a file (``keep = 5`` is ``keep_backups = 5``).
ALIASES = {"keep": "keep_backups", "database": "db", "backups": "backup_dir"}
#: Keys whose value is a path: a relative path is relative to the file's folder.
PATH_KEYS = ("db", "backup_dir", "base_path", "migrations")


def file_keys() -> dict[str, tuple[type, ...]]:
    """Every key a configuration file may set (the option table's settings), with its types."""
    from engine.options import OPTIONS
    from engine.settings import Settings

    names = set(Settings.field_names())
    keys: dict[str, tuple[type, ...]] = {}
    for option in OPTIONS:
        if option.dest not in names or option.dest in NOT_IN_FILE:
            continue
        kind = option.kwargs.get("type")
        kind = getattr(kind, "kind", kind)  # engine.options.Seconds / Whole
        if option.kwargs.get("action") == "store_true":
            keys[option.dest] = (bool,)
        elif kind is float:
            keys[option.dest] = (int, float)
        elif kind is int:
            keys[option.dest] = (int,)
        else:
            keys[option.dest] = (str,)
    return keys


class ConfigError(MetamigrateError):
    """The configuration file cannot be read or holds a wrong key or value."""

    exit_code = EXIT_BAD_INPUT


class ConfigFile(Record):
    """A configuration file that was found and read."""

    __slots__ = ("path", "table", "values")
    path: Path
    #: "" for metamigrate.toml (the whole file), "tool.metamigrate" for pyproject.toml.
    table: str
    values: Mapping[str, Any]

    def __init__(self, path: Path, table: str, values: Mapping[str, Any] | None = None) -> None:
        self._set(path, table, {} if values is None else values)

    @property
    def label(self) -> str:
        """Where a value came from, as ``metamigrate config`` shows it."""
        return f"{self.path} [{self.table}]" if self.table else str(self.path)


def find_config(
    cwd: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    explicit: str | os.PathLike[str] | None = None,
) -> ConfigFile | None:
    """The configuration in force: ``explicit`` (``--config``), else ``METAMIGRATE_CONFIG``, else
    ``metamigrate.toml`` in ``cwd``, else ``pyproject.toml``'s ``[tool.metamigrate]`` there."""
    env = os.environ if environ is None else environ
    named = explicit or env.get(ENV_CONFIG) or None
    if named:
        path = Path(named)
        if path.exists() and not path.is_file():
            return load_config(path)  # refuses a directory, FIFO or socket by name
        if not path.is_file():
            raise ConfigError(
                f"Configuration file {path} does not exist; check --config or {ENV_CONFIG}."
            )
        return load_config(path)
    folder = Path(cwd) if cwd is not None else Path.cwd()
    own = folder / CONFIG_FILE
    if own.is_file():
        return load_config(own)
    pyproject = folder / PYPROJECT
    if pyproject.is_file():
        found = load_config(pyproject)
        return found if found.table else None
    return None


def load_config(path: Path) -> ConfigFile:
    """Read ``path``: a pyproject.toml's ``[tool.metamigrate]`` table, any other file whole."""
    import tomllib

    from engine.files import special_kind

    kind = special_kind(path)
    if kind is not None:
        # Opening a FIFO blocks until a writer comes: refuse it (and any non-regular file) first.
        raise ConfigError(
            f"The configuration file {path} is {kind}, not a regular file; point --config at "
            "a TOML file."
        )
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the configuration file {path}: {exc.strerror or exc}."
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"The configuration file {path} is not valid TOML ({exc}); fix it or remove it."
        ) from exc
    if path.name == PYPROJECT:
        table = document.get("tool", {}).get("metamigrate")
        if table is None:
            return ConfigFile(path, "", {})
        if not isinstance(table, dict):
            raise ConfigError(f"[tool.metamigrate] in {path} must be a table of settings.")
        return ConfigFile(path, "tool.metamigrate", _validated(table, path, "[tool.metamigrate]"))
    # metamigrate.toml: the settings at the top level, or under [metamigrate].
    section = document.get("metamigrate", document)
    if not isinstance(section, dict):
        raise ConfigError(f"[metamigrate] in {path} must be a table of settings.")
    return ConfigFile(path, "", _validated(section, path, ""))


def _validated(table: Mapping[str, Any], path: Path, where: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    place = f"{path} {where}".strip()
    known = file_keys()
    for raw_key, raw_value in table.items():
        value: Any = raw_value
        key = ALIASES.get(raw_key.replace("-", "_"), raw_key.replace("-", "_"))
        kinds = known.get(key)
        if kinds is None:
            raise ConfigError(
                f"Unknown setting {raw_key!r} in {place}; the settings are: "
                f"{', '.join(sorted(known))}."
            )
        wrong_bool = isinstance(raw_value, bool) != (bool in kinds)
        if wrong_bool or not isinstance(raw_value, kinds):
            wanted = _dedupe(" or ".join(_kind_word(k) for k in kinds))
            raise ConfigError(f"Setting {raw_key!r} in {place} must be {wanted}, not {value!r}.")
        lowest = 1 if key == "keep_backups" else 0
        if int in kinds and float not in kinds and value < lowest:
            raise ConfigError(
                f"Setting {raw_key!r} in {place} must be at least {lowest}, not {value}."
            )
        if float in kinds and not 0 <= value < float("inf"):  # nan and inf too
            raise ConfigError(f"Setting {raw_key!r} in {place} must be a finite number, 0 or more.")
        if key in PATH_KEYS:
            value = _relative_to(path.parent, key, value)
        values[key] = float(value) if float in kinds else value
    return values


def _kind_word(kind: type) -> str:
    return {bool: "true or false", int: "a number", float: "a number"}.get(kind, "text")


def _dedupe(text: str) -> str:
    parts: list[str] = []
    for part in text.split(" or "):
        if part not in parts:
            parts.append(part)
    return " or ".join(parts)


def _relative_to(folder: Path, key: str, value: str) -> str:
    """A relative path in a file means relative to that file's folder (URLs, module names and
    absolute paths are kept)."""
    if "://" in value or Path(value).is_absolute():
        return value
    if key == "migrations" and "/" not in value and not (folder / value).is_dir():
        return value  # a module name such as engine.store.migrations
    if folder.resolve() == Path.cwd().resolve():
        return value  # the usual case: keep what the operator wrote
    return str(folder / value)


# -- where each value came from ---------------------------------------------------------------


class ResolvedSetting(Record):
    """One setting as ``metamigrate config`` shows it."""

    __slots__ = ("name", "source", "value")
    name: str
    value: Any
    #: "flag --db", "environment METAMIGRATE_DB", the file's label, or "default".
    source: str

    def __init__(self, name: str, value: Any, source: str) -> None:
        self._set(name, value, source)

    @property
    def shown(self) -> str:
        """The value as text, with any password in a URL masked."""
        if self.value is None:
            return "(none)"
        return mask_password(str(self.value)) if isinstance(self.value, str) else str(self.value)

    def to_dict(self) -> dict[str, object]:
        value = mask_password(self.value) if isinstance(self.value, str) else self.value
        return {"name": self.name, "value": value, "source": self.source}


def describe(
    names: list[str],
    *,
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    env_names: Mapping[str, str],
    config: ConfigFile | None,
    resolved: Mapping[str, Any],
    flag_names: Mapping[str, str] | None = None,
) -> list[ResolvedSetting]:
    """Per setting, the value in force (``resolved``) and the first source that had one."""
    out: list[ResolvedSetting] = []
    file_values = config.values if config is not None else {}
    for name in names:
        flag = (flag_names or {}).get(name, "--" + name.replace("_", "-"))
        env_name = env_names.get(name)
        if flags.get(name) is not None:
            source = f"flag {flag}"
        elif env_name and environ.get(env_name):
            source = f"environment {env_name}"
        elif name in file_values and config is not None:
            source = config.label
        else:
            source = "default"
        out.append(ResolvedSetting(name, resolved.get(name), source))
    return out


def mask_password(text: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``; also
    ``password=`` in a query string or a key/value connection string."""
    import re

    text = re.sub(r"(://[^/:@\s]*:)([^@/\s]*)@", r"\1***@", text)
    return re.sub(r"(?i)(password=)([^&\s]+)", r"\1***", text)


# -- resolving ---------------------------------------------------------------------------------


def load_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> tuple[Settings, ConfigFile | None]:
    """The run's settings (flags, then environment, then the configuration file, then the
    defaults) and the file that was read, if any. Bad values are refused with a sentence."""
    from engine.settings import Settings

    env = os.environ if environ is None else environ
    _check_environment(env)
    config = find_config(cwd, env, flags.get("config"))
    settings = Settings.resolve(flags, env, dict(config.values) if config else None)
    return settings, config


def _check_environment(env: Mapping[str, str]) -> None:
    from engine.options import OPTIONS

    for option in OPTIONS:
        raw = env.get(option.env) if option.env else None
        if not raw:
            continue
        try:
            option.convert(raw)
        except ValueError as exc:
            from engine.options import BadNumber

            if isinstance(exc, BadNumber):
                raise ConfigError(
                    f"Environment variable {option.env}={raw!r} is out of range ({exc}); fix or "
                    "unset it."
                ) from None
            kind = "a whole number" if option.kwargs.get("type") is int else "a number"
            raise ConfigError(
                f"Environment variable {option.env}={raw!r} must be {kind}; fix or unset it."
            ) from None


def describe_settings(
    flags: Mapping[str, Any],
    settings: Settings,
    config: ConfigFile | None,
    environ: Mapping[str, str] | None = None,
) -> list[ResolvedSetting]:
    """Per setting a file may hold, its value now and where it came from."""
    from engine.options import OPTIONS

    env = os.environ if environ is None else environ
    names = list(file_keys())
    env_names = {o.dest: o.env for o in OPTIONS if o.env}
    flag_names = {o.dest: o.flags[0] for o in OPTIONS}
    resolved = settings.as_dict()
    # The folder backups go to even when none is configured (beside a SQLite file; a server's in
    # base_path or the working directory): the operator sees where to look.
    resolved["backup_dir"] = str(settings.backup_folder())
    return describe(
        names,
        flags=flags,
        environ=env,
        env_names=env_names,
        config=config,
        resolved=resolved,
        flag_names=flag_names,
    )
