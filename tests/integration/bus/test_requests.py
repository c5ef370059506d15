"""``Requester`` over a real Redis (the same behaviours as on the embedded bus)."""

from __future__ import annotations

import pytest

from tests.support.contracts.requester import RequesterContract

pytestmark = pytest.mark.integration


class TestRequesterOnRedis(RequesterContract):
    pass
