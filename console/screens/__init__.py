"""The console's modal screens, one per module."""

from console.screens.backups import BackupsScreen
from console.screens.confirm_migrate import ConfirmMigrateScreen
from console.screens.help import HelpScreen
from console.screens.history import HistoryScreen
from console.screens.readiness import ReadinessScreen
from console.screens.rehearsal import Rehearsable, RehearsalScreen
from console.screens.rollback import RollbackScreen
from console.screens.too_small import TooSmallScreen

__all__ = [
    "BackupsScreen",
    "ConfirmMigrateScreen",
    "HelpScreen",
    "HistoryScreen",
    "ReadinessScreen",
    "Rehearsable",
    "RehearsalScreen",
    "RollbackScreen",
    "TooSmallScreen",
]
