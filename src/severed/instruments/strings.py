"""``string_swell``: bowed string voices swelling in and out: one note, or a cluster
of notes a semitone or less apart (the barrier's screech).

Each note is ``ensemble`` band-limited saw voices (the project's Oscillator), detuned
by up to ``detune_cents``, each with its own vibrato (``vibrato_hz`` give or take 15 %,
depth ``vibrato_cents``) and a slow bow-pressure tremble of its level; bow noise
(high-passed noise following the envelope) adds the scrape. A body resonance (peak
at ``body_hz``) and a high-pass at half the lowest note shape it; voices alternate
left and right. The envelope rises along a half cosine over ``attack_s``, holds, and
falls over ``release_s``. ``glide_cents`` makes the swell move: each note bends,
smoothly over the whole sound, by up to that much up or down (its own way), so a
cluster tightens and loosens as it swells instead of standing still like a siren.
"""

import numpy as np

from severed.engine.dsp.oscillators import Oscillator
from severed.instruments import offline
from severed.precompute.recipes import recipe

BLOCK = offline.BLOCK

DEFAULTS = {"freqs_hz": [660.0], "length_s": 6.0, "attack_s": 2.0, "release_s": 2.0,
            "ensemble": 3, "detune_cents": 8.0, "vibrato_hz": 5.5, "vibrato_cents": 12.0,
            "bow_noise": 0.08, "body_hz": 2800.0, "glide_cents": 0.0, "amplitude": 0.5,
            "seed": 5}


@recipe("string_swell", defaults=DEFAULTS, depends=(offline,),
        doc="bowed string voices swelling in and out; a cluster when given close notes")
def string_swell(params, sample_rate):
    sr = sample_rate
    rng = np.random.default_rng(int(params["seed"]))
    notes = [float(f) for f in params["freqs_hz"]] or [660.0]
    ens = max(1, int(params["ensemble"]))
    n_frames = max(BLOCK, int(params["length_s"] * sr))
    base = np.repeat(notes, ens) * 2.0 ** (
        rng.uniform(-1, 1, len(notes) * ens) * params["detune_cents"] / 1200.0)
    voices = len(base)
    vib_hz = params["vibrato_hz"] * rng.uniform(0.85, 1.15, voices)
    vib_ph = rng.uniform(0, 2 * np.pi, voices)
    osc = Oscillator(sr, "saw", voices=voices, max_frames=BLOCK, phase=rng.random(voices))
    buf = np.zeros((voices, BLOCK), np.float32)
    pan = np.where(np.arange(voices) % 2 == 0, 0.3, 0.7)
    gains = np.stack([np.cos(pan * np.pi / 2), np.sin(pan * np.pi / 2)], axis=1) / voices ** 0.5
    out = np.zeros((n_frames, 2), np.float32)
    trem_ph = rng.uniform(0, 2 * np.pi, voices)
    # Each note's bend (its ensemble together), drawn after everything above so that
    # a sound without glide renders as it always has.
    glide = float(params["glide_cents"])
    spread = rng.permutation(np.linspace(-1.0, 1.0, len(notes))) if len(notes) > 1 \
        else rng.choice([-1.0, 1.0], 1)
    bends = np.repeat(spread, ens) * glide if glide else 0.0
    for i in range(0, n_frames, BLOCK):
        n = min(BLOCK, n_frames - i)
        t = (i + n) / sr
        progress = 0.5 - 0.5 * np.cos(np.pi * min(1.0, (i + n) / n_frames))
        cents = params["vibrato_cents"] * np.sin(2 * np.pi * vib_hz * t + vib_ph) \
            + bends * progress
        osc.render(buf, n, base * 2.0 ** (cents / 1200.0))
        # Bow pressure: each voice's level trembles slowly (0.7 Hz), never together.
        level = 1.0 + 0.15 * np.sin(2 * np.pi * 0.7 * t + trem_ph)
        out[i:i + n] = buf[:, :n].T @ (gains * level[:, None]).astype(np.float32)
    noise = rng.standard_normal((n_frames, 2)).astype(np.float32)
    noise = offline.filtered(noise, sr, "highpass", 3000.0)
    out += float(params["bow_noise"]) * noise
    out = offline.filtered(out, sr, "highpass", 0.5 * min(notes))
    out = offline.filtered(out, sr, "peak", params["body_hz"], q=1.2, gain_db=6.0)
    env = _swell(n_frames, sr, params["attack_s"], params["release_s"])
    out *= env[:, None]
    return offline.normalise(out, float(params["amplitude"]))


def _swell(n_frames, sr, attack_s, release_s):
    env = np.ones(n_frames)
    a = min(n_frames, max(1, int(attack_s * sr)))
    r = min(n_frames - a, max(1, int(release_s * sr)))
    env[:a] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, a))
    if r > 0:
        env[n_frames - r:] = 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, r))
    return env
