"""Each scenario against the truth by construction: the synthetic fleet is generated again
with the change applied, and the estimate (made from the first history only) must find
the effect that world shows."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from fleetpilot.analytics.whatif.calming import calm
from fleetpilot.analytics.whatif.common import Options, hotspot_segments
from fleetpilot.analytics.whatif.facility_move import move_facility
from fleetpilot.analytics.whatif.frequency import change_frequency
from fleetpilot.analytics.whatif.kpi import Factors, K, shift_kpis
from fleetpilot.analytics.whatif.privacy import Privacy
from fleetpilot.analytics.whatif.rebalance import rebalance
from fleetpilot.analytics.whatif.resequence import resequence
from fleetpilot.analytics.whatif.start_time import shift_start
from fleetpilot.analytics.whatif.synthetic import generate, with_changes

OPTIONS = Options(replicates=200)


def totals(fleet, hotspot_ids=None) -> np.ndarray:
    mask = np.zeros(fleet.history.network.size, dtype=bool)
    if hotspot_ids is not None:
        mask[hotspot_ids] = True
    return shift_kpis(fleet.history, mask, Factors()).sum(axis=0)


def expected_events_at(fleet, segments) -> float:
    return float(fleet.expected_harsh[np.isin(fleet.history.legs.segment, segments)].sum())


def assert_found(kpi: dict, truth: float, slack: float) -> None:
    """The truth lies in the bootstrap interval widened by ``slack`` (the estimate's model error)."""
    assert kpi["delta_lo"] - slack <= truth <= kpi["delta_hi"] + slack, (kpi, truth)


def test_starting_earlier_moves_tips_into_the_queue_peak(base_fleet, base_config):
    routes = (2, 5, 8)  # these start at 08:00; two hours earlier their tips land in the 09–12 queue
    result = shift_start(base_fleet.history, -120, OPTIONS, routes=[f"route-{r:02d}" for r in routes])
    world = generate(with_changes(base_config, start_shift_min=-120, shifted_routes=routes))
    hot = hotspot_segments(base_fleet.history, OPTIONS)
    truth = totals(world, hot) - totals(base_fleet, hot)
    hours = result.kpi("truck_hours")
    assert hours["delta"] > 0 and truth[K["truck_hours"]] > 0
    assert_found(hours, truth[K["truck_hours"]], slack=0.5)
    events = result.kpi("hotspot_events")["delta"]
    true_events = expected_events_at(world, hot) - expected_events_at(base_fleet, hot)
    assert events == pytest.approx(true_events, rel=0.3)
    assert result.kpi("km")["delta"] == 0 and not result.kpi("km")["modelled"]


def test_moving_the_transfer_station_closer_cuts_deadhead_by_the_distance(base_fleet, base_config):
    new = (base_config.cols - 7, 0)  # 720 m west of the default site, along the same arterial
    x, y = base_fleet.node_xy(*new)
    result = move_facility(base_fleet.history, "transfer-1", x, y, OPTIONS)
    world = generate(with_changes(base_config, transfer_node=new))
    truth = totals(world) - totals(base_fleet)
    assert truth[K["deadhead_km"]] < 0
    assert result.kpi("deadhead_km")["delta"] == pytest.approx(truth[K["deadhead_km"]], rel=0.15)
    assert result.kpi("truck_hours")["delta"] == pytest.approx(truth[K["truck_hours"]], rel=0.15)
    # Every one-way trip between a route west of the new site and the station is 720 m shorter.
    trips = result.tables[0].rows[0][1]
    assert -result.kpi("deadhead_km")["delta"] <= trips * 0.72 * 1.05
    assert result.inputs["facility_id"] == "transfer-1"


def test_rebalancing_hands_work_from_the_overloaded_route_and_the_replay_agrees(base_config):
    cfg = with_changes(base_config, trucks=4)
    plain = generate(cfg)
    net = plain.history.network
    overload = np.flatnonzero((plain.segment_route == 2) & (net.mid_x < 5 * cfg.block_m))
    skewed = with_changes(cfg, reassign=tuple((int(s), 1) for s in overload))  # route 1 gets route 2's first column
    fleet = generate(skewed)
    result = rebalance(fleet.history, OPTIONS, max_moves=40)
    moves = result.tables[2].rows
    assert moves and all(m[1] == "route-01" for m in moves[:5])
    index = net.index()
    after = generate(
        with_changes(skewed, reassign=skewed.reassign + tuple((index[m[0]], int(m[2][-2:])) for m in moves))
    )
    predicted = {row[0]: row[2] for row in result.tables[1].rows}
    hours = shift_kpis(after.history, np.zeros(net.size, bool), Factors())[:, K["truck_hours"]]
    for r in range(4):
        observed = hours[after.history.shifts.route == r].mean()
        assert predicted[f"route-{r:02d}"] == pytest.approx(observed, abs=0.6)
    spread = result.tables[0].rows[0]
    assert spread[1] < spread[0] / 2  # completion spread at least halved
    assert abs(result.kpi("truck_hours")["delta"]) < 1e-6  # work moves, it does not vanish


def test_collecting_a_zone_weekly_instead_of_twice(base_config):
    cfg = with_changes(base_config, days=28, zone=(-0.5, -0.5, 8, 16), zone_weekdays=(0, 3))
    fleet = generate(cfg)
    zone = shapely.box(-60, -60, 8 * cfg.block_m, 16 * cfg.block_m)
    result = change_frequency(fleet.history, zone, 1.0, OPTIONS)
    world = generate(with_changes(cfg, zone_weekdays=(0,)))
    truth = totals(world) - totals(fleet)
    assert result.tables[0].rows[1][1] == pytest.approx(2.0)
    for name in ("truck_hours", "km", "deadhead_km", "fuel_l"):
        assert result.kpi(name)["delta"] < 0
        assert_found(result.kpi(name), truth[K[name]], slack=0.1 * abs(truth[K[name]]))


def test_resequencing_a_scrambled_route_finds_the_planned_serpentine(base_config):
    fleet = generate(with_changes(base_config, shuffled_route=2))
    result = resequence(fleet.history, "route-02", OPTIONS)
    driven, optimised, planned = (result.tables[0].rows[0][i] for i in (1, 2, 3))
    assert optimised <= planned * 1.02 < driven
    saved_km_per_shift = driven - optimised
    shifts = len(np.flatnonzero(fleet.history.shifts.route == 2))
    assert result.kpi("km")["delta"] == pytest.approx(-saved_km_per_shift * shifts, rel=1e-6)
    assert result.tables[0].rows[2][2] <= result.tables[0].rows[2][1]  # no more U-turns than driven
    plans = fleet.history.plans
    sequence = [row[1] for row in result.tables[1].rows]
    assert sorted(sequence) == sorted(plans.stop_ids[plans.stops_of(2)])  # every stop exactly once


def test_a_lower_limit_at_the_hotspots_cuts_the_expected_events(base_config):
    cfg = with_changes(base_config, days=42)
    fleet = generate(cfg)
    ids = [str(fleet.history.network.segment_ids[i]) for i in fleet.hotspots]
    limit_kmh = 30.0
    result = calm(fleet.history, ids, limit_kmh, OPTIONS)
    # Nobody's top speed (1.15 × mean in the generator) exceeds the limit in the calmed world.
    world = generate(with_changes(cfg, hotspot_speed_cap_mps=limit_kmh / 3.6 / 1.15))
    true_events = expected_events_at(world, fleet.hotspots) - expected_events_at(fleet, fleet.hotspots)
    assert_found(result.kpi("hotspot_events"), true_events, slack=0.1 * abs(true_events))
    true_hours = (totals(world) - totals(fleet))[K["truck_hours"]]
    assert result.kpi("truck_hours")["delta"] == pytest.approx(true_hours, rel=0.2)


def test_the_same_seed_gives_the_same_answer_and_another_seed_another_interval(base_fleet):
    a = shift_start(base_fleet.history, 30, OPTIONS).to_dict()
    b = shift_start(base_fleet.history, 30, OPTIONS).to_dict()
    c = shift_start(base_fleet.history, 30, Options(replicates=200, seed=7)).to_dict()
    assert a == b
    assert a["kpis"][0]["delta"] == c["kpis"][0]["delta"]
    assert a["kpis"][0]["delta_lo"] != c["kpis"][0]["delta_lo"]


def test_every_answer_states_inputs_assumptions_factors_and_uncertainty(base_fleet):
    x, y = base_fleet.node_xy(10, 0)
    results = [
        shift_start(base_fleet.history, 15, OPTIONS),
        move_facility(base_fleet.history, "depot-1", x, y, OPTIONS),
        rebalance(base_fleet.history, OPTIONS, max_moves=3),
    ]
    for result in results:
        d = result.to_dict()
        assert d["inputs"] and len(d["assumptions"]) >= 5
        assert d["factors"]["co2_kg_per_l"] == 2.68
        assert d["uncertainty"]["replicates"] == 200
        assert {k["name"] for k in d["kpis"]} >= {
            "truck_hours",
            "km",
            "deadhead_km",
            "overtime_hours",
            "hotspot_events",
            "fuel_l",
            "co2_kg",
        }
        assert all(k["delta_lo"] <= k["delta"] + 1e-9 or not k["modelled"] for k in d["kpis"])
        assert d["charts"][0]["data"][0]["type"] == "bar"


def test_unknown_inputs_are_refused(base_fleet):
    with pytest.raises(ValueError, match="unknown facility"):
        move_facility(base_fleet.history, "nowhere", 0, 0)
    with pytest.raises(ValueError, match="unknown route"):
        shift_start(base_fleet.history, 10, routes=["route-99"])
    with pytest.raises(ValueError, match="positive"):
        change_frequency(base_fleet.history, shapely.box(0, 0, 1, 1), 0)
    with pytest.raises(ValueError, match="compliance"):
        calm(base_fleet.history, ["seg-1"], 30, compliance=2)


def test_a_scenario_about_too_few_crews_is_refused(base_fleet):
    strict = Options(replicates=50, privacy=Privacy(k_shifts=5, k_people=4))  # each route has 3 people
    with pytest.raises(ValueError, match="individuals"):
        shift_start(base_fleet.history, 30, strict, routes=["route-01"])
    with pytest.raises(ValueError, match="individuals"):
        resequence(base_fleet.history, "route-01", strict)
    assert shift_start(base_fleet.history, 30, strict).kpi("truck_hours")["modelled"]  # the fleet is fine
