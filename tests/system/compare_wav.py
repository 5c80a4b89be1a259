"""Level of a 16-bit WAV and how far it is from a reference render of the same show.

    python3 compare_wav.py TEST.wav [REFERENCE.wav]

Prints one line: RMS and peak of TEST in dBFS, the share of silent 50 ms windows and,
with a reference, how far apart the two are: the largest difference of 5 s RMS levels
and of third-octave band levels (dB, bands within 60 dB of the loudest), and the sample
correlation. The same show, scenario and seed give the same sound on every machine, but
not bit for bit: another numpy or libm rounds sin, exp and tanh differently, and
feedback (reverb, delay) and random modulation carry that rounding on, so the samples
drift apart (correlation about 0.97) while the levels and spectrum stay within a
fraction of a dB. A silent instrument or a wrong index moves them by decibels.
"""

import sys
import wave

import numpy as np


def read(path):
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            raise SystemExit(f"{path}: {8 * w.getsampwidth()}-bit samples, expected 16")
        rate, ch = w.getframerate(), w.getnchannels()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, ch)
    return x.astype(np.float64) / 32768.0, rate


def db(v):
    return 20.0 * np.log10(max(float(v), 1e-10))


def window_levels(x, rate, seconds=5.0):
    w = int(rate * seconds)
    n = len(x) // w
    if n == 0:
        return np.array([db(np.sqrt(np.mean(x * x)))])
    blocks = x[:n * w].reshape(n, w, -1)
    return np.array([db(np.sqrt(np.mean(b * b))) for b in blocks])


def band_levels(x, rate):
    """Third-octave band levels (dB) of the mono sum, 25 Hz .. 16 kHz."""
    mono = x.mean(axis=1)
    spec = np.abs(np.fft.rfft(mono)) ** 2
    freqs = np.fft.rfftfreq(len(mono), 1.0 / rate)
    centres = 1000.0 * 2.0 ** (np.arange(-16, 13) / 3.0)
    out = []
    for fc in centres:
        band = (freqs >= fc * 2 ** (-1 / 6)) & (freqs < fc * 2 ** (1 / 6))
        out.append(10.0 * np.log10(max(float(spec[band].sum()), 1e-20)))
    return np.array(out)


def main(argv):
    x, rate = read(argv[1])
    win = int(rate * 0.05)
    n = len(x) // win
    silent = int((np.abs(x[:n * win]).reshape(n, -1).max(axis=1) < 1e-4).sum()) if n else 0
    parts = [f"{len(x) / rate:.0f} s, rms {db(np.sqrt(np.mean(x * x))):.1f} dBFS, "
             f"peak {db(np.abs(x).max()):.1f} dBFS, silent 50 ms windows {silent}/{n}"]
    if len(argv) > 2:
        try:
            ref, _ = read(argv[2])
        except (OSError, EOFError, wave.Error) as exc:
            parts.append(f"no reference ({exc})")
        else:
            m = min(len(x), len(ref))
            a, b = x[:m].ravel(), ref[:m].ravel()
            corr = float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b) + 1e-30))
            levels = np.abs(window_levels(x[:m], rate) - window_levels(ref[:m], rate))
            bx, br = band_levels(x[:m], rate), band_levels(ref[:m], rate)
            loud = br > br.max() - 60.0
            bands = np.abs(bx - br)[loud]
            parts.append(f"vs x86_64: level diff {levels.max():.2f} dB, "
                         f"band diff {bands.max():.2f} dB, corr {corr:.3f}"
                         + ("" if len(x) == len(ref) else f", lengths {len(x)}/{len(ref)}"))
    print("; ".join(parts))


if __name__ == "__main__":
    main(sys.argv)
