"""``felt_note``: a felt piano note, muted and soft: one key pressed, held, let go.

Additive synthesis of a stiff string: partial n sits at n f sqrt(1 + B n^2) (B, the
inharmonicity, grows as notes go up), played by two strings detuned by a fraction of
a cent (the slow beating of a real unison). What the ear hears as a piano:

- **velocity is timbre, not only level**: the felt between hammer and strings takes
  the upper partials away (a low-pass whose corner rises steeply with velocity, and a
  spectrum that tilts up as the hammer goes harder), so a soft note is dark and round
  and a harder one brighter;
- **the highs die first**: each partial decays in two stages (the quick "prompt"
  sound, then the long "aftersound"), and the higher the partial the faster both: a
  bright attack that mellows within a second into the fundamental;
- **hammer and damper**: a short knock of felt on string (noise through the string's
  resonance region, louder and brighter with velocity) and a low thump of the key
  bed at the strike; when the key is let go (``length_s``), the damper falls on the
  strings: every partial dies in a few hundred milliseconds (the highs faster) with
  the soft brush of the damper felt, instead of stopping dead;
- **no two takes alike**: ``seed`` moves the strings' detuning and phases, the level
  of each partial (a dB or so), the hammer's knock and the damper's brush, as
  striking the same key twice does.

``length_s`` is how long the key is held; the rendered note is ``release_s`` longer
(the damped tail). ``room_s`` > 0 adds a tail of the project's reverb (stereo); 0
leaves the note dry and mono for a scene's own reverb.
"""

import numpy as np

from severed.instruments import offline
from severed.precompute.recipes import recipe

DEFAULTS = {"freq_hz": 220.0, "length_s": 7.0, "velocity": 0.6, "brightness": 0.4,
            "amplitude": 0.5, "room_s": 0.0, "release_s": 0.6, "hammer": 1.0,
            "damper": 1.0, "seed": 1}

DAMPER_TAU_S = 0.09  # a damped fundamental's time constant (upper partials faster)


@recipe("felt_note", defaults=DEFAULTS, depends=(offline,),
        doc="a felt piano note: velocity-bright, highs dying first, hammer, damper release")
def felt_note(params, sample_rate):
    sr = sample_rate
    f0 = float(params["freq_hz"])
    hold = max(0.05, float(params["length_s"]))
    n_hold = int(hold * sr)
    n_frames = n_hold + max(1, int(float(params["release_s"]) * sr))
    rng = np.random.default_rng(int(params["seed"]))
    t = np.arange(n_frames) / sr
    vel = min(max(float(params["velocity"]), 0.05), 1.0)
    bright = float(params["brightness"])
    # Felt: the corner rises steeply with velocity (and the show's brightness), and
    # the spectrum tilts: a harder strike brings the upper partials up.
    corner_hz = 350.0 + 4200.0 * (0.3 + bright) * vel ** 1.6
    tilt = 1.9 - 1.1 * vel
    inharm = 0.00008 * (f0 / 110.0) ** 1.5
    tau_f0 = min(6.0, 2.4 * (220.0 / f0) ** 0.35)
    # After the key is let go: a damper envelope, the same for every partial's shape
    # (its time constant shrinks with the partial's frequency below).
    after = np.maximum(t - hold, 0.0)
    note = np.zeros(n_frames)
    for n in range(1, 40):
        fn = n * f0 * np.sqrt(1.0 + inharm * n * n)
        if fn > 0.45 * sr:
            break
        amp = (1.0 / n ** tilt) / (1.0 + (fn / corner_hz) ** 2)
        amp *= 10.0 ** (rng.normal(0.0, 1.0) / 20.0)  # this take's voicing of the key
        if amp < 3e-4:  # -70 dB under the fundamental: the felt has taken it
            continue
        # The highs die first: time constants fall with the partial's frequency.
        tau_long = tau_f0 / (1.0 + (fn / 700.0) ** 1.3)
        tau_prompt = 0.3 * tau_long
        tau_damp = DAMPER_TAU_S / (1.0 + fn / 1500.0)
        # Only as long as the partial is audible (80 dB down after 9.2 time constants).
        m = min(n_frames, int(9.2 * tau_long * sr))
        if m <= 0:
            continue
        tm = t[:m]
        env = 0.55 * np.exp(-tm / tau_prompt) + 0.45 * np.exp(-tm / tau_long)
        env *= np.exp(-after[:m] / tau_damp)
        detune = 2.0 ** (rng.uniform(0.1, 0.6) / 1200.0)
        phase = rng.uniform(0, 2 * np.pi, 2)
        string = (np.sin(2 * np.pi * fn * tm + phase[0])
                  + np.sin(2 * np.pi * fn * detune * tm + phase[1]))
        note[:m] += amp * env * string
    # The felt softens the strike: a 3-9 ms rise instead of a hammer's click.
    note *= offline.raised_attack(n_frames, sr, 0.009 - 0.006 * vel)
    peak = float(np.max(np.abs(note))) or 1.0
    # The hammer's knock: felt on steel, noise through the region of the string's
    # upper partials, a few milliseconds; harder and brighter with velocity.
    knock_n = min(n_frames, int(0.03 * sr))
    knock = rng.standard_normal(knock_n) * np.exp(-np.arange(knock_n) / ((0.004 - 0.002 * vel) * sr))
    knock = offline.filtered(knock, sr, "bandpass", min(6000.0, f0 * (6.0 + 10.0 * vel)), q=0.7)
    knock /= float(np.max(np.abs(knock))) or 1.0
    note[:knock_n] += float(params["hammer"]) * 0.5 * vel ** 1.5 * peak * knock
    # The key bottoming out: a dull thump, well under the tone.
    thump_n = min(n_frames, int(0.06 * sr))
    thump = rng.standard_normal(thump_n) * np.exp(-np.arange(thump_n) / (0.012 * sr))
    thump = offline.filtered(thump, sr, "lowpass", 150.0 + 200.0 * vel, q=0.9)
    thump /= float(np.max(np.abs(thump))) or 1.0
    note[:thump_n] += float(params["hammer"]) * 0.2 * vel * peak * thump
    # The damper: its felt brushing the strings as it falls, soft and short.
    if n_hold < n_frames:
        brush_n = min(n_frames - n_hold, int(0.08 * sr))
        k = np.arange(brush_n)
        brush = rng.standard_normal(brush_n) * (1.0 - np.exp(-k / (0.004 * sr))) \
            * np.exp(-k / (0.02 * sr))
        brush = offline.filtered(brush, sr, "bandpass", 900.0 + 500.0 * rng.random(), q=0.7)
        brush /= float(np.max(np.abs(brush))) or 1.0
        level = float(np.sqrt(np.mean(note[max(0, n_hold - 2400):n_hold] ** 2)))
        note[n_hold:n_hold + brush_n] += float(params["damper"]) * 0.3 * level * brush
    note = offline.normalise(note, float(params["amplitude"]))
    if params["room_s"] > 0.0:
        out = offline.reverb(note, sr, float(params["room_s"]), damping=0.55,
                             predelay_ms=25.0, mix=0.35)
        out = offline.normalise(out, float(params["amplitude"]))
    else:
        out = note[:, None]
    return offline.fade_tail(out, sr, 0.05)
