"""The console's modal screens, one per module."""

from console.screens.confirm_migrate import ConfirmMigrateScreen
from console.screens.help import HelpScreen
from console.screens.rollback import RollbackScreen

__all__ = ["ConfirmMigrateScreen", "HelpScreen", "RollbackScreen"]
