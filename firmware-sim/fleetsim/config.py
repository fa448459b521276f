"""Every knob of a simulation run, with its default and unit, in one frozen dataclass.

Behaviour, GPS realism and connectivity faults are separate groups so tests can switch one
on at a time. All randomness derives from `seed` (see fleetsim.streams), so the same
SimConfig always produces the same trucks, fixes, events and messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Behaviour:
    """How trucks and crews behave (probabilities are per shift unless stated)."""

    p_blocked_street: float = 0.3  # a shift finds 1–3 of its service streets blocked and skips them
    p_skip_break: float = 0.2  # a shift takes no break (a long stretch the fatigue analysis should find)
    p_reverse_at_stop: float = 0.03  # per stop: the truck backs up to reach the bins
    n_dangerous: int = 3  # dangerous intersections
    p_harsh_brake_dangerous: float = 0.45  # per pass through a dangerous intersection
    p_harsh_brake_background: float = 0.004  # per pass through any other intersection at ≥ 8 m/s
    p_harsh_accel: float = 0.03  # per turn onto a fast street
    p_harsh_corner: float = 0.02  # per sharp turn off the collection streets
    collect_speed_mps: float = 5.0  # top speed between bin stops


@dataclass(frozen=True)
class GpsRealism:
    """Receiver errors. Set a field to 0 to switch that error off."""

    noise_m: float = 3.0  # σ of the (time-correlated) position error
    multipath_per_fix: float = 1 / 2000  # probability a fix is thrown 20–80 m off
    dropouts_per_hour: float = 1.5  # GPS outages of 5–60 s (no fixes at all)


@dataclass(frozen=True)
class Connectivity:
    """The unit's link to the broker."""

    offline_per_hour: float = 0.3  # cellular outages of 1–15 min; data is stored and forwarded
    buffer_messages: int = 2000  # store-and-forward capacity; when full the oldest message is dropped
    duplicate_rate: float = 0.005  # per message: published twice (as QoS 1 redelivery does)
    clock_skew_s: float = 2.0  # |skew| of the unit's clock (stamps `sent` and status `t`), uniform
    backoff_initial_s: float = 1.0  # reconnect attempts back off 1, 2, 4, … s (jittered) …
    backoff_max_s: float = 60.0  # … up to this


@dataclass(frozen=True)
class Faults:
    """Deliberate misbehaviour for the ingest's tests; all off by default."""

    leak: bool = False  # every 4th unit publishes just outside its shift and always takes a break, flagged private
    leak_seconds: int = 30  # how far outside the window a leaking unit publishes
    hostile: bool = False  # some units also send malformed or hostile payloads
    hostile_per_vehicle: int = 10  # hostile messages per affected shift


@dataclass(frozen=True)
class HazardFix:
    """A dangerous intersection made safe on a day: the city fixed it (a signal retimed, a
    corner rebuilt). From `on` (the city's local date, ISO 8601) trucks brake there no more
    than at any other intersection. `lon`/`lat` name the intersection: the dangerous one
    nearest to them, within fleetsim.scenario.FIX_MATCH_M."""

    lon: float
    lat: float
    on: str


@dataclass(frozen=True)
class SimConfig:
    seed: int = 1
    city: str = "metro"
    n_vehicles: int = 10
    days: int = 1
    start_ms: int | None = None  # first shift day at this instant; None = 06:00 local time of the previous local day
    # The city's IANA time zone: later days start at the same local wall-clock time (across
    # daylight-saving changes). The synthetic city sits at Dallas's coordinates.
    timezone: str = "America/Chicago"
    hours: float = 10.0  # shift length
    stagger_minutes: float = 20.0  # shift starts spread over this (5-minute steps)
    rate_hz: float = 1.0  # fix sampling rate
    fixes_per_message: int = 10
    vehicle_prefix: str = "truck"
    behaviour: Behaviour = field(default_factory=Behaviour)
    gps: GpsRealism = field(default_factory=GpsRealism)
    link: Connectivity = field(default_factory=Connectivity)
    faults: Faults = field(default_factory=Faults)
    device: str = "v1"  # device profile (fleetsim.device): v1 | tracker | phone
    # The synthetic city: "irregular" (fleetsim.irregular: moved junctions, missing, curved and
    # dead-end streets, built as an imported network is) or "grid" (fleetsim.city: a regular grid).
    city_style: str = "irregular"
    streets: str | None = None  # a GeoJSON street layer to drive on (fleetsim.streetnet); None = the synthetic city
    hazard_fixes: tuple[HazardFix, ...] = ()  # dangerous intersections retired on a day (--fix-hazard)

    @property
    def step_ms(self) -> int:
        return int(round(1000.0 / self.rate_hz))

    def with_(self, **changes) -> SimConfig:
        return replace(self, **changes)


def no_noise(config: SimConfig) -> SimConfig:
    """The same run with a perfect receiver and a perfect link (exact positions, no gaps)."""
    return replace(
        config,
        gps=GpsRealism(0.0, 0.0, 0.0),
        link=replace(config.link, offline_per_hour=0.0, duplicate_rate=0.0, clock_skew_s=0.0),
    )
