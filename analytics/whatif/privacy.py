"""k-anonymity for what-if answers: a group is shown only if enough shifts and people are in it.

A group (a route, a segment, an hour of day, …) is the set of shifts that contributed to a
row. It is shown only when at least ``k_shifts`` distinct shifts *and* ``k_people``
distinct people (through the shifts' pseudonymous crew numbers) contributed; otherwise the
row is suppressed and counted. Answers never group by person, and the crew numbers never
leave the history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetpilot.analytics.whatif.history import History


@dataclass(frozen=True)
class Privacy:
    k_shifts: int = 5
    k_people: int = 3

    def describe(self) -> str:
        return (
            f"rows built from fewer than {self.k_shifts} shifts or fewer than {self.k_people} distinct people "
            "are suppressed; no answer is about a person"
        )


def support(history: History, group: np.ndarray, shift: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct shifts and distinct people per group, from parallel (group, shift) member rows."""
    group = np.asarray(group, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    ok = group >= 0
    group, shift = group[ok], shift[ok]
    n_shifts_total = max(history.shifts.size, 1)
    pairs = np.unique(group * n_shifts_total + shift)
    pair_group, pair_shift = np.divmod(pairs, n_shifts_total)
    shifts = np.bincount(pair_group, minlength=n_groups)
    crew = history.shifts
    # Expand every (group, shift) pair into its shift's crew entries.
    sizes = np.diff(crew.crew_offsets)[pair_shift]
    member_group = np.repeat(pair_group, sizes)
    first_of_pair = np.repeat(np.cumsum(sizes) - sizes, sizes)
    entry = np.repeat(crew.crew_offsets[pair_shift], sizes) + np.arange(len(member_group)) - first_of_pair
    persons = crew.crew_person[entry].astype(np.int64)
    n_people_total = int(crew.crew_person.max()) + 1 if crew.crew_person.size else 1
    people = np.bincount(np.unique(member_group * n_people_total + persons) // n_people_total, minlength=n_groups)
    return shifts, people


def allowed(history: History, group: np.ndarray, shift: np.ndarray, n_groups: int, privacy: Privacy) -> np.ndarray:
    """Boolean per group: may this group's row be shown?"""
    shifts, people = support(history, group, shift, n_groups)
    return (shifts >= privacy.k_shifts) & (people >= privacy.k_people)


def shift_groups_allowed(history: History, shift_group: np.ndarray, n_groups: int, privacy: Privacy) -> np.ndarray:
    """``allowed`` for groups defined per shift (e.g. the shift's route or weekday)."""
    return allowed(history, shift_group, np.arange(history.shifts.size), n_groups, privacy)
