"""Alembic migrations, shipped inside the package and run by ``tradepro.db.migrate``."""
