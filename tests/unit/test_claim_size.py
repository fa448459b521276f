"""The rollup's claims shrink at the end of a run (rollup/queue.py: tapered)."""

from __future__ import annotations

from fleetpilot.rollup.queue import tapered


def sizes(queued: int, batch: int) -> list[int]:
    """The claims one worker makes on a queue of ``queued`` shifts."""
    out = []
    while queued:
        size = min(tapered(queued, batch), queued)
        out.append(size)
        queued -= size
    return out


def test_full_batches_until_fewer_than_two_are_free_then_halves_down_to_a_quarter_batch():
    assert sizes(200, 50) == [50, 50, 50, 25, 13, 12]
    assert sizes(130, 50) == [50, 40, 20, 12, 8]
    assert sizes(5, 2) == [2, 2, 1]
    assert sizes(1, 50) == [1]


def test_a_large_queue_is_claimed_in_full_batches():
    assert tapered(730_000, 50) == tapered(100, 50) == 50
    assert tapered(99, 50) == 50 and tapered(60, 50) == 30
