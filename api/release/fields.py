"""What every published field means: (unit or None, description). Units are also in the names."""

from __future__ import annotations

RANGE = {
    "start": (None, "first day of the whole ISO weeks the figures cover (Monday)"),
    "end": (None, "day after the last day covered (a Monday)"),
    "k_min_shifts": ("shifts", "a (unit, ISO week) block enters the figures only with at least this many shifts"),
    "k_min_people": ("people", "… and at least this many distinct people"),
}
FIELDS: dict[str, tuple[str | None, str]] = {
    "id": (None, "feature id, stable across releases"),
    "route_id": (None, "route identifier"),
    "route_name": (None, "route name"),
    "route_version": (None, "version of the route plan the figures refer to"),
    "seq": (None, "position in the route's service order"),
    "segment_id": (None, "street segment identifier"),
    "name": (None, "street name"),
    "service": (None, "true when the segment is collected on (false: driven through only)"),
    "shifts": ("shifts", "shifts in the released blocks"),
    "missed": ("shifts", "released shifts in which the planned segment was not serviced, without a cause"),
    "no_data": (
        "shifts",
        "released shifts with no position data in the segment's service window (neither serviced nor missed)",
    ),
    "caused": (
        "shifts",
        "released shifts that missed the segment for a cause the crew gave or a blocked-street hazard report "
        "(not counted as missed)",
    ),
    "coverage": ("share 0-1", "share of released shifts with data and without a cause that serviced the segment"),
    "week_start": (None, "Monday of the ISO week"),
    "period_start": (None, "Monday of the ISO week (as period_start in the API)"),
    "coverage_mean": ("share 0-1", "mean share of planned service segments driven per shift"),
    "distance_km_per_shift": ("km", "mean distance driven per shift"),
    "deadhead_share": ("share 0-1", "deadhead distance / distance driven"),
    "collection_h_per_shift": ("h", "mean collection time per shift"),
    "idle_min_per_shift": ("min", "mean idle time per shift"),
    "facility_min_per_shift": ("min", "mean time at facilities per shift"),
    "dwell_mean_s": ("s", "mean dwell per stop"),
    "turnaround_mean_s": ("s", "mean turnaround at facilities"),
    "unit_id": (None, "street segment id, or grid cell id"),
    "lon": ("degree", "cell centre longitude (WGS 84)"),
    "lat": ("degree", "cell centre latitude (WGS 84)"),
    "passes": ("passes", "exposure: entries of a truck into the unit"),
    "events": ("events", "safety events of `kind` in the unit"),
    "rate_per_1000": ("events per 1000 passes", "events / passes × 1000"),
    "expected": ("events", "segments: events expected at the reference rate"),
    "z": (None, "cells: Getis-Ord Gi* z-score; segments: Poisson standardised excess"),
    "p": (None, "p-value"),
    "q": (None, "Benjamini–Hochberg adjusted p-value (false discovery rate)"),
    "significant": (None, "true when q is below the FDR level"),
    "cluster": (None, "cells: connected significant cells share a number"),
    "place_id": (None, "the hotspot place the unit belongs to (touching significant units above the fleet's rate)"),
    "place": (None, "that place's name, from the streets through it (as the hotspot page shows it)"),
    "kind": (None, "event kind: harsh_brake, harsh_accel, harsh_corner or speeding"),
    "method": (None, "poisson_exceedance (segments) or gi_star (cells)"),
    "reference_rate_per_1000": ("events per 1000 passes", "the fleet's rate over the tested units"),
    "facility_id": (None, "facility identifier"),
    "facility_type": (None, "depot, transfer_station, landfill or break"),
    "feature_type": (None, "segment or stop"),
    "speed_limit_kmh": ("km/h", "speed limit"),
    "stop_id": (None, "stop identifier"),
    **RANGE,
}


def describe(name: str, mirrors: str) -> tuple[str | None, str]:
    """(unit, description) of a field; one the table does not know yet is the API's field."""
    return FIELDS.get(name, (None, f"as the field of this name in the API's {mirrors}"))
