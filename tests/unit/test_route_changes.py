"""What changed between two street lists (api/route_plans/changes.py)."""

from __future__ import annotations

from fleetpilot.api.route_plans.changes import Moved, street_changes


def test_one_street_moved_down_is_one_move_not_the_streets_it_passed():
    changes = street_changes(["a", "b", "c", "d"], ["b", "c", "a", "d"])
    assert changes.moved == (Moved("a", 1, 3),)
    assert (changes.added, changes.removed) == ((), ())


def test_added_removed_and_moved_together():
    changes = street_changes(["a", "b", "c"], ["d", "c", "a"])
    assert changes.added == ("d",)
    assert changes.removed == ("b",)
    assert [m.segment_id for m in changes.moved] == ["c"]


def test_the_same_order_is_no_change_and_repeats_count_once():
    assert street_changes(["a", "b", "a"], ["a", "b"]).none
    assert not street_changes(["a", "b"], ["b", "a"]).none


def test_a_reversed_list_moves_all_but_one():
    changes = street_changes(list("abcde"), list("edcba"))
    assert len(changes.moved) == 4
