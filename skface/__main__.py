"""Allow ``python -m skface``, the same as the ``skface`` command and ``python -m skface.cli``."""

import sys

from .cli import main

sys.exit(main())
