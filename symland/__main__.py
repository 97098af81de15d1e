"""``python -m symland``: the ``symland`` command line."""

import sys

from .cli.main import main

sys.exit(main())
