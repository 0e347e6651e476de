"""Allow ``python -m skface.cli``."""

import sys

from ._main import main

sys.exit(main())
