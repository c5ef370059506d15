"""``python -m tradepro.cli``: how ``tradepro up`` starts its services."""

import sys

from tradepro.cli.main import main

sys.exit(main())
