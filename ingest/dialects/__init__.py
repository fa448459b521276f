"""Ways in other than protocol v1: each dialect's adapter turns its messages into protocol v1
bodies, which then pass the same validator, privacy filter, batch and writer as v1 does
(docs/trackers.md; ARCHITECTURE "every way in becomes the same validated fix").

    traccar    Traccar's JSON forwarding (PositionData / EventData), by MQTT or HTTP POST
    owntracks  the OwnTracks app's JSON (``_type: location``), by MQTT or HTTP mode
    common     the decoded shape, units (knots, km/h, accuracy) and time parsing
    bindings   which vehicle an admin bound a dialect's device identity to
    stage      the pipeline step: topic → adapter → identity → v1 validation → privacy → batch
    tokens     the HTTP ways in' bearer tokens (hashed, revocable)
"""
