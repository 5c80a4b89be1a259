"""The soak, short: about ten simulated minutes of busy exhibit life through the
render loop (benchmarks/soak.py runs the same for days), and checks that its checks
can fail."""

import io
import math

import numpy as np
import pytest


@pytest.fixture(scope="module")
def short_soak(soak):
    out = io.StringIO()
    run = soak.Soak(10 / 60, seed=5, out=out, start_hour=15.0, reload_every_s=200.0,
                    command_every_s=40.0, report_every_s=120.0, traffic=5.0)
    figures = run.run()
    return run, figures, out.getvalue()


def test_ten_minutes_without_a_failed_check(short_soak):
    run, f, text = short_soak
    assert f["error"] is None, f["error"]
    assert f["simulated_h"] == pytest.approx(10 / 60, abs=1e-3)
    assert f["nonfinite_blocks"] == 0
    assert f["over_ceiling_blocks"] == 0
    assert f["peak_dbfs"] <= -1.0 + 1e-5
    assert f["clicks"] == 0, f["click_examples"]
    assert f["log_problems"] == [], f["log_problems"]
    assert "PASS" in text


def test_the_short_soak_exercised_what_it_claims(short_soak):
    """Not a quiet run: scene changes, reloads, faults, commands and sound."""
    run, f, _ = short_soak
    counts = f["log_counts"]
    assert counts.get("scene", 0) >= 3, counts
    assert counts.get("reload", 0) >= 2, counts
    assert counts.get("fault", 0) >= 1, counts  # the flapping motion sensor
    assert counts.get("sensor", 0) >= 10, counts
    assert counts.get("scene:door.closed", 0) >= 2, counts  # rides down and up
    assert counts.get("command", 0) >= 5, counts
    assert f["peak_dbfs"] > -30.0
    # the show is audible most of the time at this traffic (idle fades to silence)
    assert f["silent_blocks"] < 0.5 * f["blocks"], (f["silent_blocks"], f["blocks"])


def test_checker_flags_a_click_a_nan_and_an_overshoot(soak):
    sr = 48000
    t = np.arange(6 * 2048) / sr
    x = (0.3 * np.sin(2 * np.pi * 220 * t))[:, None].repeat(2, 1).astype(np.float32)
    blocks = [x[i * 2048:(i + 1) * 2048].copy() for i in range(6)]
    c = soak.Checker()
    c.write(blocks[0])
    c.write(blocks[0])  # the phase jumps back at the boundary: a click across blocks
    c.write(blocks[1])
    blocks[2][1000, 0] += 0.05  # one bad sample, 0.05 (-26 dBFS) off
    c.write(blocks[2])
    blocks[3][5, 1] = np.nan
    c.write(blocks[3])
    c.write(blocks[4] * 3.0)  # after a non-finite block, no boundary check
    c.finish()
    assert c.click_count == 2, c.clicks
    assert c.clicks[0][0] == 1 and c.clicks[0][3] is True  # at the boundary
    assert c.clicks[1][0] == 3 and c.clicks[1][2] > soak.STEP_RATIO
    assert c.clicks[1][3] is False
    assert c.nonfinite == 1
    assert c.over_ceiling == 1


def test_checker_passes_continuous_blocks_and_deliberate_glitches(soak):
    sr = 48000
    t = np.arange(3 * 2048) / sr
    x = (0.3 * np.sin(2 * np.pi * 220 * t))[:, None].repeat(2, 1).astype(np.float32)
    acting = iter([False, True, False])
    c = soak.Checker(glitch_active=lambda: next(acting))
    c.write(x[:2048])
    pop = x[2048:4096].copy()
    pop[700] += 0.4  # a glitch pop, reported by the layer
    c.write(pop)
    c.write(x[4096:])
    c.finish()
    assert c.clicks == []
    assert c.glitch_blocks == 1
    assert c.ratio_max_clean < 2.0  # a clean sine: each step is about its neighbours


def test_checker_ignores_noise_bursts_and_short_ramps(soak):
    """Deliberate sounds with sharp edges are not clicks: white noise starting at
    full level, a 1 ms ramp to silence (a glitch cut's edge), a 3 kHz burst."""
    sr = 48000
    rng = np.random.default_rng(1)
    t = np.arange(4 * 2048) / sr
    x = (0.4 * np.sin(2 * np.pi * 55 * t))[:, None].repeat(2, 1).astype(np.float32)
    drone, burst, ramp, ring = (x[i * 2048:(i + 1) * 2048].copy() for i in range(4))
    c = soak.Checker()
    c.write(drone)
    burst[500:900] += rng.uniform(-0.3, 0.3, (400, 2)).astype(np.float32)
    c.write(burst)
    ramp[1000:1048] *= np.linspace(1, 0, 48, dtype=np.float32)[:, None]
    ramp[1048:] = 0.0
    c.write(ramp)
    ring[:] = 0.0
    tt = t[:500]
    ring[300:800] = (0.5 * np.sin(2 * np.pi * 3000 * tt) * np.exp(-tt * 400))[:, None]
    c.write(ring)
    c.finish()
    assert c.clicks == [], c.clicks


def test_log_checker_rejects_a_change_the_show_does_not_allow(soak, inputs):
    _, show = inputs
    log = soak.CheckingLog(show)
    log.write({"t": 0.0, "type": "start", "scene": "outie"})
    log.write({"t": 5.0, "type": "scene", "from": "outie", "to": "descent",
               "reason": "door.closed"})
    assert log.problems == []
    # descent -> arrival is a timer of 8.6 s: firing after 2 s is wrong
    log.write({"t": 7.0, "type": "scene", "from": "descent", "to": "arrival",
               "reason": "after 8.6 s"})
    # no transition outie -> innie on a door event; and "from" is not what played
    log.write({"t": 9.0, "type": "scene", "from": "outie", "to": "innie",
               "reason": "door.open"})
    assert len(log.problems) == 2, log.problems
    log.write({"t": 10.0, "type": "scene", "from": "innie", "to": "mde", "reason": "cmd.scene"})
    assert len(log.problems) == 2
    # a timer counts from its exact deadline, the record from the frame: one frame's slack
    log.write({"t": 54.99999, "type": "scene", "from": "mde", "to": "outie",
               "reason": "after 45 s"})
    assert len(log.problems) == 2
    log.write({"t": 100.0, "type": "scene", "from": "outie", "to": "idle",
               "reason": "after 300 s"})
    assert len(log.problems) == 3


def test_rss_slope_is_megabytes_per_hour(soak):
    assert soak.slope_per_hour([(1, 100.0), (2, 101.0), (3, 102.0)]) == pytest.approx(1.0)
    assert math.isnan(soak.slope_per_hour([(1, 100.0)]))


def test_growth_line_needs_an_hour_of_samples(soak):
    """A 1-hour run fitted its line to two samples (start and end) and printed
    "54.56 MiB/h": the first scenes played, not a leak. Samples come every 5 simulated
    minutes, and a line needs an hour of them after the first hour."""
    one_hour = [(i * soak.RSS_EVERY_S / 3600, 100.0 + i) for i in range(13)]
    slope, text = soak.growth(one_hour)
    assert math.isnan(slope) and "too few samples" in text and "1 after" in text
    two_hours = [(i * soak.RSS_EVERY_S / 3600, 150.0 + 0.5 * (i % 2))
                 for i in range(25)]
    slope, text = soak.growth(two_hours)
    assert abs(slope) < 0.5 and "13 samples" in text
