"""The event vocabulary: every kind of event fleetpilot knows, named once.

Device events arrive on the wire (protocol v1 ``events``: the JSON Schema's ``event_kind``)
and are stored in ``events`` (its CHECK constraint, migration 0002). The analytics detect the
harsh kinds from fixes as well, plus speeding and long stretches without a break. The rollup
counts some kinds per exposure unit (columns of cell_exposure and segment_exposure, the kinds
of known_hotspots) and per what-if leg (columns of whatif_legs). Each group below is tested
against the schema and the database (tests/unit/test_event_kinds.py).

The simulator (fleetsim.wire.EVENT_KINDS) keeps its own copy, since it imports no server
code; the same test holds it to DEVICE.
"""

from __future__ import annotations

from typing import Final

HARSH_BRAKE: Final = "harsh_brake"
HARSH_ACCEL: Final = "harsh_accel"
HARSH_CORNER: Final = "harsh_corner"
REVERSING: Final = "reversing"
BIN_LIFT: Final = "bin_lift"  # PTO / bin lift: a stop served
IGNITION_ON: Final = "ignition_on"
IGNITION_OFF: Final = "ignition_off"
SPEEDING: Final = "speeding"  # derived: above the segment's or zone's limit
LONG_STRETCH: Final = "long_stretch"  # derived: long driving without a break (care, not blame)

HARSH: Final = (HARSH_BRAKE, HARSH_ACCEL, HARSH_CORNER)
# Sent by a device (protocol v1) and stored in `events`.
DEVICE: Final = (*HARSH, REVERSING, BIN_LIFT, IGNITION_ON, IGNITION_OFF)
# A crew member's safety events in the shift view.
SAFETY: Final = (*HARSH, SPEEDING, LONG_STRETCH)
# Counted per grid cell (cell_exposure) and per street segment (segment_exposure, known_hotspots).
CELL_EXPOSURE: Final = (*HARSH, SPEEDING)
SEGMENT_EXPOSURE: Final = (HARSH_BRAKE, SPEEDING)
# Counted per what-if leg (whatif_legs).
LEG: Final = (*HARSH, REVERSING, BIN_LIFT)
