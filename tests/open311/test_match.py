"""A complaint to the planned segments it is about: by position (nearest within the radius)
or, with only an address, by street name."""

from __future__ import annotations

from fleetpilot.open311.match import Segments, by_address, by_position, street_key

SEGMENTS = Segments(
    ids=["seg-a", "seg-b", "seg-c"],
    names=["Main Street", "Oak Avenue", "Main St"],
    lines=[
        [[13.400, 52.500], [13.410, 52.500]],
        [[13.410, 52.500], [13.410, 52.510]],
        [[13.410, 52.510], [13.400, 52.510]],
    ],
)


def test_position_finds_the_nearest_segment_within_the_radius():
    # ~11 m north of seg-a's middle; seg-c is ~1.1 km away.
    assert by_position(SEGMENTS, 13.405, 52.5001) == ["seg-a"]
    # At the corner of seg-a and seg-b: both, nearest first.
    assert set(by_position(SEGMENTS, 13.4099, 52.5001)) == {"seg-a", "seg-b"}
    assert by_position(SEGMENTS, 13.405, 52.505) == []  # 550 m from every segment


def test_an_address_finds_the_segments_of_its_street():
    assert street_key("1234 Main Street, Apt 2") == "main st"
    assert by_address(SEGMENTS, "1234 MAIN ST.") == ["seg-a", "seg-c"]
    assert by_address(SEGMENTS, "7 Oak Ave") == ["seg-b"]
    assert by_address(SEGMENTS, "1 Elm Road") == []
    assert by_address(SEGMENTS, None) == []
