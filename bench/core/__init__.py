"""Phases of ``bench/engine_core.py`` that outgrew it: ``stalls`` (the longest single
command while a book compacts) and ``restore`` (a fresh process restores the snapshot in
chunks, as the engine service does, and reports its time and memory)."""
