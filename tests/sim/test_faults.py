"""Each GPS, connectivity and fault switch does what it says."""

from __future__ import annotations

import numpy as np
import orjson

from fleetsim.messages import Encoder
from fleetsim.offline import other_vehicle
from fleetsim.schedule import EVENTS, HOSTILE, HOSTILE_KINDS, OFFLINE, ONLINE, TELEMETRY


def _metres(lon1, lat1, lon2, lat2):
    k = 111_195.0
    return np.hypot((lon2 - lon1) * k * np.cos(np.radians(lat1)), (lat2 - lat1) * k)


def test_gps_noise_and_multipath_against_the_quiet_twin(quiet_run, noisy_run):
    """Same seed, realism on/off: the same trajectories, displaced by noise σ≈3 m and rare jumps."""
    q, n = quiet_run, noisy_run
    key_q = q.fixes["vehicle"].astype(np.int64) << 42 | q.fixes["t"]
    key_n = n.fixes["vehicle"].astype(np.int64) << 42 | n.fixes["t"]
    common, iq, inn = np.intersect1d(key_q, key_n, return_indices=True)
    assert len(common) > 0.9 * len(key_q)
    d = _metres(q.fixes["lon"][iq], q.fixes["lat"][iq], n.fixes["lon"][inn], n.fixes["lat"][inn])
    jumps = {(s["vehicle_id"], t) for s in n.truth["shifts"] for t in s["gps"]["multipath_fixes"]}
    vids = np.array(n.vehicle_ids)[n.fixes["vehicle"][inn]]
    is_jump = np.array([(v, t) in jumps for v, t in zip(vids, n.fixes["t"][inn])])
    assert 0 < is_jump.sum() < len(d) / 500
    rms = np.sqrt(np.mean(d[~is_jump] ** 2) / 2)  # per axis
    assert 2.0 < rms < 4.5
    assert np.all(d[is_jump] > 20 - 15) and np.all(d[is_jump] < 80 + 15)
    assert np.percentile(d[~is_jump], 99.9) < 20


def test_dropouts_leave_gaps(noisy_run, quiet_run):
    run = noisy_run
    total = 0
    for s in run.truth["shifts"]:
        i = run.vehicle_ids.index(s["vehicle_id"])
        t = run.fixes["t"][run.fixes["vehicle"] == i]
        for a, b in s["gps"]["dropouts"]:
            assert 5_000 <= b - a <= 60_000
            assert not np.any((t >= a) & (t < b))
            total += 1
        assert s["counts"]["fixes_sampled"] == len(t)
    assert total > 0
    assert all(not s["gps"]["dropouts"] for s in quiet_run.truth["shifts"])
    # Without dropouts every sampling instant of the shift has a fix.
    q = quiet_run.truth["shifts"][0]
    assert q["counts"]["fixes_published"] == (q["end"] - q["start"]) // 1000


def test_store_and_forward_replays_oldest_first_after_online(faulty_days):
    outages = overflows = 0
    for vd in faulty_days:
        s = vd.schedule
        for a, r, attempts in s.outages:
            outages += 1
            assert attempts >= 1 and r - a >= 60_000
            will = np.flatnonzero((s.kind == OFFLINE) & s.by_broker & (s.send == a))
            assert len(will) == 1  # the broker publishes the will when the link drops
            held = np.flatnonzero(((s.kind == TELEMETRY) | (s.kind == EVENTS)) & (s.gen >= a) & (s.gen < r))
            sent = held[s.send[held] >= 0]
            assert np.all(s.send[sent] == r)
            lost = held[s.send[held] < 0]
            if len(lost):  # a full buffer (40 messages in this scenario) loses the oldest
                overflows += 1
                assert len(sent) == 40
                assert s.gen[lost].max() <= s.gen[sent].min()
                assert vd.truth["counts"]["messages_lost_buffer"] >= len(lost)
            # publication order at r: online, then the backlog by sequence number, then live data
            at_r = [row for row in s.order.tolist() if s.send[row] == r]
            assert s.kind[at_r[0]] == ONLINE
            backlog = [row for row in at_r if s.gen[row] < r]
            assert backlog == sorted(backlog, key=lambda row: s.seq[row])
            assert at_r[1 : 1 + len(backlog)] == backlog
    assert outages >= 5 and overflows >= 1


def test_sequence_numbers_count_every_generated_message(faulty_days):
    by_vehicle: dict[int, list] = {}
    for vd in faulty_days:
        s = vd.schedule
        regular = s.kind != HOSTILE
        by_vehicle.setdefault(vd.result.shift.vehicle, []).append(s.seq[regular])
        assert np.all(s.seq[~regular] == -1)
        # each connect reserves the will's number right before `online`
        for c in s.connects:
            will = s.seq[(s.kind == OFFLINE) & (s.gen == c)]
            online = s.seq[(s.kind == ONLINE) & (s.gen == c)]
            assert online[0] == will[0] + 1
    for seqs in by_vehicle.values():
        allseq = np.sort(np.concatenate(seqs))
        np.testing.assert_array_equal(allseq, np.arange(1, len(allseq) + 1))


def test_duplicates_clock_skew_and_counts(faulty_scenario, faulty_days):
    sc = faulty_scenario
    dups = 0
    for vd in faulty_days:
        enc = Encoder(vd.result, vd.schedule, sc.config.city, other_vehicle(sc, vd.result.shift.vehicle), 5)
        pubs = list(enc.publications())
        skew = vd.schedule.skew_ms
        assert abs(skew) <= 3000
        for prev, pub in zip(pubs, pubs[1:]):
            if prev.row == pub.row:
                assert prev.payload == pub.payload
                dups += 1
        for pub in pubs:
            kind = vd.schedule.kind[pub.row]
            if kind in (TELEMETRY, EVENTS):
                assert orjson.loads(pub.payload)["sent"] == pub.send_ms + skew
        c = vd.truth["counts"]
        assert c["duplicate_publishes"] == sum(1 for p, q in zip(pubs, pubs[1:]) if p.row == q.row)
        n_status = sum(1 for p in pubs if p.topic.endswith("/status"))
        assert c["status_messages"] == n_status
        assert c["hostile"] == {
            k: sum(
                1
                for p in pubs
                if vd.schedule.kind[p.row] == HOSTILE and HOSTILE_KINDS[vd.schedule.hostile_kind[p.row]] == k
            )
            for k in HOSTILE_KINDS
        }
    assert dups > 0


def test_leaking_units_publish_outside_the_shift_and_flag_the_break(faulty_days):
    leakers = 0
    for vd in faulty_days:
        sh, f, _e = vd.result.shift, vd.result.fixes, vd.result.events
        outside = (f["t"] < sh.start_ms) | (f["t"] >= sh.end_ms)
        c = vd.truth["counts"]
        if vd.result.leaking:
            leakers += 1
            assert outside.sum() > 0 and c["fixes_offduty"] > 0 and c["events_offduty"] > 0
            assert np.all(np.abs(f["t"][outside] - np.clip(f["t"][outside], sh.start_ms, sh.end_ms)) <= 30_000)
            for b in vd.truth["breaks"]:
                sel = (f["t"] >= b["t_start"]) & (f["t"] < b["t_end"])
                assert np.all(f["priv"][sel]) and sel.sum() > 0
            assert c["fixes_private"] == int(f["priv"][np.isin(np.arange(len(f["t"])), _published(vd))].sum())
            assert c["fixes_expected_stored"] == c["fixes_published"] - c["fixes_offduty"] - c["fixes_private"]
        else:
            assert outside.sum() == 0 and not f["priv"].any() and c["fixes_private"] == c["fixes_offduty"] == 0
    assert 0 < leakers < len({vd.result.shift.vehicle for vd in faulty_days})


def _published(vd):
    s = vd.schedule
    rows = np.flatnonzero((s.kind == TELEMETRY) & (s.send >= 0))
    return np.concatenate([np.arange(s.lo[r], s.hi[r]) for r in rows])


def test_private_messages_carry_the_flag(faulty_scenario, faulty_days):
    sc = faulty_scenario
    flagged = 0
    for vd in faulty_days:
        enc = Encoder(vd.result, vd.schedule, sc.config.city, other_vehicle(sc, vd.result.shift.vehicle), 5)
        for pub in enc.publications():
            if vd.schedule.kind[pub.row] == TELEMETRY:
                body = orjson.loads(pub.payload)
                priv = [vd.result.fixes["priv"][i] for i in range(vd.schedule.lo[pub.row], vd.schedule.hi[pub.row])]
                assert all(priv) if body.get("priv") else not any(priv)
                flagged += bool(body.get("priv"))
    assert flagged > 0
