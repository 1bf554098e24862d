"""``python -m engine``: the same as the ``metamigrate`` command."""

from engine.cli import main

raise SystemExit(main())
