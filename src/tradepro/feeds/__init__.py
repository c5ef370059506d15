"""Price sources: the Backpack client and the simulated feed for offline demos.

Every source produces ``price-update`` payloads for ``engine-stream``: ``asset`` plus ``bid``
and ``ask`` as decimal strings on the instrument's tick grid. Simulated ones carry
``"simulated": True`` so nothing downstream can mistake them for market prices.
"""
