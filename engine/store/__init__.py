"""The metadata store and its built-in migrations (``engine.store.migrations``)."""

from engine.store.store import AlreadyExistsError, Database, NotFoundError, Store, StoreError, Table

#: The module holding the store's own migrations: the default for the CLI and the console.
BUILTIN_MIGRATIONS = "engine.store.migrations"

__all__ = [
    "BUILTIN_MIGRATIONS",
    "AlreadyExistsError",
    "Database",
    "NotFoundError",
    "Store",
    "StoreError",
    "Table",
]
