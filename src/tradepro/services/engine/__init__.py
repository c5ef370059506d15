"""``tradepro engine``: the process around the pure engine (``main``: wiring and the data
folder's lock; ``worker``: the consume/apply/publish loop, snapshots and recovery)."""
