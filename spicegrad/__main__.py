"""``python -m spicegrad``: the ``spicegrad`` command."""

import sys

from .cli import main

sys.exit(main())
