"""Django: a throwaway project (settings module + one app) with RunPython migrations.

Each migration depends on the previous one and runs the workload's SQL through the schema
editor. Django wraps each migration in its own transaction on SQLite (``can_rollback_ddl``).
Commands: ``manage.py migrate``, ``manage.py showmigrations``, ``manage.py migrate benchapp zero``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from bench.tools.base import PYTHON, Invocation, Project, Tool, write_text
from bench.workload import Workload

MANAGE = """\
#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsettings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""

SETTINGS = """\
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "benchmark-only"
DEBUG = False
INSTALLED_APPS = ["benchapp"]
DATABASES = {{"default": {database}}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
"""

MIGRATION = '''\
"""{slug}"""

from django.db import migrations


def forwards(apps, schema_editor):
{up}


def backwards(apps, schema_editor):
{down}


class Migration(migrations.Migration):
    dependencies = {dependencies!r}
    operations = [migrations.RunPython(forwards, backwards)]
'''


def _execs(statements: tuple[str, ...]) -> str:
    return "\n".join(f"    schema_editor.execute({sql!r})" for sql in statements)


class Django(Tool):
    key = "django"
    label = "Django, RunPython migrations"
    group = "peer"

    def __init__(self, server: str | None = None) -> None:
        self.server = server

    def unavailable(self) -> str | None:
        return None if importlib.util.find_spec("django") else "django is not installed"

    def version(self) -> str:
        return f"Django {importlib.metadata.version('django')}"

    def write_sources(self, workload: Workload, root: Path) -> None:
        write_text(root / "manage.py", MANAGE)
        db = self.database(workload, root)
        if isinstance(db, Path):
            database = f'{{"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / {db.name!r}}}'
        else:  # Django 5.2 uses psycopg 3 when it is installed
            fields = {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": db.name,
                **{key.upper(): db.part(key) for key in ("host", "port", "user")},
            }
            database = repr(fields)
        write_text(root / "benchsettings.py", SETTINGS.format(database=database))
        write_text(root / "benchapp" / "__init__.py", "")
        write_text(root / "benchapp" / "migrations" / "__init__.py", "")
        previous: list[tuple[str, str]] = []
        for step in workload.steps():
            text = MIGRATION.format(
                slug=step.slug,
                up=_execs(step.up),
                down=_execs(step.down),
                dependencies=previous,
            )
            write_text(root / "benchapp" / "migrations" / f"{step.slug}.py", text)
            previous = [("benchapp", step.slug)]

    def project(self, workload: Workload, root: Path) -> Project:
        def call(*args: str) -> Invocation:
            return Invocation([PYTHON, str(root / "manage.py"), *args], root)

        return Project(
            root,
            self.database(workload, root),
            call("migrate"),
            call("showmigrations", "benchapp"),
            call("migrate", "benchapp", "zero"),
        )

    def status_ok(self, output: str, workload: Workload) -> bool:
        return f"[X] {workload.step(workload.n).slug}" in output and "[ ]" not in output
