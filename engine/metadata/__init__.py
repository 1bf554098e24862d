"""The metadata service: the migrated store and an Apache Iceberg catalog under one coordinator.

``MetadataManager.open(db_path, base_path)`` opens both; PyIceberg (the ``catalog`` extra) is
imported only when a catalog is opened, by ``engine.metadata.iceberg``, the one module that uses it.
Names load on first use, so ``import engine.metadata`` imports no third-party module.

- ``manager.py``: MetadataManager, the two-halves-or-neither operations.
- ``iceberg.py``: the PyIceberg adapter (SqlCatalog on a SQLite file, local file warehouse).
- ``consistency.py``: the check that both halves describe the same tables (one of verify()'s).
- ``cli.py``: ``--base-path`` and ``metamigrate catalog list|check``.
- ``errors.py``: the catalog's error types.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: what status imports must not load typing

if TYPE_CHECKING:
    from typing import Any

    from engine.metadata.consistency import CatalogCheck, attach_catalog_check
    from engine.metadata.errors import (
        CatalogAlreadyExistsError,
        CatalogError,
        CatalogNotFoundError,
        CatalogNotInstalledError,
        CatalogUnavailableError,
    )
    from engine.metadata.manager import (
        CATALOG_FILE,
        WAREHOUSE_DIR,
        MetadataManager,
        catalog_paths,
    )

_EXPORTS: dict[str, str] = {
    "CatalogCheck": "engine.metadata.consistency",
    "attach_catalog_check": "engine.metadata.consistency",
    "CATALOG_FILE": "engine.metadata.manager",
    "WAREHOUSE_DIR": "engine.metadata.manager",
    "CatalogAlreadyExistsError": "engine.metadata.errors",
    "CatalogError": "engine.metadata.errors",
    "CatalogNotFoundError": "engine.metadata.errors",
    "CatalogNotInstalledError": "engine.metadata.errors",
    "CatalogUnavailableError": "engine.metadata.errors",
    "MetadataManager": "engine.metadata.manager",
    "catalog_paths": "engine.metadata.manager",
}

__all__ = [
    "CATALOG_FILE",
    "WAREHOUSE_DIR",
    "CatalogAlreadyExistsError",
    "CatalogCheck",
    "CatalogError",
    "CatalogNotFoundError",
    "CatalogNotInstalledError",
    "CatalogUnavailableError",
    "MetadataManager",
    "attach_catalog_check",
    "catalog_paths",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'engine.metadata' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
