"""The WebSocket tests' fixtures come from the plugin ``tests.support.ws_fixtures``. Its
``database_url`` (one PostgreSQL database, migrated before the servers start) is imported
here because the two-database ``database_url`` of ``tests/integration/conftest.py`` would
otherwise be the nearer one for this folder."""

from tests.support.ws_fixtures import database_url

__all__ = ["database_url"]
