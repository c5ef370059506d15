"""The trading domain: fixed-point numbers, instruments, positions, commands and events.

Pure standard-library Python: no I/O, no clock, no randomness.
"""
