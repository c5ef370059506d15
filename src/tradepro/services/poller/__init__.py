"""``tradepro poller``: quotes from a price source into ``engine-stream`` (``main``: the
process; ``publish``: pacing and the engine guard; ``status``: counters, logs, metrics)."""
