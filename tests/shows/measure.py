"""Measurements on rendered audio for the show tests: loudness, band levels, onsets.

``loudness_lufs`` is a small ITU-R BS.1770-4 meter: K-weighting (the standard's two
biquads, designed for 48 kHz), mean square per channel over 400 ms blocks with 75 %
overlap, an absolute gate at -70 LUFS and a relative gate 10 LU below the ungated
level.
"""

import numpy as np
from scipy.signal import lfilter

SR = 48000
# BS.1770-4, 48 kHz: the shelving pre-filter and the RLB high-pass.
_SHELF = ([1.53512485958697, -2.69169618940638, 1.19839281085285],
          [1.0, -1.69065929318241, 0.73248077421585])
_RLB = ([1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621])


def loudness_lufs(x, sr=SR):
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    assert sr == 48000, "the K-weighting coefficients are for 48 kHz"
    z = lfilter(*_RLB, lfilter(*_SHELF, x, axis=0), axis=0)
    block, hop = int(0.4 * sr), int(0.1 * sr)
    starts = range(0, len(z) - block + 1, hop)
    ms = np.array([np.mean(z[s:s + block] ** 2, axis=0).sum() for s in starts])
    if len(ms) == 0:
        return -np.inf
    lk = -0.691 + 10 * np.log10(ms + 1e-30)
    gated = ms[lk > -70.0]
    if len(gated) == 0:
        return -np.inf
    rel = -0.691 + 10 * np.log10(gated.mean()) - 10.0
    final = ms[(lk > -70.0) & (lk > rel)]
    return float(-0.691 + 10 * np.log10(final.mean()))


def dbfs(v):
    return 20 * np.log10(max(float(v), 1e-12))


def rms_dbfs(x):
    return dbfs(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def seg(audio, t0, t1, sr=SR):
    return audio[int(t0 * sr):int(t1 * sr)]


def band_energy(x, lo_hz, hi_hz, sr=SR):
    """Mean power of the mono sum between lo_hz and hi_hz (FFT, Hann window)."""
    m = x.mean(axis=1) if x.ndim == 2 else x
    spec = np.abs(np.fft.rfft(m * np.hanning(len(m)))) ** 2
    f = np.fft.rfftfreq(len(m), 1 / sr)
    return float(spec[(f >= lo_hz) & (f < hi_hz)].sum())


def spectrum_db(x, sr=SR):
    m = x.mean(axis=1) if x.ndim == 2 else x
    spec = np.abs(np.fft.rfft(m * np.hanning(len(m)))) / (len(m) / 4)
    return np.fft.rfftfreq(len(m), 1 / sr), 20 * np.log10(spec + 1e-12)


def envelope(x, sr=SR, hop_s=0.005, band=None):
    """RMS envelope (hop_s frames) of the mono sum, optionally band-passed first."""
    m = x.mean(axis=1) if x.ndim == 2 else np.asarray(x)
    if band is not None:
        from scipy.signal import butter, sosfilt
        sos = butter(4, band, btype="bandpass", fs=sr, output="sos")
        m = sosfilt(sos, m)
    hop = int(hop_s * sr)
    n = len(m) // hop
    return np.sqrt(np.mean(m[:n * hop].reshape(n, hop) ** 2, axis=1) + 1e-24)


def onsets(env, hop_s=0.005, rise_db=6.0, floor_db=-70.0, min_gap_s=0.03):
    """Times (s) where the envelope jumps by rise_db over 10 ms above floor_db."""
    db = 20 * np.log10(env)
    jump = db[2:] - db[:-2]
    hits = np.flatnonzero((jump > rise_db) & (db[2:] > floor_db)) + 2
    out, last = [], -1e9
    for h in hits:
        t = h * hop_s
        if t - last >= min_gap_s:
            out.append(t)
            last = t
    return np.array(out)
