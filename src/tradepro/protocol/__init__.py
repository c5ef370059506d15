"""The engine's wire contract in one place: the kinds of ``engine-stream`` entries and the
statuses of ``callback-queue`` bodies (``kinds``), decoding entries into domain commands
(``decode``, ``prices``), rendering events into callback bodies (``render``), and typed
views of the replies (``replies``). docs/architecture.md "Message kinds" describes it all.

Dependencies point one way: ``domain <- engine <- protocol <- services/api``.
"""

from tradepro.protocol.kinds import Kind, Status

__all__ = ["Kind", "Status"]
