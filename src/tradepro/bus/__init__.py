"""The message bus: Redis Streams in production, a SQLite journal for the embedded default.

This is the only package that imports ``redis``.
"""
