"""Trailing stops of one asset and side, without one update per position on a tick.

A buy's trailing stop sits at (highest bid since it was set) - distance and fires when the
bid falls to it; a sell's at (lowest ask since set) + distance and fires when the ask rises
to it. The book works on one number ``x`` per tick: the bid for the buy side, minus the ask
for the sell side, so that both read "extreme = highest x since set; fires when
x <= extreme - distance".

Positions whose running extreme the price has passed all share the new extreme, so they
are kept in *groups* that share one extreme:

- a group's positions sit in *runs*: min-heaps of keys ``distance << SEQ_BITS | seq`` (the
  smallest distance is the highest level, the first to fire). A key never leaves its run;
  a run belongs to one group at a time, and the group keeps its runs in a heap by their
  smallest key;
- groups sit in a min-heap by extreme. After a tick with ``x`` every extreme is >= ``x``,
  so on the next tick the groups the price passed are popped off that heap's bottom and
  merged into one: the group with the most runs keeps them, the others' runs move in (a run
  only moves into a group with at least as many runs, so O(log n) times). Each group is
  created once, so these pops are amortized O(1) per tick, and a merge costs O(runs moved
  x log), never a pass over positions: no stall when half a million positions merge;
- groups also sit in a max-heap by trigger level (extreme - smallest distance) with a
  version per group (lazy deletion: a key whose version is not the group's is dead). A
  tick fires from its top while the level >= ``x``: the group pops its smallest keys with
  ``extreme - distance >= x`` and is re-keyed.

A tick that makes a new high and fires nothing therefore costs a pop and two pushes on
heaps of groups (a few microseconds), whatever the number of trailing positions.

A key is live while its seq maps to its run in ``run_of`` (a position re-indexed by the
engine takes a new seq: its old key dies). Dead keys are dropped when they reach a run's
top, or when a run holds more dead keys than live ones.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush

from tradepro.engine.books import SEQ_BITS, SEQ_MASK

COMPACT_SLACK = 64
"""Dead keys a run (or a heap of groups) tolerates beyond its live ones."""


class TrailingRun:
    """A min-heap of member keys that never leave it; it belongs to one group at a time."""

    __slots__ = ("group", "keys", "live")

    def __init__(self, group: TrailingGroup) -> None:
        self.group = group
        self.keys: list[int] = []
        self.live = 0

    def __lt__(self, other: TrailingRun) -> bool:
        """Entries (key, run) of equal keys are the same run's: any order will do."""
        return False


class TrailingGroup:
    """Trailing positions that share one running extreme."""

    __slots__ = ("extreme", "live", "newest", "number", "runs", "version")

    def __init__(self, number: int, extreme: int) -> None:
        self.number = number
        self.extreme = extreme
        self.newest = TrailingRun(self)
        """The run new members join."""
        self.runs: list[tuple[int, TrailingRun]] = []
        """Min-heap of (a run's smallest key when pushed, run); an entry is current while
        its key is still the run's smallest (older entries are skipped)."""
        self.live = 0
        self.version = 0


class TrailingBook:
    """The trailing stops of one asset and side (see the module's docstring)."""

    __slots__ = ("by_extreme", "groups", "next_number", "run_of", "triggers")

    def __init__(self) -> None:
        self.groups: dict[int, TrailingGroup] = {}
        """Live groups by number."""
        self.run_of: dict[int, TrailingRun] = {}
        """The run of each trailing position's current seq (its group: ``run.group``)."""
        self.by_extreme: list[tuple[int, int]] = []
        """Min-heap of (extreme, group number); entries of ended groups are skipped."""
        self.triggers: list[tuple[int, int, int]] = []
        """Min-heap of (-level, group number, version); stale entries are skipped."""
        self.next_number = 0

    def __len__(self) -> int:
        return len(self.run_of)

    # -- membership -------------------------------------------------------------------

    def add(self, seq: int, distance: int, extreme: int) -> None:
        """Start trailing ``seq`` at ``distance`` from ``extreme`` (in ``x`` units)."""
        group = self._group_at(extreme)
        run = group.newest
        key = (distance << SEQ_BITS) | seq
        keys = run.keys
        if not keys or key < keys[0]:
            heappush(group.runs, (key, run))  # its new smallest key
        heappush(keys, key)
        run.live += 1
        group.live += 1
        self.run_of[seq] = run
        self._rekey(group)
        self._compact_triggers()

    def remove(self, seq: int) -> None:
        """``seq`` no longer trails (closed, cleared or re-indexed without it)."""
        run = self.run_of.pop(seq, None)
        if run is None:
            return
        run.live -= 1
        group = run.group
        group.live -= 1
        if group.live == 0:
            self._end(group)
        elif len(run.keys) > 2 * run.live + COMPACT_SLACK:
            self._compact_run(run)

    def extreme_of(self, seq: int) -> int | None:
        run = self.run_of.get(seq)
        return None if run is None else run.group.extreme

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
        groups, run_of = self.groups, self.run_of
        fired: list[int] = []  # appended to by _fire_group
        while triggers and -triggers[0][0] >= x:
            _, number, version = heappop(triggers)
            group = groups.get(number)
            if group is None or group.version != version:
                continue
            _fire_group(group, group.extreme - x, run_of, fired)
            if group.live == 0:
                self._end(group)
            else:
                self._rekey(group)
        return fired

    # -- snapshots --------------------------------------------------------------------

    def extremes(self) -> list[tuple[int, int]]:
        """(seq, extreme) of every trailing position."""
        return [(seq, run.group.extreme) for seq, run in self.run_of.items()]

    def load(self, rows: list[tuple[int, int, int]]) -> None:
        """Replace the contents with (seq, distance, extreme) rows: one group per extreme."""
        self.__init__()  # type: ignore[misc]
        by_extreme: dict[int, TrailingGroup] = {}
        for seq, distance, extreme in rows:
            group = by_extreme.get(extreme)
            if group is None:
                group = by_extreme[extreme] = self._new_group(extreme)
            run = group.newest
            run.keys.append((distance << SEQ_BITS) | seq)
            run.live += 1
            group.live += 1
            self.run_of[seq] = run
        for group in by_extreme.values():
            run = group.newest
            heapify(run.keys)
            group.runs.append((run.keys[0], run))
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
        """Every group with an extreme below ``x`` becomes one group with extreme ``x``:
        the one with the most runs takes the others' runs (their keys stay put)."""
        by_extreme, groups = self.by_extreme, self.groups
        passed: list[TrailingGroup] = []
        while by_extreme and by_extreme[0][0] < x:
            extreme, number = heappop(by_extreme)
            group = groups.get(number)
            if group is not None and group.extreme == extreme:
                passed.append(group)
        if not passed:
            return
        target = max(passed, key=_run_count)
        runs = target.runs
        for group in passed:
            if group is target:
                continue
            for entry in group.runs:
                entry[1].group = target
            runs += group.runs
            target.live += group.live
            del groups[group.number]
        if len(passed) > 1:
            heapify(runs)  # O(runs): heaps of runs, never of positions
        target.extreme = x
        heappush(by_extreme, (x, target.number))
        self._rekey(target)
        self._compact_triggers()

    def _rekey(self, group: TrailingGroup) -> None:
        """Push the group's trigger key under a new version (older keys die), after
        dropping dead keys and older entries from the top of its runs."""
        runs, run_of = group.runs, self.run_of
        while runs:
            key, run = runs[0]
            keys = run.keys
            if not keys or keys[0] != key or run.group is not group:
                heappop(runs)  # an older entry
                continue
            if run_of.get(key & SEQ_MASK) is run:
                break
            heappop(keys)  # a dead key at the run's top
            heappop(runs)
            if keys:
                heappush(runs, (keys[0], run))
        if not runs:
            return
        group.version += 1
        level = group.extreme - (runs[0][0] >> SEQ_BITS)
        heappush(self.triggers, (-level, group.number, group.version))

    def _end(self, group: TrailingGroup) -> None:
        """A group with no live member: forgotten (its heap entries die)."""
        del self.groups[group.number]
        group.runs = []

    def _compact_run(self, run: TrailingRun) -> None:
        """Drop a run's dead keys (its group's entry for it is pushed again)."""
        run_of = self.run_of
        run.keys = [key for key in run.keys if run_of.get(key & SEQ_MASK) is run]
        heapify(run.keys)
        if run.keys:
            heappush(run.group.runs, (run.keys[0], run))

    def _compact_triggers(self) -> None:
        """Rebuild a heap of groups once stale entries dominate."""
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


def _fire_group(
    group: TrailingGroup, limit: int, run_of: dict[int, TrailingRun], fired: list[int]
) -> None:
    """Pop the group's live keys with distance <= ``limit`` (their level is reached)."""
    runs = group.runs
    while runs and runs[0][0] >> SEQ_BITS <= limit:
        key, run = heappop(runs)
        keys = run.keys
        if not keys or keys[0] != key:
            continue  # an older entry of the run
        while keys and keys[0] >> SEQ_BITS <= limit:
            seq = heappop(keys) & SEQ_MASK
            if run_of.get(seq) is run:
                del run_of[seq]
                run.live -= 1
                group.live -= 1
                fired.append(seq)
        if keys:
            heappush(runs, (keys[0], run))


def _run_count(group: TrailingGroup) -> int:
    return len(group.runs)
