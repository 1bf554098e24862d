"""Errors of the metadata service's Iceberg half.

Each one carries one sentence for the operator. The "already exists" and "not found" errors also
subclass the store's, so ``except AlreadyExistsError`` catches a duplicate in either half.
"""

from __future__ import annotations

from engine.errors import EXIT_BAD_INPUT, EXIT_FAILED, MetamigrateError
from engine.store.store import AlreadyExistsError, NotFoundError

#: How to get PyIceberg: the package extra that pins the version this code was tested with.
INSTALL_HINT = "pip install 'metamigrate[catalog]'"


class CatalogError(MetamigrateError):
    """The Iceberg catalog refused or failed an operation; the store was left unchanged."""

    exit_code = EXIT_FAILED


class CatalogNotInstalledError(CatalogError):
    """PyIceberg (the ``catalog`` extra) is not installed, so no catalog can be opened."""

    exit_code = EXIT_BAD_INPUT


class CatalogUnavailableError(CatalogError):
    """This MetadataManager was opened without a catalog (``catalog=False``)."""

    exit_code = EXIT_BAD_INPUT


class CatalogAlreadyExistsError(CatalogError, AlreadyExistsError):
    """The Iceberg catalog already has that namespace or table."""

    exit_code = EXIT_BAD_INPUT


class CatalogNotFoundError(CatalogError, NotFoundError):
    """The Iceberg catalog has no such namespace or table."""

    exit_code = EXIT_BAD_INPUT


class CatalogConflictError(CatalogError):
    """Another process committed to the same Iceberg table first, more often than retried."""
