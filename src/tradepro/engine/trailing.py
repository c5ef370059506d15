"""Trailing stops of one asset and side, without one update per position on a tick.

A buy's trailing stop sits at (highest bid since it was set) - distance and fires when the
bid falls to it; a sell's at (lowest ask since set) + distance and fires when the ask rises
to it. The book works on one number ``x`` per tick: the bid for the buy side, minus the ask
for the sell side, so that both read "extreme = highest x since set; fires when
x <= extreme - distance".

Positions whose running extreme the price has passed all share the new extreme, so they
are kept in *groups* that share one extreme:

- a group holds its members in a min-heap of keys ``distance << SEQ_BITS | seq`` (the
  smallest distance is the highest level, the first to fire);
- groups sit in a min-heap by extreme. After a tick with ``x`` every extreme is >= ``x``,
  so on the next tick the groups the price passed are popped off that heap's bottom and
  merged into one (the largest keeps its members, the others' live members move in: a
  position moves only into a group at least twice the size of its own, so O(log n) times);
  each group is created once, so these pops are amortized O(1) per tick;
- groups also sit in a max-heap by trigger level (extreme - smallest distance) with a
  version per group (lazy deletion: a key whose version is not the group's is dead). A
  tick fires from its top while the level >= ``x``: the group pops its members with
  ``extreme - distance >= x`` and is re-keyed.

A tick that makes a new high and fires nothing therefore costs a pop and two pushes on
heaps of groups (a few microseconds), whatever the number of trailing positions.

A member key is live while its seq is in ``group_of`` (a position re-indexed by the engine
takes a new seq: its old keys die). Closed members are dropped when their group fires,
merges or holds more dead keys than live ones.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush

from tradepro.engine.books import SEQ_BITS, SEQ_MASK

COMPACT_SLACK = 64
"""Dead member keys a group tolerates beyond its live ones before it is compacted."""


class TrailingGroup:
    """Trailing positions that share one running extreme."""

    __slots__ = ("extreme", "live", "members", "number", "version")

    def __init__(self, number: int, extreme: int) -> None:
        self.number = number
        self.extreme = extreme
        self.members: list[int] = []
        """Min-heap of ``distance << SEQ_BITS | seq`` (dead keys included)."""
        self.live = 0
        self.version = 0


class TrailingBook:
    """The trailing stops of one asset and side (see the module's docstring)."""

    __slots__ = ("by_extreme", "group_of", "groups", "next_number", "triggers")

    def __init__(self) -> None:
        self.groups: dict[int, TrailingGroup] = {}
        """Live groups by number."""
        self.group_of: dict[int, TrailingGroup] = {}
        """The group of each trailing position's current seq."""
        self.by_extreme: list[tuple[int, int]] = []
        """Min-heap of (extreme, group number); entries of ended groups are skipped."""
        self.triggers: list[tuple[int, int, int]] = []
        """Min-heap of (-level, group number, version); stale entries are skipped."""
        self.next_number = 0

    def __len__(self) -> int:
        return len(self.group_of)

    # -- membership -------------------------------------------------------------------

    def add(self, seq: int, distance: int, extreme: int) -> None:
        """Start trailing ``seq`` at ``distance`` from ``extreme`` (in ``x`` units)."""
        group = self._group_at(extreme)
        heappush(group.members, (distance << SEQ_BITS) | seq)
        group.live += 1
        self.group_of[seq] = group
        self._rekey(group)
        self._compact_triggers()

    def remove(self, seq: int) -> None:
        """``seq`` no longer trails (closed, cleared or re-indexed without it)."""
        group = self.group_of.pop(seq, None)
        if group is None:
            return
        group.live -= 1
        if group.live == 0:
            self._end(group)
        else:
            self._maybe_compact(group)

    def extreme_of(self, seq: int) -> int | None:
        group = self.group_of.get(seq)
        return None if group is None else group.extreme

    # -- ticks ------------------------------------------------------------------------

    def fire(self, x: int) -> list[int]:
        """Apply a tick: raise every passed extreme to ``x``, then return the seqs whose
        level ``extreme - distance`` is >= ``x``."""
        by_extreme = self.by_extreme
        if by_extreme and by_extreme[0][0] < x:
            self._merge_below(x)
        triggers = self.triggers
        if not triggers or -triggers[0][0] < x:
            return []
        groups, group_of = self.groups, self.group_of
        fired: list[int] = []
        while triggers and -triggers[0][0] >= x:
            _, number, version = heappop(triggers)
            group = groups.get(number)
            if group is None or group.version != version:
                continue
            members, limit = group.members, group.extreme - x
            while members and members[0] >> SEQ_BITS <= limit:
                seq = heappop(members) & SEQ_MASK
                if group_of.get(seq) is group:
                    del group_of[seq]
                    group.live -= 1
                    fired.append(seq)
            if group.live == 0:
                self._end(group)
            else:
                self._rekey(group)
        return fired

    # -- snapshots --------------------------------------------------------------------

    def extremes(self) -> list[tuple[int, int]]:
        """(seq, extreme) of every trailing position."""
        return [(seq, group.extreme) for seq, group in self.group_of.items()]

    def load(self, rows: list[tuple[int, int, int]]) -> None:
        """Replace the contents with (seq, distance, extreme) rows: one group per extreme."""
        self.__init__()  # type: ignore[misc]
        by_extreme: dict[int, TrailingGroup] = {}
        for seq, distance, extreme in rows:
            group = by_extreme.get(extreme)
            if group is None:
                group = by_extreme[extreme] = self._new_group(extreme)
            group.members.append((distance << SEQ_BITS) | seq)
            group.live += 1
            self.group_of[seq] = group
        for group in by_extreme.values():
            heapify(group.members)
            self._rekey(group)

    # -- helpers ----------------------------------------------------------------------

    def _group_at(self, extreme: int) -> TrailingGroup:
        """A live group whose extreme is ``extreme``: the lowest group when it has it
        (after a tick every extreme is >= the tick's ``x``, and new stops start there),
        else a new group."""
        by_extreme, groups = self.by_extreme, self.groups
        while by_extreme:
            lowest, number = by_extreme[0]
            group = groups.get(number)
            if group is not None and group.extreme == lowest:
                if lowest == extreme:
                    return group
                break
            heappop(by_extreme)  # an ended group's entry
        return self._new_group(extreme)

    def _new_group(self, extreme: int) -> TrailingGroup:
        number = self.next_number
        self.next_number = number + 1
        group = self.groups[number] = TrailingGroup(number, extreme)
        heappush(self.by_extreme, (extreme, number))
        return group

    def _merge_below(self, x: int) -> None:
        """Every group with an extreme below ``x`` becomes one group with extreme ``x``."""
        by_extreme, groups = self.by_extreme, self.groups
        passed: list[TrailingGroup] = []
        while by_extreme and by_extreme[0][0] < x:
            extreme, number = heappop(by_extreme)
            group = groups.get(number)
            if group is not None and group.extreme == extreme:
                passed.append(group)
        if not passed:
            return
        target = max(passed, key=_size)
        for group in passed:
            if group is not target:
                self._move_members(group, target)
                del groups[group.number]
        target.extreme = x
        heappush(by_extreme, (x, target.number))
        self._rekey(target)
        self._compact_triggers()

    def _move_members(self, group: TrailingGroup, target: TrailingGroup) -> None:
        """Move ``group``'s live members into ``target`` (the larger): a few pushes, or,
        when many move, one linear ``heapify`` (C code) instead of a push each."""
        group_of = self.group_of
        keys = [key for key in group.members if group_of.get(key & SEQ_MASK) is group]
        group_of.update(dict.fromkeys([key & SEQ_MASK for key in keys], target))
        members = target.members
        if len(keys) * 16 > len(members):
            members += keys
            heapify(members)
        else:
            for key in keys:
                heappush(members, key)
        target.live += group.live

    def _rekey(self, group: TrailingGroup) -> None:
        """Push the group's trigger key under a new version (older keys die)."""
        members, group_of = group.members, self.group_of
        while members and group_of.get(members[0] & SEQ_MASK) is not group:
            heappop(members)
        if not members:
            return
        group.version += 1
        level = group.extreme - (members[0] >> SEQ_BITS)
        heappush(self.triggers, (-level, group.number, group.version))

    def _end(self, group: TrailingGroup) -> None:
        """A group with no live member: forgotten (its heap entries die)."""
        del self.groups[group.number]
        group.members = []

    def _maybe_compact(self, group: TrailingGroup) -> None:
        members = group.members
        if len(members) > 2 * group.live + COMPACT_SLACK:
            group_of = self.group_of
            group.members = [key for key in members if group_of.get(key & SEQ_MASK) is group]
            heapify(group.members)

    def _compact_triggers(self) -> None:
        """Rebuild the trigger heap once stale keys dominate (one per live group is kept)."""
        triggers, groups = self.triggers, self.groups
        if len(triggers) > 2 * len(groups) + COMPACT_SLACK:
            self.triggers = [
                key
                for key in triggers
                if (group := groups.get(key[1])) is not None and group.version == key[2]
            ]
            heapify(self.triggers)
        by_extreme = self.by_extreme
        if len(by_extreme) > 2 * len(groups) + COMPACT_SLACK:
            self.by_extreme = [
                key
                for key in by_extreme
                if (group := groups.get(key[1])) is not None and group.extreme == key[0]
            ]
            heapify(self.by_extreme)


def _size(group: TrailingGroup) -> int:
    return len(group.members)
