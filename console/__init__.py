"""metamigrate's operations console: a Textual app over the engine's public API.

``MigrationConsole(db_path, migrations=..., read_only=..., clock=...)`` is the app; run it with
``metamigrate console`` or ``python -m console``. Every engine call runs in a thread worker, so
the screen never freezes; the engine itself never imports anything from here.
"""

from console.app import MigrationConsole

__all__ = ["MigrationConsole"]
