"""PyIceberg is optional and lazy: nothing imports it until a catalog is opened.

Each test runs a fresh interpreter, so ``sys.modules`` shows exactly what an import pulled in.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

CATALOG_MODULES = ("pyiceberg", "sqlalchemy", "pyarrow")

#: Prepended to a script to make PyIceberg look uninstalled (an import of it raises ImportError).
WITHOUT_PYICEBERG = "import sys\nsys.modules['pyiceberg'] = None\n"


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


def loaded(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_import_engine_and_engine_metadata_import_no_catalog_module(tmp_path: Path) -> None:
    result = run_python(
        f"""
        import json, sys
        import engine, engine.metadata, engine.metadata.cli
        from engine.metadata import MetadataManager, CatalogError
        print(json.dumps([m for m in {CATALOG_MODULES!r} if m in sys.modules]))
        """,
        tmp_path,
    )
    assert loaded(result) == []


def test_catalog_false_works_without_importing_pyiceberg(tmp_path: Path) -> None:
    result = run_python(
        f"""
        import json, sys
        from engine import DeploymentManager
        from engine.metadata import MetadataManager
        with MetadataManager.open("svc/metadata.db", "svc", catalog=False) as meta:
            meta.store.set_preference("ops", "theme", "dark")
            assert meta.list_databases() == []
            assert DeploymentManager(meta.store).status().status == "ready"
        print(json.dumps([m for m in {CATALOG_MODULES!r} if m in sys.modules]))
        """,
        tmp_path,
    )
    assert loaded(result) == []


def test_catalog_false_works_when_pyiceberg_is_not_installed(tmp_path: Path) -> None:
    result = run_python(
        WITHOUT_PYICEBERG
        + """
import json
from engine.metadata import CatalogUnavailableError, MetadataManager
with MetadataManager.open("svc/metadata.db", "svc", catalog=False) as meta:
    try:
        meta.create_database("sales")
    except CatalogUnavailableError as exc:
        print(json.dumps(str(exc)))
""",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "opened with catalog=False" in result.stdout


def test_catalog_true_without_pyiceberg_says_how_to_install_it_and_touches_nothing(
    tmp_path: Path,
) -> None:
    result = run_python(
        WITHOUT_PYICEBERG
        + """
import json
from engine.metadata import CatalogNotInstalledError, MetadataManager
try:
    MetadataManager.open("svc/metadata.db", "svc")
except CatalogNotInstalledError as exc:
    print(json.dumps([str(exc), exc.exit_code]))
""",
        tmp_path,
    )
    message, code = loaded(result)
    assert message == (
        "The Iceberg catalog needs PyIceberg (pyiceberg is not installed); install it with "
        "pip install 'metamigrate[catalog]'."
    )
    assert code == 2
    assert not (tmp_path / "svc").exists()


def test_cli_with_a_base_path_but_without_pyiceberg_prints_one_sentence(tmp_path: Path) -> None:
    result = run_python(
        WITHOUT_PYICEBERG
        + """
from engine.cli import main
sys.exit(main(["verify", "--db", "svc/metadata.db", "--base-path", "svc"]))
""",
        tmp_path,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "pip install 'metamigrate[catalog]'" in " ".join(result.stderr.split())
