"""Flap detection counts bursts, not raw edges: a bouncy reed switch in normal use never
trips it; a loose wire chattering, or a level toggling many times in the window, does.

The sensors here are the site's defaults for a door (``config/site.py``: debounce
0.05 s, flap_limit 20 within flap_window_s 10 s, quarantine 300 s) unless a test says
otherwise; times come from a manual clock (the edges' own stamps)."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from severed.config.model import SensorSpec
from severed.hardware.conditioning import Conditioner

DOOR = SensorSpec("door", "door", 17)  # the model's defaults are the door's


def bounce(t0, final, edges=21, span_s=0.005, rng=None):
    """A reed switch settling on ``final``: ``edges`` raw changes within ``span_s``
    (random gaps), the last one at ``final``."""
    rng = rng or random.Random(0)
    gaps = sorted(rng.uniform(0.0, span_s) for _ in range(edges - 1))
    times = [t0] + [t0 + g for g in gaps]
    levels = [final if (edges - 1 - i) % 2 == 0 else 1 - final for i in range(edges)]
    return [(t, "door", level) for t, level in zip(times, levels)]


def play(cond, edges, until):
    out = []
    for t, name, level in edges:
        out += cond.edge(t, name, level)
    return out + cond.poll(until)


def max_raw_changes_in_window(edges, window_s):
    times = [t for t, _, _ in edges]
    j, best = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window_s:
            j += 1
        best = max(best, i - j + 1)
    return best


def visits(period_s, open_s, count, edges_per_bounce=21, seed=1):
    """A visitor every ``period_s``: the door closes at the start and opens ``open_s``
    later, each time bouncing ``edges_per_bounce`` raw edges within 5 ms."""
    rng = random.Random(seed)
    out = []
    for k in range(count):
        t = 10.0 + k * period_s
        out += bounce(t, 1, edges_per_bounce, rng=rng)
        out += bounce(t + open_s, 0, edges_per_bounce, rng=rng)
    return out


def test_defaults_are_the_doors():
    assert (DOOR.debounce_s, DOOR.flap_limit, DOOR.flap_window_s) == (0.05, 20, 10.0)


def test_a_visitor_every_10_s_with_20_edge_bounces_never_quarantines_the_door():
    edges = visits(period_s=10.0, open_s=5.0, count=60)  # ten minutes
    # Counted raw, this is 42 changes in every 10 s: over the limit of 20 at the first
    # closing (21 raw changes). Counted in bursts it is 2 to 3.
    assert max_raw_changes_in_window(edges, DOOR.flap_window_s) >= 42
    cond = Conditioner([DOOR], 0.0)
    out = play(cond, edges, 700.0)
    assert [e.type for e in out if e.type.endswith((".fault", ".recovered"))] == []
    types = [e.type for e in out]
    assert types == ["door.closed", "door.open"] * 60
    # Each event is the last bounce + debounce: exactly when it could be known.
    closes = [e.t for e in out if e.type == "door.closed"]
    last_close_edges = [edges[i * 42 + 20][0] for i in range(60)]
    assert max(abs(c - (e + 0.05)) for c, e in zip(closes, last_close_edges)) < 1e-9


def test_a_door_slammed_every_second_for_a_minute_is_still_normal_use():
    # Faster than any elevator: shut and opened every second, 0.5 s apart, 21-edge
    # bounces each time: 20 counted changes in every 10 s window, the limit itself.
    cond = Conditioner([DOOR], 0.0)
    out = play(cond, visits(period_s=1.0, open_s=0.5, count=60), 80.0)
    assert [e.type for e in out if e.type.endswith(".fault")] == []
    assert len(out) == 120


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(1.0, 30.0), st.integers(2, 40), st.floats(0.0, 0.045)),
                min_size=1, max_size=40),
       st.integers(0, 2**16))
def test_bursts_a_second_apart_never_trip_the_default_rule(bursts, seed):
    """Any bounce (2 to 40 raw edges within 45 ms, under the debounce) every 1 s or
    more: at most 10 counted changes in a 10 s window, never a fault."""
    rng = random.Random(seed)
    cond = Conditioner([DOOR], 0.0)
    t, level, out = 0.0, 0, []
    for gap, edges, span in bursts:
        t += gap
        level = 1 - level
        burst = bounce(t, level, edges if edges % 2 else edges + 1, span_s=span, rng=rng)
        out += play(cond, burst, t + span)
        t += span
    out += cond.poll(t + 400.0)
    assert not [e for e in out if e.type.endswith(".fault")]
    assert cond.states()["door"] == ("active" if level else "inactive")


def test_a_loose_wire_chattering_is_quarantined_within_about_a_second():
    rng = random.Random(7)
    cond = Conditioner([DOOR], 0.0)
    # Raw changes 1 to 20 ms apart for 3 s: never stable for the debounce, so no state
    # events; counted once per 0.05 s, the 21st count comes after about 1 s.
    t, level, edges = 5.0, 0, []
    while t < 8.0:
        level = 1 - level
        edges.append((t, "door", level))
        t += rng.uniform(0.001, 0.02)
    out = play(cond, edges, 9.0)
    faults = [e for e in out if e.type == "door.fault"]
    assert [e.data["reason"] for e in faults] == ["flapping"]
    assert 5.0 + 20 * 0.05 <= faults[0].t <= 5.0 + 20 * (0.05 + 0.02)
    assert [e for e in out if e.type in ("door.closed", "door.open")] == []
    assert cond.states() == {"door": "quarantined"}


def test_stable_toggling_three_times_a_second_is_quarantined():
    cond = Conditioner([DOOR], 0.0)
    edges = [(10.0 + i / 3, "door", (i + 1) % 2) for i in range(40)]
    out = play(cond, edges, 30.0)
    fault = [e for e in out if e.type == "door.fault"]
    # The 21st change within 10 s is the fault: 20 / 3 s after the first.
    assert len(fault) == 1 and abs(fault[0].t - (10.0 + 20 / 3)) < 1e-9
    assert [e.type for e in out].index("door.fault") == 20  # 20 state events before it


def test_a_minute_long_window_catches_toggling_every_two_seconds():
    """flap_window_s = 60 (a site that wants slow toggling caught): thirty changes a
    minute trip it, a visitor every 10 s with bounces (12 changes a minute) does not."""
    door = SensorSpec("door", "door", 17, flap_window_s=60.0)
    cond = Conditioner([door], 0.0)
    out = play(cond, [(10.0 + 2.0 * i, "door", (i + 1) % 2) for i in range(30)], 80.0)
    fault = [e for e in out if e.type == "door.fault"]
    assert len(fault) == 1 and abs(fault[0].t - 50.0) < 1e-9  # the 21st change
    cond = Conditioner([door], 0.0)
    out = play(cond, visits(period_s=10.0, open_s=5.0, count=60), 700.0)
    assert [e for e in out if e.type.endswith(".fault")] == []
    assert len(out) == 120


def test_zero_debounce_counts_every_raw_change():
    door = SensorSpec("door", "door", 17, debounce_s=0.0, flap_limit=5)
    cond = Conditioner([door], 0.0)
    out = play(cond, bounce(1.0, 1, edges=7), 2.0)
    assert [e.type for e in out][-1] == "door.fault"


def _site_button():
    from severed.config.site import load_site_text

    site = load_site_text('[site]\nname = "b"\n[sensors.reward]\nkind = "button"\npin = 23\n',
                          "site.toml")
    return site.sensors[0]


def test_a_mashed_button_is_play_and_a_chattering_one_a_fault():
    button = _site_button()
    assert (button.debounce_s, button.flap_limit) == (0.02, 150)
    # Five presses a second for a minute, each press and release bouncing 5 edges.
    cond = Conditioner([button], 0.0)
    rng = random.Random(2)
    edges = []
    for k in range(300):
        t = 1.0 + k * 0.2
        for start, final in ((t, 1), (t + 0.08, 0)):
            edges += [(e_t, "reward", lvl) for e_t, _, lvl in
                      bounce(start, final, edges=5, span_s=0.003, rng=rng)]
    events = play(cond, edges, 70.0)
    assert [e for e in events if e.type == "reward.fault"] == []
    assert sum(e.type == "reward.press" for e in events) == 300
    # A contact chattering every 5 ms from t = 1 s: counted once per debounce_s (50 a
    # second), so the 151st counted change, about 3 s in, is a fault.
    cond = Conditioner([button], 0.0)
    chatter = [(1.0 + k * 0.005, "reward", (k + 1) % 2) for k in range(2000)]
    (fault,) = [e for e in play(cond, chatter, 12.0) if e.type == "reward.fault"]
    assert 2.9 <= fault.t - 1.0 <= 3.2
