"""Persistence: SQLAlchemy models, engines, Alembic migrations and the engine's store."""
