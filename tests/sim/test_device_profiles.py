"""fleetsim --device-profile: what trackers and phones report, deterministic by seed (issue 17, item 6)."""

import argparse

import numpy as np
import pytest

from fleetsim.cli import add_fleet_options, config_from_args
from fleetsim.offline import generate_fleet

OPTIONS = {"n_vehicles": 2, "days": 1, "seed": 11, "start": "2026-11-20T06:00:00Z"}


@pytest.fixture(scope="module")
def runs():
    return {name: generate_fleet(device=name, **OPTIONS) for name in ("v1", "tracker", "phone")}


def test_v1_is_the_run_it_always_was(runs):
    plain = generate_fleet(**OPTIONS)
    for column in ("t", "lon", "lat", "speed", "heading", "hdop"):
        np.testing.assert_array_equal(runs["v1"].fixes[column], plain.fixes[column])


@pytest.mark.parametrize("name", ["tracker", "phone"])
def test_profiles_are_deterministic_by_seed(runs, name):
    again = generate_fleet(device=name, **OPTIONS)
    for column in ("t", "lon", "lat", "speed", "hdop"):
        np.testing.assert_array_equal(again.fixes[column], runs[name].fixes[column])
    other = generate_fleet(device=name, **{**OPTIONS, "seed": 12})
    assert not np.array_equal(other.fixes["lon"][:1000], runs[name].fixes["lon"][:1000])


def test_phone_reports_no_speed_5_to_50_m_every_1_to_5_s(runs):
    f = runs["phone"].fixes
    assert np.isnan(f["speed"]).all() and np.isnan(f["heading"]).all()
    accuracy = f["hdop"] * 5.0
    assert accuracy.min() >= 5.0 - 1e-3 and accuracy.max() <= 50.0 + 1e-3
    assert np.percentile(accuracy, 99) > 20  # bad spells do occur
    same = f["vehicle"][1:] == f["vehicle"][:-1]
    dt = np.diff(f["t"])[same] / 1000
    assert set(np.unique(dt[dt <= 5]).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_tracker_reports_speed_only_while_moving_and_not_always(runs):
    f, v1 = runs["tracker"].fixes, runs["v1"].fixes
    reported = ~np.isnan(f["speed"])
    assert 0.05 < reported.mean() < 0.5
    assert np.all(f["speed"][reported] > 0.5)  # a stationary tracker reports nothing
    accuracy = f["hdop"] * 5.0
    assert accuracy.min() >= 5.0 - 1e-3 and accuracy.max() <= 15.0 + 1e-3
    assert 0.7 < len(f["t"]) / len(v1["t"]) < 0.9  # a fifth of the seconds skipped


def test_cli_option_reaches_the_config():
    parser = argparse.ArgumentParser()
    add_fleet_options(parser)
    assert config_from_args(parser.parse_args(["--device-profile", "phone"])).device == "phone"
    assert config_from_args(parser.parse_args([])).device == "v1"
    with pytest.raises(SystemExit):
        parser.parse_args(["--device-profile", "pager"])
