"""``waiting_room``: the reward music. A cheerful loop (a bouncy major progression, a
bright melody, a walking bass) rendered, then sanitised into a 1994 dentist's waiting
room: mono, band-limited to ``low_hz``..``high_hz`` (a telephone-like 300 Hz-3.4 kHz by
default, sixth-order each side), with wow (slow speed wander) and flutter (fast)
of a tired cassette deck, and a soft saturation. The loop is a whole number of bars,
so it plays seamlessly as a ``sampler`` loop.
"""

import numpy as np

from severed.engine.dsp.oscillators import Oscillator
from severed.engine.dsp.saturation import soft_clip
from severed.instruments import offline
from severed.precompute.recipes import recipe

# I - vi - IV - V in C, one chord a bar: (root for the bass, chord tones) in semitones
# from middle C.
PROGRESSION = ((0, (0, 4, 7)), (-3, (-3, 0, 4)), (-7, (-7, -3, 0)), (-5, (-5, -1, 2)))
# A bright, aimless tune: (step in eighths, semitones from C5, length in eighths), per bar.
MELODY = (((0, 7, 2), (2, 4, 1), (3, 5, 1), (4, 7, 2), (6, 12, 2)),
          ((0, 9, 3), (3, 7, 1), (4, 4, 2), (6, 2, 2)),
          ((0, 5, 2), (2, 9, 2), (4, 12, 1), (5, 9, 1), (6, 7, 2)),
          ((0, 7, 2), (2, 11, 2), (4, 14, 3), (7, 11, 1)))
C4 = 261.63

DEFAULTS = {"bpm": 116.0, "bars": 8, "low_hz": 300.0, "high_hz": 3400.0,
            "wow_cents": 12.0, "flutter_cents": 4.0, "amplitude": 0.5, "seed": 21}


def _tone(freq_hz, n, sr, shape, rng):
    osc = Oscillator(sr, shape, voices=1, max_frames=n, phase=[rng.random()])
    buf = np.zeros((1, n), np.float32)
    osc.render(buf, n, freq_hz)
    return buf[0].astype(np.float64)


def _note(freq_hz, n, sr, shape, decay_s, rng):
    t = np.arange(n) / sr
    env = np.minimum(1.0, t / 0.008) * np.exp(-t / decay_s)
    env[-min(n, 200):] *= np.linspace(1, 0, min(n, 200))
    return _tone(freq_hz, n, sr, shape, rng) * env


@recipe("waiting_room", defaults=DEFAULTS, depends=(offline,),
        doc="cheerful reward music, sanitised: mono, band-limited, wow and flutter")
def waiting_room(params, sr):
    rng = np.random.default_rng(int(params["seed"]))
    bar_s = 4 * 60.0 / params["bpm"]
    eighth = bar_s / 8
    bars = max(1, int(params["bars"]))
    n_total = int(round(bars * bar_s * sr))
    out = np.zeros(n_total + sr)
    for b in range(bars):
        root, chord = PROGRESSION[b % 4]
        b0 = int(b * bar_s * sr)
        # Comping: chord stabs on the off-beats, organ-like square.
        for beat in range(4):
            at = b0 + int((beat + 0.5) * bar_s / 4 * sr)
            n = int(0.18 * sr)
            for s in chord:
                out[at:at + n] += 0.12 * _note(C4 * 2 ** (s / 12), n, sr, "square", 0.12, rng)
        # Walking bass: root and fifth, on the beats.
        for beat in range(4):
            at = b0 + int(beat * bar_s / 4 * sr)
            n = int(0.3 * sr)
            s = root + (7 if beat % 2 else 0) - 12
            out[at:at + n] += 0.4 * _note(C4 * 2 ** (s / 12), n, sr, "triangle", 0.25, rng)
        for step, s, length in MELODY[b % 4]:
            at = b0 + int(step * eighth * sr)
            n = int(length * eighth * sr)
            out[at:at + n] += 0.3 * _note(2 * C4 * 2 ** (s / 12), n, sr, "triangle", 0.5, rng)
    # Wrap the ringing past the end onto the start: the loop is seamless.
    out[:sr] += out[n_total:n_total + sr]
    out = out[:n_total]
    # The tired tape: the read position wanders (wow ~0.5 Hz, flutter ~7 Hz).
    t = np.arange(n_total) / sr
    cents = (params["wow_cents"] * np.sin(2 * np.pi * 0.5 * t)
             + params["flutter_cents"] * np.sin(2 * np.pi * 7.1 * t + 1.0))
    # Whole cycles of the wow over the loop keep it seamless: the offset returns to 0.
    speed = 2.0 ** (cents / 1200.0)
    pos = np.cumsum(speed) - speed[0]
    pos *= (n_total - 1) / pos[-1]
    out = np.interp(pos, np.arange(n_total), out)
    out = soft_clip(out.astype(np.float32) * 1.5, 1.5) / 1.5
    # Filter the loop as a loop: run the filters through its last second first, so
    # that its start is already in the filters' steady state (no step at the seam).
    lead = min(sr, n_total)
    x = np.concatenate([out[-lead:], out])
    for _ in range(3):  # sixth order each side: the band edges are the point
        x = offline.filtered(x, sr, "highpass", params["low_hz"])
        x = offline.filtered(x, sr, "lowpass", params["high_hz"])
    return offline.normalise(x[lead:], float(params["amplitude"]))[:, None]
