"""``felt_note``: a felt piano note, muted and soft, with a long natural decay.

Additive synthesis of a stiff string: partial n sits at n f sqrt(1 + B n^2) (B, the
inharmonicity, grows as notes go up), played by two strings detuned by a fraction of
a cent (the slow beating of a real unison). The felt between hammer and strings
removes the upper partials (a gentle low-pass whose corner rises with velocity) and
softens the attack; each partial decays in two stages (the quick "prompt" sound then
the long "aftersound"), upper partials faster. A dull thump of the hammer and a breath
of key noise sit under the attack. ``room_s`` > 0 adds a tail of the project's
reverb (stereo); 0 leaves the note dry and mono for a scene's own reverb.
"""

import numpy as np

from severed.instruments import offline
from severed.precompute.recipes import recipe

DEFAULTS = {"freq_hz": 220.0, "length_s": 7.0, "velocity": 0.6, "brightness": 0.4,
            "amplitude": 0.5, "room_s": 0.0, "seed": 1}


@recipe("felt_note", defaults=DEFAULTS, depends=(offline,),
        doc="a felt piano note: muted partials, soft attack, long two-stage decay")
def felt_note(params, sample_rate):
    sr = sample_rate
    f0 = float(params["freq_hz"])
    n_frames = max(1, int(params["length_s"] * sr))
    rng = np.random.default_rng(int(params["seed"]))
    t = np.arange(n_frames) / sr
    vel = min(max(float(params["velocity"]), 0.05), 1.0)
    # Felt: the corner rises with velocity and brightness (a harder strike is brighter).
    corner_hz = 600.0 + 2500.0 * float(params["brightness"]) * (0.4 + vel)
    inharm = 0.00008 * (f0 / 110.0) ** 1.5
    note = np.zeros(n_frames)
    for n in range(1, 40):
        fn = n * f0 * np.sqrt(1.0 + inharm * n * n)
        if fn > 0.45 * sr:
            break
        amp = (1.0 / n ** 1.3) / (1.0 + (fn / corner_hz) ** 2)
        if amp < 1e-3:  # -60 dB under the fundamental: the felt has taken it
            continue
        # Two-stage decay: prompt (short) then aftersound (long), shorter for high partials.
        tau_long = min(6.0, 2.2 * (220.0 / f0) ** 0.35) / (1.0 + fn / 3000.0)
        tau_prompt = 0.35 * tau_long
        # Only as long as the partial is audible (80 dB down after 9.2 time constants).
        m = min(n_frames, int(9.2 * tau_long * sr))
        tm = t[:m]
        env = 0.6 * np.exp(-tm / tau_prompt) + 0.4 * np.exp(-tm / tau_long)
        detune = 2.0 ** (rng.uniform(0.1, 0.5) / 1200.0)
        phase = rng.uniform(0, 2 * np.pi, 2)
        string = (np.sin(2 * np.pi * fn * tm + phase[0])
                  + np.sin(2 * np.pi * fn * detune * tm + phase[1]))
        note[:m] += amp * env * string
    # The felt softens the strike: a 6-12 ms rise instead of a hammer's click.
    note *= offline.raised_attack(n_frames, sr, 0.012 - 0.006 * vel)
    # Hammer thump and key noise: brief, dull, well under the tone.
    thump_n = min(n_frames, int(0.06 * sr))
    thump = rng.standard_normal(thump_n) * np.exp(-np.arange(thump_n) / (0.012 * sr))
    thump = offline.filtered(thump, sr, "lowpass", 180.0 + 200.0 * vel, q=0.9)
    note[:thump_n] += 0.25 * vel * thump / (np.max(np.abs(thump)) + 1e-9)
    note = offline.normalise(note, float(params["amplitude"]))
    if params["room_s"] > 0.0:
        out = offline.reverb(note, sr, float(params["room_s"]), damping=0.55,
                             predelay_ms=25.0, mix=0.35)
        out = offline.normalise(out, float(params["amplitude"]))
    else:
        out = note[:, None]
    return offline.fade_tail(out, sr, 0.3)
