"""Price sources: the Backpack client and the simulated feed for offline demos.

Every source produces ``price-update`` payloads for ``engine-stream``: ``asset`` plus ``bid``
and ``ask`` as decimal strings on the instrument's tick grid. Simulated ones carry
``"simulated": True`` so nothing downstream can mistake them for market prices.
"""

from typing import Literal, get_args

Feed = Literal["backpack", "sim"]
"""Where quotes come from: Backpack's live ``bookTicker``, or the simulated feed."""
FEEDS: tuple[Feed, ...] = get_args(Feed)
