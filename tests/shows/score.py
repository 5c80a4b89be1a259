"""Measurements of the lumon score (the musical side of the show), shared by the score
tests and ``benchmarks/lumon_score.py``: each function renders what it needs
through the real render loop (``conftest.render``, cached per session) and returns
the figure the show is judged by."""

import numpy as np

from severed.config import load_show_text
from severed.precompute.recipes import Recipe
from tests.shows.conftest import SR, lumon_text, render, step_cmd, step_sensor
from tests.shows.measure import band_energy, envelope, loudness_lufs, onsets, seg, spectrum_db

INNIE = step_cmd(0.01, "innie")
BAR_S = 16 * 60.0 / 96 / 4  # the desk's bar: 16 sixteenths at 96 bpm


def layers_of(scene):
    show = load_show_text(lumon_text(), "lumon.toml")
    return [f"{scene}.{layer.name}" for layer in show.scenes[scene].layers]


def alone(scene, *keep):
    """The ``disable`` list that leaves only ``keep`` (layer names) of ``scene``."""
    return tuple(k for k in layers_of(scene) if k.split(".")[1] not in keep)


def recipe_audio(name, **params):
    import severed.instruments  # noqa: F401  (registers)
    return Recipe(name, params).render(SR)[:, 0].astype(np.float64)


# ------------------------------------------------------------------ innie registers

def innie_low_share(r):
    x = seg(r.audio, 4, 30)
    return band_energy(x, 20, 120) / band_energy(x, 20, 24000)


def motif_prominence_db(seconds=60.0, seed=6, band=(180.0, 700.0)):
    """The motif's level over the rest of the floor in its band, while it plays: the
    motif alone and the floor without it (same seed: every other layer renders the
    same), over the 50 ms frames where the motif is within 20 dB of its loudest."""
    cuts = ("innie.chip", "innie.gaps")
    motif = render(INNIE, seconds, seed=seed, disable=alone("innie", "motif"))
    rest = render(INNIE, seconds, seed=seed, disable=cuts + ("innie.motif",))
    m = envelope(seg(motif.audio, 3, seconds), hop_s=0.05, band=band)
    o = envelope(seg(rest.audio, 3, seconds), hop_s=0.05, band=band)
    on = m > m.max() / 10 ** (20 / 20)
    return 10 * np.log10(np.sum(m[on] ** 2) / np.sum(o[on] ** 2))


# ------------------------------------------------------------------ felt piano

def centroid_hz(x, sr=SR, power=False):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** (2 if power else 1)
    f = np.fft.rfftfreq(len(x), 1 / sr)
    return float(np.sum(f * spec) / np.sum(spec))


def decay_time_s(x, band, drop_db=20.0, sr=SR):
    """Seconds from the band's peak until it is drop_db below it."""
    env = 20 * np.log10(envelope(x, sr=sr, hop_s=0.01, band=band))
    k = int(np.argmax(env))
    below = np.flatnonzero(env[k:] < env[k] - drop_db)
    return (below[0] if len(below) else len(env) - k) * 0.01


def statements(audio, quiet_s=5.0, length_s=8.0):
    """The motif's statements in a render of the motif alone: (start, audio) for each
    onset with no other in the quiet_s before it."""
    env = envelope(audio, hop_s=0.01)
    times = onsets(env, hop_s=0.01, rise_db=10.0, floor_db=-60.0, min_gap_s=0.05)
    starts = [t for i, t in enumerate(times) if i == 0 or t - times[i - 1] >= quiet_s]
    out = []
    for t in starts:
        x = seg(audio, t - 0.05, t - 0.05 + length_s).mean(axis=1)
        if len(x) == int(length_s * SR):
            out.append((t, x))
    return out


def max_correlation(a, b, lag_s=0.03):
    """Largest normalised cross-correlation of a and b within +-lag_s."""
    n = len(a) + len(b)
    spec = np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n))
    r = np.fft.irfft(spec, n)
    k = int(lag_s * SR)
    lags = np.r_[r[:k + 1], r[-k:]]
    return float(np.max(np.abs(lags)) / np.sqrt(np.sum(a * a) * np.sum(b * b)))


def outie_statement_correlation(seconds=130.0):
    quiet = alone("outie", "motif")
    r = render("", seconds, seed=5, disable=quiet)
    st = statements(r.audio)
    pairs = [max_correlation(a, b) for i, (_, a) in enumerate(st) for _, b in st[i + 1:]]
    return max(pairs), len(st)


# ------------------------------------------------------------------ the ding

def strike_times(x, sr=SR):
    """(onset, seconds from onset to peak) of a one-shot, from its 2 ms envelope:
    the onset is where it first comes within 40 dB of its peak."""
    env = envelope(x, sr=sr, hop_s=0.002)
    k = int(np.argmax(env))
    first = int(np.flatnonzero(env > env[k] / 100.0)[0])
    return first * 0.002, (k - first) * 0.002


def exponential_fit(x, t0=0.02, t1=2.0, sr=SR, band=None):
    """The level (dB, 20 ms frames, of ``band`` if given) from t0 to t1 after the
    peak against a straight line: (slope in dB per second, largest deviation from
    the line in dB). An exponential decay is a straight line in dB."""
    env = 20 * np.log10(envelope(x, sr=sr, hop_s=0.02, band=band))
    k = int(np.argmax(env))
    y = env[k + int(t0 / 0.02):k + int(t1 / 0.02)]
    t = np.arange(len(y)) * 0.02
    line = np.polyfit(t, y, 1)
    return float(line[0]), float(np.max(np.abs(y - np.polyval(line, t))))


def partial_ratios(x, f0, sr=SR, count=4):
    """Frequencies of the strongest spectral peaks (over 100 Hz apart), divided by f0."""
    f, db = spectrum_db(x[:int(0.5 * sr)], sr)
    found = []
    order = np.argsort(db)[::-1]
    for k in order:
        if f[k] < 0.8 * f0 or any(abs(f[k] - g) < 100 for g in found):
            continue
        found.append(f[k])
        if len(found) == count:
            break
    return sorted(g / f0 for g in found)


# ------------------------------------------------------------------ the desk

def bar_correlation(audio, t0, t1, band=(2000, 12000)):
    """Mean correlation of each bar's level envelope (10 ms) with the next bar's."""
    env = envelope(seg(audio, t0, t1), hop_s=0.01, band=band)
    per = int(round(BAR_S / 0.01))
    bars = [env[i:i + per] for i in range(0, len(env) - per + 1, per)]
    return float(np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(bars, bars[1:])]))


def hits_per_bar(audio, t0, t1, band=(2000, 12000)):
    env = envelope(seg(audio, t0, t1), hop_s=0.005, band=band)
    return len(onsets(env, rise_db=8.0, floor_db=-75.0, min_gap_s=0.05)) / ((t1 - t0) / BAR_S)


def third_octaves(x, sr=SR):
    """Level (dB) in third-octave bands from 125 Hz to 10 kHz."""
    centres = 1000.0 * 2.0 ** (np.arange(-9, 11) / 3.0)
    return np.array([10 * np.log10(band_energy(x, c / 2 ** (1 / 6), c * 2 ** (1 / 6), sr) + 1e-20)
                     for c in centres])


def take_spread_db(name, takes=3):
    """Mean spectral difference (dB over third octaves, levels matched) between the
    takes a rhythm layer renders of one sound (seeds as ``Rhythm.cache_items``)."""
    from severed.engine.layers.rhythm import Rhythm
    items = Rhythm.cache_items({"sounds": [name], "takes": takes})
    spectra = []
    for item in items:
        s = third_octaves(item.render(SR)[:, 0].astype(np.float64))
        spectra.append(s - s.max())
    diffs = [np.mean(np.abs(a - b)) for i, a in enumerate(spectra) for b in spectra[i + 1:]]
    return float(np.mean(diffs))


def chatter_repetition(seconds=70.0):
    """Largest autocorrelation of the chatter bed's level (50 ms frames, alone on the
    floor) at lags of 3 to 40 s: near 1 for a loop, low for a bed that does not repeat."""
    r = render(INNIE, seconds, seed=6, disable=alone("innie", "chatter"))
    env = envelope(seg(r.audio, 5, seconds), hop_s=0.05)
    x = env - env.mean()
    c = np.correlate(x, x, "full")[len(x) - 1:] / np.sum(x * x)
    lo, hi = int(3 / 0.05), int(40 / 0.05)
    # Normalise each lag by its overlap so long lags are not favoured or penalised.
    c = c * len(x) / (len(x) - np.arange(len(x)))
    return float(c[lo:hi].max())


# ------------------------------------------------------------------ the barrier

# A motion storm on the floor: a movement every 4 s for 80 s, each a separate start
# to the show (the site merges bursts less than 3 s apart).
STORM = "".join(step_sensor(t, "motion", 1) + step_sensor(t + 0.5, "motion", 0)
                for t in range(2, 82, 4))
BARRIER_LAYERS = ("barrier.chip", "barrier.strings", "barrier.low_strings")


def storm(seconds=90.0):
    return render(INNIE + STORM, seconds, seed=12)


def barrier_windows(r, seconds):
    """[(on, off)] of the barrier overlay in a render's records."""
    spans, on = [], None
    for rec in r.records:
        if rec["type"] == "overlay" and rec["name"] == "barrier":
            if rec["on"] and on is None:
                on = rec["t"]
            elif not rec["on"] and on is not None:
                spans.append((on, rec["t"]))
                on = None
    if on is not None:
        spans.append((on, seconds))
    return spans


def barrier_firings(r):
    return sum(1 for rec in r.records
               if rec["type"] == "overlay" and rec["name"] == "barrier" and rec["on"])


def barrier_excess_lu(seconds=90.0):
    """Loudness of the storm while the barrier plays, over the same moments of the same
    render without the barrier's layers."""
    with_b = storm(seconds)
    without = render(INNIE + STORM, seconds, seed=12, disable=BARRIER_LAYERS)
    spans = barrier_windows(with_b, seconds)
    a = np.concatenate([seg(with_b.audio, t0, t1) for t0, t1 in spans])
    b = np.concatenate([seg(without.audio, t0, t1) for t0, t1 in spans])
    return loudness_lufs(a) - loudness_lufs(b), sum(t1 - t0 for t0, t1 in spans)


def band_spectrum_correlation(a, b, lo=2300.0, hi=3300.0):
    """Correlation of two moments' spectra (dB) in a band: near 1 for a sound that
    stands still, lower for one whose partials move."""
    f, da = spectrum_db(a)
    _, db = spectrum_db(b)
    band = (f > lo) & (f < hi)
    return float(np.corrcoef(da[band], db[band])[0, 1])


def bar_levels_db(audio, t0, t1):
    """RMS level (dB) of each desk bar between t0 and t1."""
    x = seg(audio, t0, t1).mean(axis=1)
    per = int(BAR_S * SR)
    return np.array([10 * np.log10(np.mean(x[i:i + per] ** 2) + 1e-20)
                     for i in range(0, len(x) - per + 1, per)])


# ------------------------------------------------------------------ bleed, ride up

RIDE_UP = INNIE + step_sensor(3.0, "door", 1)


def mains_prominence_db(x, hz):
    f, db = spectrum_db(x)
    k = int(np.argmin(np.abs(f - hz)))
    per_hz = int(round(1 / (f[1] - f[0])))
    around = np.r_[db[k - 20 * per_hz:k - 3 * per_hz], db[k + 3 * per_hz:k + 20 * per_hz]]
    return float(db[k - 3:k + 4].max() - np.median(around))


def click_count(x, band=(4000, 7000)):
    env = envelope(x, hop_s=0.005, band=band)
    return len(onsets(env, rise_db=6.0, floor_db=-90.0, min_gap_s=0.08))
