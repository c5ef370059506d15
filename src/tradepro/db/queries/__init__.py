"""The API's queries, out of the route modules: small typed functions over a database
handle that return plain tuples (the routes render them). The engine's own store is
``tradepro.db.snapshot_store``; idempotency keys and revoked sessions have theirs too."""
