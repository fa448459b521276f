"""The HTTP ways in for real trackers: Traccar's JSON forwarding and OwnTracks' HTTP mode
(docs/trackers.md). Each request is one message through the ingest's own pipeline
(ingest/dialects) and is answered 2xx only after its transaction committed."""
