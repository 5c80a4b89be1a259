"""Invariants of conditioning over random edge storms (hypothesis)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from severed.config.model import SensorSpec
from severed.hardware.conditioning import Conditioner

specs = st.builds(
    lambda debounce, hold, merge, limit, window, quarantine, stuck, warmup: SensorSpec(
        "door", "door", 17, debounce_s=debounce, hold_s=hold, merge_s=merge,
        flap_limit=limit, flap_window_s=window, quarantine_s=quarantine,
        stuck_after_s=stuck, warmup_s=warmup),
    st.sampled_from([0.0, 0.01, 0.05, 0.2]), st.sampled_from([0.0, 0.5, 2.0]),
    st.sampled_from([0.0, 1.0, 3.0]), st.integers(2, 8), st.sampled_from([1.0, 4.0]),
    st.sampled_from([0.0, 2.0, 10.0]), st.sampled_from([0.0, 5.0]),
    st.sampled_from([0.0, 5.0]))

edges = st.lists(st.tuples(st.floats(0.001, 3.0), st.integers(0, 1)), max_size=80)


def simulate(spec, steps, initial, start, poll_every_s):
    cond = Conditioner([spec], start, initial_levels={"door": initial})
    events, t, next_poll = [], start, start
    for dt, level in steps:
        t += dt
        while poll_every_s is not None and next_poll < t:
            events += cond.poll(next_poll)
            next_poll += poll_every_s
        out = cond.edge(t, "door", level)
        assert all(e.t <= t for e in out)
        events += out
    events += cond.poll(t + 1000.0)
    return events, cond


@settings(max_examples=300, deadline=None)
@given(specs, edges, st.integers(0, 1))
def test_invariants(spec, steps, initial):
    start = 10.0
    events, cond = simulate(spec, steps, initial, start, poll_every_s=None)
    # The same events whether the caller polls often (live, each block) or never.
    polled, _ = simulate(spec, steps, initial, start, poll_every_s=0.043)
    assert [(round(e.t, 9), e.type) for e in polled] == [(round(e.t, 9), e.type)
                                                        for e in events]

    times = [e.t for e in events]
    assert times == sorted(times) and all(x >= start for x in times)
    quarantined = stuck = False
    active = False
    for e in events:
        kind = e.type.rsplit(".", 1)[1]
        if kind == "fault":
            if e.data["reason"] == "flapping":
                assert not quarantined
                quarantined = True
            else:
                assert not stuck and active
                stuck = True
        elif kind == "recovered":
            if e.data["reason"] == "flapping":
                assert quarantined
                quarantined = False
            else:
                assert stuck
                stuck = False
        else:
            assert not quarantined, "state event during quarantine"
            assert e.t >= start + spec.warmup_s
            assert (kind == "closed") != active, "state events must alternate"
            active = kind == "closed"
    # Long after the last edge, everything has settled to the last raw level.
    state = cond.states()["door"]
    if quarantined:
        assert state == "quarantined"
    else:
        last = steps[-1][1] if steps else initial
        assert state == ("stuck" if stuck else "active" if active else "inactive")
        assert active == bool(last) and not (stuck and spec.stuck_after_s == 0)
