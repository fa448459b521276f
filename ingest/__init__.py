"""The ingest service: MQTT telemetry into PostgreSQL, nothing lost, nothing duplicated.

Pipeline (one module per step, as in Traccar's decoder → handlers → storage):

    receive (paho, MQTT 5, QoS 1, manual acks)  →  buffer (bounded: backpressure)
      →  [dialects: Traccar / OwnTracks adapters build v1 messages]
      →  validate (protocol v1)  →  privacy (shift windows, private mode, zones)
      →  batch (size and time)  →  write (COPY + INSERT … ON CONFLICT, one transaction)
      →  acknowledge (only after commit, in receive order)

`worker.IngestWorker` wires the steps together; `fleetpilot ingest` runs one. The HTTP ways in
(`http.HttpIngest`, served by the API) run the same steps per request (docs/trackers.md).
"""
