"""Every stream and key name the services share, in one place."""

ENGINE_STREAM = "engine-stream"
"""Input to the engine: one stream, one total order."""

CALLBACK_QUEUE = "callback-queue"
"""Engine output: one entry per event, matched by correlation id."""

CALLBACK_QUEUE_MAXLEN = 100_000
"""Callbacks are reproducible by replay, so the queue is capped: at most this many..."""

CALLBACK_QUEUE_MAX_BYTES = 256 * 1024 * 1024
"""...and at most this many bytes of bodies (``CALLBACK_QUEUE_MAX_BYTES``): the oldest go
first, the newest always stays. The bytes counted are the bodies' (Redis needs about a
third more for its own structures)."""

CALLBACK_BYTES_SUFFIX = ":bytes"
"""Redis: the key beside the callback queue holding the bytes of the bodies in it."""
