"""Compatibility name: SQLite's functions now live in ``engine.backends.sqlite``."""

from engine.backends.sqlite import *  # noqa: F403
from engine.backends.sqlite import (  # noqa: F401
    BOOKKEEPING_TABLES,
    SQLITE_HEADER,
    Connection,
    begin_immediate,
    connect,
    data_version,
    database_path,
    foreign_key_problems,
    integrity_problems,
    is_empty,
    is_read_only,
    rollback_if_open,
    schema_entries,
    schema_fingerprint,
    set_user_version,
    table_exists,
    transactions_forbidden,
    translate_error,
    user_version,
    validate_database_file,
)
