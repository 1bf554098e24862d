"""The console's widgets, one per module."""

from console.widgets.action_bar import ActionBar
from console.widgets.activity_log import ActivityLog
from console.widgets.header import ConsoleHeader
from console.widgets.migration_table import MigrationTable
from console.widgets.readiness_panel import ReadinessPanel
from console.widgets.row_table import RowTable

__all__ = [
    "ActionBar",
    "ActivityLog",
    "ConsoleHeader",
    "MigrationTable",
    "ReadinessPanel",
    "RowTable",
]
