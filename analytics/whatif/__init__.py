"""What-if analysis: scenarios over the pilot's history and a library of questions.

Pure functions over numpy columns and shapely geometries (no SQL, no I/O):

- ``history``: the columns an answer is computed from (shifts, legs, plans, network);
- ``legs`` and ``assemble``: one shift's fixes and events → legs; records → a History;
- ``kpi``, ``uncertainty``, ``privacy``, ``result``, ``charts``, ``common``: shared machinery;
- scenarios: ``start_time`` (a), ``facility_move`` (b), ``rebalance`` (c), ``frequency`` (d),
  ``resequence`` with ``tour`` (e), ``calming`` (f); ``scenarios`` is their registry;
- ``questions``: the question library;
- ``synthetic``: a history with known causal structure for tests and ``bench``.

Formulas, units and assumptions: docs/whatif.md.
"""
