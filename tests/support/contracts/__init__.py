"""Behaviour every bus (``bus``) and every requester (``requester``) implementation must
show: a test module per implementation subclasses the contract with its own fixtures."""
