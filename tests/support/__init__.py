"""The helpers of the test suites, in one package: servers and processes the tests start
(``servers``, ``stack``, ``up``, ``ws``, ``poller``, ``e2e_stack``), API clients
(``api``, ``api_app``, ``live_server``), fakes of outside services (``fakes``), the
contracts every bus and requester implementation passes (``contracts``), the brute-force
model the engine's property tests compare against (``engine_reference``), and the
fixtures several folders share, as pytest plugins registered in ``tests/conftest.py``
(``api_fixtures``, ``ws_fixtures``).

Tests import them as ``from tests.support.api import ...``: ``pythonpath`` in
pyproject.toml puts the repository root on ``sys.path`` under pytest, and a process started
from the root finds them too (``python -m tests.support.fakes.backpack``).
"""
