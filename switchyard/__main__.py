"""``python -m switchyard``: the same as the ``switchyard`` command."""

from switchyard.cli import main

raise SystemExit(main())
