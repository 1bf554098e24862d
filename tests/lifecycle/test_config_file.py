"""metamigrate.toml / [tool.metamigrate]: flags, then environment, then the file, then defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.config import ConfigError, find_config, load_settings, mask_password
from tests.lifecycle.helpers import run_cli


def _config(tmp_path: Path, text: str, name: str = "metamigrate.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_metamigrate_toml_in_the_working_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _config(tmp_path, 'db = "from-file.db"\nkeep_backups = 3\nbusy_timeout = 2\n')
    settings, config = load_settings({}, environ={}, cwd=tmp_path)
    assert config is not None and config.path == tmp_path / "metamigrate.toml"
    assert (settings.db, settings.keep_backups, settings.busy_timeout) == ("from-file.db", 3, 2.0)


def test_pyproject_tool_metamigrate_table_is_read(tmp_path: Path) -> None:
    _config(tmp_path, '[project]\nname = "x"\n\n[tool.metamigrate]\nkeep = 4\n', "pyproject.toml")
    settings, config = load_settings({}, environ={}, cwd=tmp_path)
    assert config is not None and config.table == "tool.metamigrate"
    assert settings.keep_backups == 4


def test_pyproject_without_the_table_is_no_configuration(tmp_path: Path) -> None:
    _config(tmp_path, '[project]\nname = "x"\n', "pyproject.toml")
    assert find_config(tmp_path, environ={}) is None


def test_metamigrate_toml_wins_over_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _config(tmp_path, '[tool.metamigrate]\ndb = "py.db"\n', "pyproject.toml")
    _config(tmp_path, 'db = "own.db"\n')
    assert load_settings({}, environ={}, cwd=tmp_path)[0].db == "own.db"


def test_precedence_flag_then_environment_then_file_then_default(tmp_path: Path) -> None:
    _config(tmp_path, 'db = "file.db"\nbusy_timeout = 2\nkeep_backups = 3\n')
    env = {"METAMIGRATE_DB": "env.db", "METAMIGRATE_BUSY_TIMEOUT": "7"}
    settings, _ = load_settings({"db": "flag.db"}, environ=env, cwd=tmp_path)
    assert settings.db == "flag.db"
    assert settings.busy_timeout == 7.0
    assert settings.keep_backups == 3
    assert settings.backup_dir is None


def test_an_unknown_key_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    _config(tmp_path, 'dbb = "typo.db"\n')
    with pytest.raises(ConfigError, match=r"Unknown setting 'dbb'.*busy_timeout"):
        load_settings({}, environ={}, cwd=tmp_path)


def test_a_wrongly_typed_value_is_refused(tmp_path: Path) -> None:
    _config(tmp_path, 'keep_backups = "ten"\n')
    with pytest.raises(ConfigError, match="must be a number"):
        load_settings({}, environ={}, cwd=tmp_path)


def test_invalid_toml_is_one_sentence_exit_2(tmp_path: Path) -> None:
    _config(tmp_path, "db = \n")
    result = run_cli("status", cwd=tmp_path)
    assert result.returncode == 2 and "is not valid TOML" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_environment_number_is_one_sentence(tmp_path: Path) -> None:
    result = run_cli("config", cwd=tmp_path, env={"METAMIGRATE_BUSY_TIMEOUT": "soon"})
    assert result.returncode == 2 and "METAMIGRATE_BUSY_TIMEOUT='soon'" in result.stderr


def test_explicit_config_flag_reads_that_file_relative_paths_from_its_folder(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "deploy"
    folder.mkdir()
    path = _config(folder, 'db = "meta.db"\n', "prod.toml")
    settings, _ = load_settings({"config": str(path)}, environ={}, cwd=tmp_path)
    assert Path(settings.db) == folder / "meta.db"


def test_a_missing_explicit_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"config": str(tmp_path / "nope.toml")}, environ={}, cwd=tmp_path)


def test_commands_use_the_file(tmp_path: Path) -> None:
    _config(tmp_path, 'db = "configured.db"\n')
    assert run_cli("migrate", cwd=tmp_path).returncode == 0
    assert (tmp_path / "configured.db").exists()
    assert not (tmp_path / "metadata.db").exists()


def test_config_command_shows_each_value_and_its_source(tmp_path: Path) -> None:
    _config(tmp_path, 'db = "file.db"\nkeep = 3\n')
    result = run_cli(
        "config",
        "--json",
        "--busy-timeout",
        "9",
        cwd=tmp_path,
        env={"METAMIGRATE_BACKUP_DIR": "/srv/backups"},
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    rows = {row["name"]: row for row in payload["settings"]}
    assert rows["db"]["value"] == "file.db"
    assert rows["db"]["source"] == str(tmp_path / "metamigrate.toml")
    assert rows["keep_backups"]["value"] == 3
    assert rows["busy_timeout"]["source"] == "flag --busy-timeout"
    assert rows["backup_dir"]["source"] == "environment METAMIGRATE_BACKUP_DIR"
    assert rows["migrations"]["source"] == "default"


def test_config_command_masks_passwords(tmp_path: Path) -> None:
    _config(tmp_path, 'db = "postgresql://svc:hunter2@db.internal/meta"\n')
    result = run_cli("config", cwd=tmp_path)
    assert "hunter2" not in result.stdout and "svc:***@db.internal" in result.stdout
    as_json = run_cli("config", "--json", cwd=tmp_path)
    assert "hunter2" not in as_json.stdout


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        (
            "postgresql://h/db?password=pw&sslmode=require",
            "postgresql://h/db?password=***&sslmode=require",
        ),
        ("host=h password=pw dbname=d", "host=h password=*** dbname=d"),
        ("/srv/meta.db", "/srv/meta.db"),
    ],
)
def test_mask_password(text: str, masked: str) -> None:
    assert mask_password(text) == masked
