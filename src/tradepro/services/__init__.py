"""Long-running processes: thin async shells around the pure core."""
