"""The ``tradepro`` command (``python -m tradepro.cli`` runs it too)."""

from tradepro.cli.main import main

__all__ = ["main"]
