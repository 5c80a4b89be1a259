"""The lumon score's figures: what the show tests measure, printed (docs/lumon.md).

    .venv/bin/python benchmarks/lumon_score.py [ROW ...]

Rows follow the score's checklist: 1 the floor's registers and the motif, 2 the felt
piano and its statements, 3 the ding, 4 the desk and the chatter, 5 the barrier,
6 the bleed after the ride up, 7 the ride up, 8 the reward music in mono, 9 the ding
in the ride and the scenes' loudness at their layers' gains. Renders go through the
real render loop (``tests/shows/score.py``); run it from the checkout's root.
"""
import sys

import numpy as np

sys.path.insert(0, ".")
from tests.shows import score as S  # noqa: E402
from tests.shows.conftest import SR, render, step_sensor  # noqa: E402
from tests.shows.measure import (band_energy, dbfs, envelope, loudness_lufs, rms_dbfs,  # noqa: E402
                                 seg)


def p(name, v):
    print(f"{name:55s} {v}", flush=True)



which = sys.argv[1:] or [str(k) for k in range(1, 10)]
if "1" in which:
    innie = render(S.INNIE, 30.0, seed=6)
    p("1 innie energy share below 120 Hz", round(S.innie_low_share(innie), 3))
    x = seg(innie.audio, 4, 30)
    p("1 innie spectral centroid Hz", round(S.centroid_hz(x.mean(axis=1), power=True), 1))
    p("1 motif over rest 180-700 Hz dB", round(S.motif_prominence_db(), 2))
if "2" in which:
    for v in (0.3, 0.45, 0.7, 0.9):
        a = S.recipe_audio("felt_note", freq_hz=261.63, velocity=v, length_s=4.0)
        p(f"2 felt centroid first 0.2 s at vel {v}", round(S.centroid_hz(a[:int(0.2*SR)]), 1))
    a = S.recipe_audio("felt_note", freq_hz=261.63, velocity=0.7, length_s=4.0)
    p("2 decay -20 dB fundamental band s", S.decay_time_s(a, (200, 330)))
    p("2 decay -20 dB 1.5-6 kHz s", S.decay_time_s(a, (1500, 6000)))
    env = envelope(a, hop_s=0.01)
    p("2 last 50 ms level vs peak dB (a cut?)", round(20*np.log10(env[-5:].max()/env.max()),1))
    try:
        a = S.recipe_audio("felt_note", freq_hz=261.63, velocity=0.7, length_s=2.0, release_s=0.6)
        env = 20*np.log10(envelope(a, hop_s=0.01))
        p("2 release: dB at +0.1 s, +0.3 s, end vs key-up", [round(float(env[k]-env[198]), 1) for k in (210, 230, len(env)-1)])
        b = S.recipe_audio("felt_note", freq_hz=261.63, velocity=0.7, length_s=2.0, release_s=0.6, damper=0.0)
        def brush(x):
            return band_energy(x[int(2.0 * SR):int(2.08 * SR)], 2000, 8000)
        p("2 damper brush: 2-8 kHz at key-up vs without dB",
          round(10 * np.log10(brush(a) / brush(b)), 1))
        c = S.recipe_audio("felt_note", freq_hz=261.63, velocity=0.7, length_s=2.0, hammer=0.0)
        def knock(x):
            return band_energy(x[:int(0.015 * SR)], 3000, 10000)
        p("2 hammer knock: 3-10 kHz first 15 ms vs without dB",
          round(10 * np.log10(knock(a) / knock(c)), 1))
    except Exception as e:  # an older felt_note (a checkout before the damper)
        p("2 release (a recipe without a damper)", repr(e))
    a1 = S.recipe_audio("felt_note", freq_hz=261.63, velocity=0.7, length_s=2.0, seed=1)
    a2 = S.recipe_audio("felt_note", freq_hz=261.63, velocity=0.7, length_s=2.0, seed=2)
    p("2 correlation of two takes (seeds)", round(S.max_correlation(a1, a2), 3))
    c, n = S.outie_statement_correlation()
    p(f"2 outie statements max correlation ({n} statements)", round(c, 3))
if "3" in which:
    b = S.recipe_audio("elevator_bell", freq_hz=1318.5, length_s=3.0)
    on, peak = S.strike_times(b)
    p("3 bell onset->peak s", round(peak, 3))
    p("3 bell decay dB/s, max deviation from exponential dB", [round(v, 1) for v in S.exponential_fit(b)])
    p("3 bell fundamental decay dB/s, max deviation dB", [round(v, 1) for v in S.exponential_fit(b, band=(1150, 1500))])
    p("3 bell partial ratios", [round(float(r), 3) for r in S.partial_ratios(b, 1318.5)])
if "4" in which:
    still = render(S.INNIE, 40.0, seed=6, disable=S.alone("innie", "desk"))
    p("4 desk bar-to-bar env correlation (rest)", round(S.bar_correlation(still.audio, 5, 40), 3))
    p("4 desk hits per bar (rest)", round(S.hits_per_bar(still.audio, 5, 40), 2))
    for name in ("stapler", "pen_click", "keyboard"):
        p(f"4 {name} take spread dB", round(S.take_spread_db(name), 2))
    p("4 chatter autocorr 3-40 s", round(S.chatter_repetition(), 3))
if "5" in which:
    r = S.storm()
    p("5 storm barrier firings in 90 s", S.barrier_firings(r))
    ex, dur = S.barrier_excess_lu()
    p("5 barrier LU over the scene it covers", round(ex, 2))
    p("5 barrier seconds on", round(dur, 1))
if "6" in which or "7" in which:
    ride = render(S.RIDE_UP, 100.0, seed=3)
    (back,) = ride.scene_times("outie")
    p("6/7 back outside at s", round(back, 2))
    for t in (10, 30, 45, 60, 80):
        x = seg(ride.audio, back + t, back + t + 10)
        p(f"6 at +{t}s hum prominence 100/200 Hz dB, clicks/10s",
          (round(S.mains_prominence_db(x, 100), 1), round(S.mains_prominence_db(x, 200), 1), S.click_count(x)))
    p("7 scenes", [(rec["t"], rec["to"]) for rec in ride.records if rec["type"] == "scene"])
    env = envelope(seg(ride.audio, back - 2, back + 1), hop_s=0.05)
    p("7 levels dB (50 ms) 2 s before outie..+1 s", [round(20*np.log10(e)) for e in env])
if "8" in which:
    r = render(step_sensor(1.0, "reward", 1) + step_sensor(1.3, "reward", 0), 52.0, seed=7)
    (t,) = r.scene_times("mde")
    x = seg(r.audio, t, t + 45)
    d = np.abs(x[:, 0] - x[:, 1])
    p("8 mde max |L-R| dBFS", round(dbfs(d.max()), 1))
    p("8 at s after entry", int(np.argmax(d)) / SR)
    p("8 mde max |L-R| from +2 s", round(dbfs(np.abs(np.diff(seg(r.audio, t+2, t+45), axis=1)).max()), 1))
if "6" in which:
    without = render(S.RIDE_UP, 100.0, seed=3, disable=tuple(f"outie.{n}" for n in ("innie_hum","innie_buzz","innie_clicks","ding") if f"outie.{n}" in S.layers_of("outie")))
    b = ride.audio - without.audio
    for t in (2, 20, 40, 60, 75):
        p(f"6 bleed rms dBFS at +{t}", round(rms_dbfs(seg(b, back+t, back+t+6)),1))
    p("6 outie rest rms dBFS", round(rms_dbfs(seg(without.audio, back+2, back+60)),1))
if "4" in which:
    still = render(S.INNIE, 40.0, seed=6, disable=S.alone("innie", "desk"))
    moving = render(S.INNIE + S.STORM, 60.0, seed=6,
                    disable=S.alone("innie", "desk") + S.BARRIER_LAYERS)
    a = S.bar_levels_db(still.audio, 5, 40)
    b = S.bar_levels_db(moving.audio, 40, 60)
    p("4 desk bar level std dB at rest", round(a.std(), 2))
    p("4 desk in a motion storm minus at rest dB", round(b.mean() - a.mean(), 2))
if "5" in which:
    try:
        x = S.recipe_audio("string_swell", freqs_hz=[2637.0, 2714.0, 2793.8, 2875.0], length_s=7.0, attack_s=2.0, release_s=2.5, vibrato_cents=20, bow_noise=0.12, glide_cents=70)
    except Exception:  # an older string_swell (a checkout before the glide)
        x = S.recipe_audio("string_swell", freqs_hz=[2637.0, 2714.0, 2793.8, 2875.0], length_s=7.0, attack_s=2.0, release_s=2.5, vibrato_cents=20, bow_noise=0.12)
    p("5 swell spectrum correlation early/late", round(S.band_spectrum_correlation(x[int(1.5*SR):int(2.5*SR)], x[int(4*SR):int(5*SR)]), 3))
    from tests.shows.conftest import step_cmd
    sc = step_cmd(0.01, "innie") + step_cmd(6.0, "barrier")
    r = render(sc, 10.5, seed=9)
    p("5 barrier 2-16 kHz rise dB (brief check)", round(10*np.log10(band_energy(seg(r.audio, 8.5, 10.5), 2000, 16000)/band_energy(seg(r.audio, 3, 5.5), 2000, 16000)), 2))
if "9" in which:
    from tests.shows.conftest import RIDE
    r = render(RIDE, 16.0, seed=4, disable=("innie.chip",))
    (closed,) = r.sensor_times("door", "closed")
    env = 20*np.log10(envelope(seg(r.audio, closed, closed + 1.0), band=(1200, 1450)))
    on = int(np.flatnonzero(env > env.max() - 30)[0])
    p("3 in the ride: ding level 20 ms after onset vs peak dB", round(env[on:on+5].max() - env.max(), 1))
    p("3 in the ride: onset->peak s", round((int(np.argmax(env)) - on) * 0.005, 3))
    innie = render(S.INNIE, 30.0, seed=6)
    outie = render("", 30.0, seed=5)
    p("levels: innie LUFS (layers' gains)", round(loudness_lufs(seg(innie.audio, 4, 30)), 1))
    p("levels: outie LUFS (layers' gains)", round(loudness_lufs(seg(outie.audio, 4, 30)), 1))
