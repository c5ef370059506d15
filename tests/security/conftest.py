"""The security suite: attacks that once worked (or could), kept running against the real
stack. It uses the fixtures of the API and WebSocket integration tests, which the plugins
``tests.support.api_fixtures`` and ``tests.support.ws_fixtures`` provide to every test."""
