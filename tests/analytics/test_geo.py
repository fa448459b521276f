"""Distances and the local frame: hand-computable values, the antimeridian and the poles."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetpilot.analytics.geo import EARTH_RADIUS_M, LocalFrame, haversine_m, step_metres, wrap_degrees

ONE_DEGREE_M = EARTH_RADIUS_M * np.pi / 180  # 111 194.93 m


def test_one_degree_of_latitude_and_of_longitude_at_the_equator():
    assert haversine_m(0.0, 0.0, 0.0, 1.0) == pytest.approx(ONE_DEGREE_M, rel=1e-12)
    assert haversine_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(ONE_DEGREE_M, rel=1e-12)
    # At 60° a degree of longitude is half as long (along the parallel; the great circle is
    # a hair shorter, 1.4e-5 relative at this span).
    assert haversine_m(10.0, 60.0, 11.0, 60.0) == pytest.approx(ONE_DEGREE_M / 2, rel=1e-4)


def test_the_antimeridian_is_a_short_step_not_half_the_world():
    lon = np.array([179.9995, -179.9995])
    lat = np.array([0.0, 0.0])
    assert step_metres(lon, lat)[0] == pytest.approx(0.001 * ONE_DEGREE_M, rel=1e-6)
    assert haversine_m(179.9995, 0.0, -179.9995, 0.0) == pytest.approx(0.001 * ONE_DEGREE_M, rel=1e-6)


def test_across_the_pole_distance_is_twice_the_polar_distance():
    # Opposite meridians, 0.0005° from the pole each: the path goes over the pole.
    assert step_metres(np.array([0.0, 180.0]), np.array([89.9995, 89.9995]))[0] == pytest.approx(
        0.001 * ONE_DEGREE_M, rel=1e-6
    )
    # Points on the pole itself with different longitudes are the same point.
    assert step_metres(np.array([0.0, 123.0]), np.array([90.0, 90.0]))[0] == pytest.approx(0.0, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(st.floats(-180, 180), st.floats(-90, 90), st.floats(-180, 180), st.floats(-90, 90))
def test_unit_vector_distance_agrees_with_haversine(lon1, lat1, lon2, lat2):
    chord = step_metres(np.array([lon1, lon2]), np.array([lat1, lat2]))[0]
    assert chord == pytest.approx(float(haversine_m(lon1, lat1, lon2, lat2)), abs=1e-3, rel=1e-9)


@pytest.mark.parametrize(
    "lon0, lat0", [(-96.8, 32.8), (179.99, -17.0), (-180.0, 65.0), (15.6, 78.2), (0.0, 89.999), (0.0, -90.0)]
)
def test_local_frame_keeps_distances_and_round_trips(lon0, lat0):
    """Within 10 km of the centre, frame distances match the sphere to 1e-5 and the inverse
    returns the original position to a centimetre — at the antimeridian and the poles too."""
    frame = LocalFrame(lon0, lat0)
    rng = np.random.default_rng(7)
    x = rng.uniform(-7000, 7000, 300)
    y = rng.uniform(-7000, 7000, 300)
    lon, lat = frame.to_lonlat(x, y)
    assert np.all((lon >= -180) & (lon <= 180))
    x2, y2 = frame.to_xy(lon, lat)
    assert np.max(np.hypot(x2 - x, y2 - y)) < 0.01
    planar = np.hypot(np.diff(x), np.diff(y))
    sphere = haversine_m(lon[:-1], lat[:-1], lon[1:], lat[1:])
    assert np.max(np.abs(planar - sphere) / sphere) < 1e-5


def test_frame_around_data_straddling_the_antimeridian_is_centred_between_them():
    frame = LocalFrame.around(np.array([179.9, -179.9]), np.array([10.0, 10.0]))
    assert abs(wrap_degrees(frame.lon0 - 180.0)) < 1e-9
    assert frame.lat0 == pytest.approx(10.0, abs=1e-3)


def test_wrap_degrees():
    np.testing.assert_allclose(wrap_degrees(np.array([350.0, -350.0, 10.0, 530.0])), [-10.0, 10.0, 10.0, 170.0])
    assert abs(wrap_degrees(np.array([540.0]))[0]) == 180.0
    assert wrap_degrees(np.array([359.0], dtype=np.float32)).dtype == np.float32
