"""``python -m augsearch`` is the ``augsearch`` command."""

import sys

from augsearch.cli import main

sys.exit(main())
