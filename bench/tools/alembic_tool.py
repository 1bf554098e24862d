"""Alembic: revision files chained by ``down_revision``, run with the ``alembic`` command.

Two configurations: the default ``generic`` template env.py (on SQLite with pysqlite the DDL is
not transactional: the driver commits before each DDL statement), and the transactional-DDL
recipe: ``transaction_per_migration=True`` plus SQLAlchemy's pysqlite recipe (driver BEGIN off,
``BEGIN`` emitted on the engine's ``begin`` event).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from bench.tools.base import BIN, Invocation, Project, Tool, write_text
from bench.workload import Workload

INI = """\
[alembic]
script_location = %(here)s
prepend_sys_path = .
path_separator = os
sqlalchemy.url = {url}

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
"""

# The SQLAlchemy 2.0 pysqlite "Serializable isolation / Savepoints / Transactional DDL" recipe.
RECIPE = """
from sqlalchemy import event


def _transactional_ddl(engine):
    @event.listens_for(engine, "connect")
    def do_connect(dbapi_connection, connection_record):
        # disable pysqlite's emitting of the BEGIN statement entirely.
        # also stops it from emitting COMMIT before any DDL.
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def do_begin(conn):
        # emit our own BEGIN
        conn.exec_driver_sql("BEGIN")

    return engine

"""

REVISION = '''\
"""{slug}"""

from alembic import op

revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
{up}


def downgrade() -> None:
{down_body}
'''


def generic_env() -> str:
    """The env.py of Alembic's own ``generic`` template, as ``alembic init`` writes it."""
    spec = importlib.util.find_spec("alembic")
    assert spec is not None and spec.origin is not None
    return (Path(spec.origin).parent / "templates" / "generic" / "env.py").read_text()


def per_migration_env(env: str) -> str:
    """``env`` with ``transaction_per_migration=True`` (one transaction per revision)."""
    configure = "            connection=connection, target_metadata=target_metadata\n"
    if configure not in env:
        raise RuntimeError("Alembic's generic env.py changed; update the recipe patch")
    return env.replace(
        configure,
        "            connection=connection,\n"
        "            target_metadata=target_metadata,\n"
        "            transaction_per_migration=True,\n",
    )


def transactional_env() -> str:
    env = generic_env()
    connectable = "    connectable = engine_from_config("
    configure = "            connection=connection, target_metadata=target_metadata\n"
    if connectable not in env or configure not in env:
        raise RuntimeError("Alembic's generic env.py changed; update the recipe patch")
    env = env.replace("from alembic import context\n", "from alembic import context\n" + RECIPE)
    env = env.replace(connectable, "    connectable = _transactional_ddl(engine_from_config(", 1)
    env = env.replace(
        "        poolclass=pool.NullPool,\n    )", "        poolclass=pool.NullPool,\n    ))"
    )
    return per_migration_env(env)


def _ops(statements: tuple[str, ...]) -> str:
    return "\n".join(f"    op.execute({sql!r})" for sql in statements)


class Alembic(Tool):
    group = "peer"

    def __init__(self, transactional: bool, server: str | None = None) -> None:
        self.transactional = transactional
        self.server = server
        if server is None:
            self.key = "alembic-txddl" if transactional else "alembic"
            self.label = (
                "Alembic, transactional-DDL recipe"
                if transactional
                else "Alembic (default: not atomic on SQLite)"
            )
        else:  # DDL is transactional on PostgreSQL; the default env.py runs one for the run
            self.key = "alembic-txpm" if transactional else "alembic"
            self.label = (
                "Alembic, transaction_per_migration=True"
                if transactional
                else "Alembic (default env.py: one tx for the whole upgrade)"
            )

    def unavailable(self) -> str | None:
        return None if importlib.util.find_spec("alembic") else "alembic is not installed"

    def version(self) -> str:
        return (
            f"alembic {importlib.metadata.version('alembic')}, "
            f"SQLAlchemy {importlib.metadata.version('sqlalchemy')}"
        )

    def write_sources(self, workload: Workload, root: Path) -> None:
        db = self.database(workload, root)
        url = "sqlite:///%(here)s/db.sqlite3" if isinstance(db, Path) else db.sqlalchemy_url
        write_text(root / "alembic.ini", INI.replace("{url}", url))
        if self.server is None:
            env = transactional_env() if self.transactional else generic_env()
        else:
            env = per_migration_env(generic_env()) if self.transactional else generic_env()
        write_text(root / "env.py", env)
        previous: str | None = None
        for step in workload.steps():
            text = REVISION.format(
                slug=step.slug,
                revision=step.slug,
                down=previous,
                up=_ops(step.up),
                down_body=_ops(step.down),
            )
            write_text(root / "versions" / f"{step.slug}.py", text)
            previous = step.slug

    def project(self, workload: Workload, root: Path) -> Project:
        def call(*args: str) -> Invocation:
            return Invocation([str(BIN / "alembic"), "-c", str(root / "alembic.ini"), *args], root)

        return Project(
            root,
            self.database(workload, root),
            call("upgrade", "head"),
            call("current"),
            call("downgrade", "base"),
        )
