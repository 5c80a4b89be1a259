"""``elevator_bell``: the ding. A struck metal bar: inharmonic partials (the free bar's
ratios 1 : 2.756 : 5.404 : 8.933), each a close pair a few tenths of a hertz apart so
that the tone beats slowly as it dies, higher partials dying faster; a short bright
strike of the mallet at the start. It is a strike, not a swell: the pairs start in
phase (the beat is at its loudest at the strike, then drifts apart), so the ding is at
its peak within a few milliseconds of its onset and then decays exponentially. ``strikes`` 2 plays a second, lower strike
``gap_s`` later at ``second_ratio`` times the pitch (the two-tone chime of some lifts).
"""

import numpy as np

from severed.instruments import offline
from severed.precompute.recipes import recipe

RATIOS = (1.0, 2.756, 5.404, 8.933)
LEVELS = (1.0, 0.45, 0.22, 0.1)
DECAYS_S = (1.6, 0.7, 0.35, 0.18)  # at 880 Hz; scaled by (880 / f) ** 0.5

DEFAULTS = {"freq_hz": 880.0, "length_s": 4.0, "amplitude": 0.5, "strikes": 1,
            "gap_s": 0.45, "second_ratio": 0.8, "seed": 3}


def _strike(f0, n_frames, sr, rng):
    t = np.arange(n_frames) / sr
    out = np.zeros(n_frames)
    scale = (880.0 / f0) ** 0.5
    for ratio, level, decay in zip(RATIOS, LEVELS, DECAYS_S):
        f = f0 * ratio
        if f > 0.45 * sr:
            continue
        beat_hz = rng.uniform(0.4, 1.6)
        ph = rng.uniform(0, 2 * np.pi)
        # In phase at the strike; the weaker twin's beat only ripples the decay.
        pair = np.sin(2 * np.pi * f * t + ph) + 0.2 * np.sin(2 * np.pi * (f + beat_hz) * t + ph)
        out += level * np.exp(-t / (decay * scale)) * pair
    out *= offline.raised_attack(n_frames, sr, 0.001)
    tick_n = min(n_frames, int(0.01 * sr))
    tick = rng.standard_normal(tick_n) * np.exp(-np.arange(tick_n) / (0.0015 * sr))
    out[:tick_n] += 0.3 * offline.filtered(tick, sr, "highpass", 2500.0)
    return out


@recipe("elevator_bell", defaults=DEFAULTS, depends=(offline,),
        doc="an elevator ding: a struck bar's inharmonic partials, slowly beating")
def elevator_bell(params, sample_rate):
    sr = sample_rate
    rng = np.random.default_rng(int(params["seed"]))
    n = max(1, int(params["length_s"] * sr))
    out = _strike(float(params["freq_hz"]), n, sr, rng)
    if int(params["strikes"]) >= 2:
        at = min(n - 1, int(params["gap_s"] * sr))
        second = _strike(float(params["freq_hz"]) * float(params["second_ratio"]), n - at, sr, rng)
        out[at:] += 0.9 * second
    out = offline.normalise(out, float(params["amplitude"]))
    return offline.fade_tail(out[:, None], sr, 0.2)
