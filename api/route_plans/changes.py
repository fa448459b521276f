"""What changed between two versions of a route's street list (issue 21, items 4 and 5).

A street list is the route's service segments in driving order. Between an old and a new list
a street is *added* (only in the new), *removed* (only in the old) or *moved*; the streets in
both lists that keep their relative order stay. "Moved" is the smallest set that explains the
new order: the common streets outside one longest run that is in the old order (a longest
increasing subsequence of their old positions, in the new order). Moving one street three
places down then reads as one moved street, not as the three it passed.

A segment listed twice (a street collected on the way out and back) counts once, at its first
position, so positions are comparable.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Moved:
    segment_id: str
    was: int  # 1-based position in the old list
    now: int  # 1-based position in the new list


@dataclass(frozen=True)
class StreetChanges:
    added: tuple[str, ...]  # in the new order
    removed: tuple[str, ...]  # in the old order
    moved: tuple[Moved, ...]  # in the new order

    @property
    def none(self) -> bool:
        return not (self.added or self.removed or self.moved)


def _longest_increasing(values: Sequence[int]) -> set[int]:
    """Indexes into `values` of one longest strictly increasing subsequence (O(n log n))."""
    tails: list[int] = []  # tails[k]: the smallest value ending a run of length k + 1
    tail_at: list[int] = []  # its index in values
    before: list[int] = [-1] * len(values)
    for i, v in enumerate(values):
        k = bisect_left(tails, v)
        if k == len(tails):
            tails.append(v)
            tail_at.append(i)
        else:
            tails[k], tail_at[k] = v, i
        before[i] = tail_at[k - 1] if k else -1
    kept, i = set(), tail_at[-1] if tail_at else -1
    while i >= 0:
        kept.add(i)
        i = before[i]
    return kept


def unique_order(segment_ids: Sequence[str]) -> list[str]:
    """The list with repeats dropped (first position kept)."""
    return list(dict.fromkeys(segment_ids))


def street_changes(old: Sequence[str], new: Sequence[str]) -> StreetChanges:
    """Added, removed and moved streets from the `old` to the `new` driving order."""
    old, new = unique_order(old), unique_order(new)
    was = {s: i for i, s in enumerate(old)}
    now = {s: i for i, s in enumerate(new)}
    common = [s for s in new if s in was]
    stay = _longest_increasing([was[s] for s in common])
    return StreetChanges(
        added=tuple(s for s in new if s not in was),
        removed=tuple(s for s in old if s not in now),
        moved=tuple(Moved(s, was[s] + 1, now[s] + 1) for i, s in enumerate(common) if i not in stay),
    )
