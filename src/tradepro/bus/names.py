"""Every stream and key name the services share, in one place."""

ENGINE_STREAM = "engine-stream"
"""Input to the engine: one stream, one total order."""

CALLBACK_QUEUE = "callback-queue"
"""Engine output: one entry per event, matched by correlation id."""

CALLBACK_QUEUE_MAXLEN = 100_000
"""Callbacks are reproducible by replay, so the queue is capped (approximately)."""
