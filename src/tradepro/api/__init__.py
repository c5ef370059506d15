"""The HTTP API: FastAPI under ``/api/v1``, the engine reached through the bus."""
