"""Make this folder's helper modules (``reference``) importable by plain name.

``tests`` is not a package, so ``tests.unit.engine.reference`` is not importable under plain
``pytest``; putting the folder on ``sys.path`` works under every import mode.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
