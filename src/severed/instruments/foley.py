"""Found-sound one-shots of an office, synthesised: ``stapler``, ``pen_click``,
``keyboard`` (one key) and ``chatter`` (muffled voices through a wall).

Each is built from noise bursts shaped by the project's filters and the modes of the
body that is struck (several damped, inharmonic resonances: the stapler's steel, the
pen's barrel, the keyboard's plate). A ``seed`` gives a different take of the same
sound: the modes move, the timings and the balance between the parts change, as no
two presses of a stapler are alike. ``amplitude`` is the peak. All mono.
"""

import numpy as np

from severed.engine.dsp.oscillators import Oscillator
from severed.instruments import offline
from severed.precompute.recipes import recipe


def _burst(rng, sr, length_s, tau_s):
    n = max(1, int(length_s * sr))
    return rng.standard_normal(n) * np.exp(-np.arange(n) / (tau_s * sr))


def _ring(sr, freq_hz, length_s, tau_s, phase=0.0):
    t = np.arange(max(1, int(length_s * sr))) / sr
    return np.sin(2 * np.pi * freq_hz * t + phase) * np.exp(-t / tau_s)


def _place(out, at, x):
    end = min(len(out), at + len(x))
    out[at:end] += x[:end - at]


def _modes(rng, sr, freqs_hz, levels, taus_s, length_s, spread=0.12):
    """A struck body: damped sines at ``freqs_hz`` (each moved by up to ``spread`` of
    itself for this take), random phases."""
    out = np.zeros(max(1, int(length_s * sr)))
    for f, a, tau in zip(freqs_hz, levels, taus_s):
        f *= 1.0 + rng.uniform(-spread, spread)
        out += a * rng.uniform(0.6, 1.0) * _ring(sr, f, length_s, tau * rng.uniform(0.7, 1.3),
                                                 rng.uniform(0, 2 * np.pi))
    return out


@recipe("stapler", defaults={"amplitude": 0.6, "seed": 11}, depends=(offline,),
        doc="a desk stapler: the thunk of the arm, the snap of the staple, the ringing metal")
def stapler(params, sr):
    rng = np.random.default_rng(int(params["seed"]))
    out = np.zeros(int(0.3 * sr))
    # The arm coming down on the desk: a dull thunk and the body's low modes.
    thunk = offline.filtered(_burst(rng, sr, 0.08, 0.015), sr, "bandpass",
                             170.0 * rng.uniform(0.8, 1.25), q=1.5)
    _place(out, 0, 3.0 * thunk)
    _place(out, 0, _modes(rng, sr, (190.0, 410.0, 655.0), (0.5, 0.25, 0.12),
                          (0.02, 0.012, 0.008), 0.12, spread=0.15))
    # The staple going through and folding: a bright snap, then the steel ringing
    # (inharmonic, as a small bent bar rings), at a moment that varies with the press.
    at = int(rng.uniform(0.016, 0.03) * sr)
    snap = offline.filtered(_burst(rng, sr, 0.02, 0.002), sr, "bandpass",
                            3600.0 * rng.uniform(0.8, 1.25), q=2.0)
    _place(out, at, 2.5 * snap)
    _place(out, at + int(0.002 * sr),
           0.15 * _modes(rng, sr, (2250.0, 3870.0, 5310.0, 6950.0), (1.0, 0.6, 0.4, 0.25),
                         (0.035, 0.025, 0.018, 0.012), 0.15, spread=0.15))
    # Sometimes the arm springs back with a second, lighter knock.
    if rng.random() < 0.5:
        _place(out, int(rng.uniform(0.09, 0.14) * sr),
               0.4 * offline.filtered(_burst(rng, sr, 0.03, 0.004), sr, "bandpass",
                                      900.0 * rng.uniform(0.8, 1.3), q=1.2))
    return offline.fade_tail(offline.normalise(out, params["amplitude"])[:, None], sr, 0.02)


@recipe("pen_click", defaults={"amplitude": 0.6, "seed": 12, "gap_s": 0.035},
        depends=(offline,),
        doc="a retractable pen: two short plastic clicks (press and release)")
def pen_click(params, sr):
    rng = np.random.default_rng(int(params["seed"]))
    gap = float(params["gap_s"]) * rng.uniform(0.7, 1.4)
    out = np.zeros(int(0.12 * sr) + int(gap * sr))
    # The barrel's plastic modes, the same for both clicks of one pen.
    body = [f * rng.uniform(0.85, 1.15) for f in (1850.0, 3100.0, 4700.0)]
    for k, at in enumerate((0, int(gap * sr))):
        click = offline.filtered(_burst(rng, sr, 0.012, 0.0012), sr, "bandpass",
                                 (5200.0 - 1400.0 * k) * rng.uniform(0.85, 1.15), q=1.8)
        _place(out, at, (1.0 - 0.35 * k) * rng.uniform(0.8, 1.0) * click)
        _place(out, at, 0.2 * _modes(rng, sr, body, (1.0, 0.6, 0.35), (0.004, 0.003, 0.002),
                                     0.03, spread=0.03))
    return offline.fade_tail(offline.normalise(out, params["amplitude"])[:, None], sr, 0.01)


@recipe("keyboard", defaults={"amplitude": 0.5, "seed": 13}, depends=(offline,),
        doc="one key of an office keyboard: the press, the bottoming-out thock, the return")
def keyboard(params, sr):
    rng = np.random.default_rng(int(params["seed"]))
    out = np.zeros(int(0.15 * sr))
    tone = rng.uniform(1000.0, 2000.0)
    press = offline.filtered(_burst(rng, sr, 0.02, 0.003), sr, "bandpass", tone, q=1.2)
    _place(out, 0, press)
    # The key bottoming out on the plate: a thock and the plate's modes (each key
    # sits somewhere else on the plate, so they ring differently).
    at = int(rng.uniform(0.006, 0.012) * sr)
    thock = offline.filtered(_burst(rng, sr, 0.04, 0.006), sr, "bandpass",
                             420.0 * rng.uniform(0.75, 1.3), q=1.4)
    _place(out, at, 1.6 * thock)
    _place(out, at, 0.25 * _modes(rng, sr, (780.0, 1330.0, 2140.0), (1.0, 0.7, 0.4),
                                  (0.012, 0.008, 0.005), 0.05, spread=0.2))
    ret = offline.filtered(_burst(rng, sr, 0.015, 0.002), sr, "bandpass", tone * 1.3, q=1.5)
    _place(out, int(rng.uniform(0.06, 0.09) * sr), rng.uniform(0.2, 0.5) * ret)
    return offline.fade_tail(offline.normalise(out, params["amplitude"])[:, None], sr, 0.01)


# Vowel formants (F1, F2) of a few vowels, in Hz: the babble moves between them.
VOWELS = ((730, 1090), (530, 1840), (270, 2290), (570, 840), (440, 1020), (300, 870))


@recipe("chatter", defaults={"length_s": 4.0, "voices": 3, "amplitude": 0.5,
                             "muffle_hz": 900.0, "seed": 14},
        depends=(offline,),
        doc="muffled office chatter: a few voices' syllables heard through a wall")
def chatter(params, sr):
    rng = np.random.default_rng(int(params["seed"]))
    n = max(offline.BLOCK, int(params["length_s"] * sr))
    blocks = -(-n // offline.BLOCK)
    out = np.zeros(n)
    for _ in range(max(1, int(params["voices"]))):
        pitch = rng.uniform(95.0, 230.0)
        # Glottal buzz: a saw whose pitch wanders like speech intonation.
        osc = Oscillator(sr, "saw", voices=1, max_frames=offline.BLOCK)
        buzz = np.zeros(blocks * offline.BLOCK, np.float32)
        tmp = np.zeros((1, offline.BLOCK), np.float32)
        contour = pitch * 2.0 ** (np.cumsum(rng.normal(0, 0.03, blocks)))
        for b in range(blocks):
            osc.render(tmp, offline.BLOCK, float(np.clip(contour[b], 70.0, 300.0)))
            buzz[b * offline.BLOCK:(b + 1) * offline.BLOCK] = tmp[0]
        buzz = buzz[:n]
        # Syllables: a vowel every 100-250 ms, the formants gliding between them.
        syl_blocks = rng.integers(1, 4, blocks)
        f1, f2 = [], []
        while len(f1) < blocks:
            v = VOWELS[rng.integers(len(VOWELS))]
            k = int(syl_blocks[len(f1)])
            f1 += [v[0]] * k
            f2 += [v[1]] * k
        voice = (offline.swept(buzz, sr, "bandpass", f1[:blocks], q=5.0)
                 + 0.6 * offline.swept(buzz, sr, "bandpass", f2[:blocks], q=7.0))
        # Syllable rhythm (about 4 a second) with pauses between phrases.
        t = np.arange(n) / sr
        rate = rng.uniform(3.5, 5.0)
        syll = np.maximum(0.0, np.sin(2 * np.pi * rate * t + rng.uniform(0, 6.28))) ** 1.5
        phrase = (np.sin(2 * np.pi * rng.uniform(0.15, 0.3) * t + rng.uniform(0, 6.28)) > -0.3)
        phrase = offline.filtered(phrase.astype(np.float32), sr, "lowpass", 8.0)
        out += voice * syll * phrase * rng.uniform(0.6, 1.0)
    # Through the wall: everything above the muffle corner is gone.
    out = offline.filtered(out, sr, "lowpass", params["muffle_hz"], q=0.6)
    out = offline.filtered(out, sr, "lowpass", params["muffle_hz"] * 1.5, q=0.6)
    out = offline.filtered(out, sr, "highpass", 120.0)
    out *= offline.raised_attack(n, sr, 0.2)
    return offline.fade_tail(offline.normalise(out, params["amplitude"])[:, None], sr, 0.3)
