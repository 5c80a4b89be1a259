"""Band-limited oscillator banks: mip-mapped wavetables read by an integer phase.

Use::

    osc = Oscillator(48000, "saw", voices=8, max_frames=2048)
    buf = np.zeros((8, 2048), np.float32)
    osc.render(buf, 2048, [55.0, 55.3, 82.4, 82.0, 110.0, 110.6, 130.8, 164.8])
    # next block: the pitch glides linearly from the values above to the new ones
    osc.render(buf, 2048, new_freqs)
    # or straight into a (frames, channels) bus, voice v weighted by pan[v]:
    osc.render_mix(stereo, 2048, new_freqs, pan)

How it stays cheap and clean:

- One table per octave (8192 points each), holding only the harmonics that stay below
  0.45 * sample_rate at the top of that octave; a voice reads the table chosen for the
  highest frequency it reaches in the block. The tables depend only on f / sample_rate,
  so they are built once per shape and shared by every oscillator in the process.
- Linear interpolation from a value table and a difference table.
- The phase is a uint32 (2**32 = one cycle), so it wraps by itself and never drifts;
  a glide moves the increment by a whole number per sample, so it ends exactly on the
  new pitch.
- When a voice moves to another octave's table, the block crossfades from the old
  table to the new one, so harmonics fade in or out instead of appearing in a step.

The per-sample loop is the kernel ``osc`` of the compiled core (kernels/osc.c); this
module builds the tables and holds each voice's state.
"""

import numpy as np

from severed.engine.compiled import kernels

SHAPES = ("sine", "saw", "square", "triangle")

TABLE_BITS = 13
TABLE_SIZE = 1 << TABLE_BITS  # points per table
FRAC_BITS = 32 - TABLE_BITS  # phase bits below the table index
N_TABLES = 12  # table k serves f/fs in (2**-(k+2), 2**-(k+1)]; the last also below
TOP_HARMONIC_FRACTION = 0.45  # highest harmonic kept, as a fraction of sample_rate

_PHASE_ONE = 2.0 ** 32
_SCALARS = (int, float, np.integer, np.floating)
_TABLES = {}  # shape -> (values, differences), flat float32 arrays of N_TABLES tables


def _harmonics(shape, count):
    """Sine-series amplitudes for harmonics 1..count of a unit-peak ideal waveform.

    Every shape starts at 0 and rises at phase 0, so a fresh voice does not click."""
    h = np.arange(1, count + 1, dtype=np.float64)
    if shape == "sine":
        amps = np.zeros(count)
        amps[0] = 1.0
    elif shape == "saw":
        amps = (2.0 / np.pi) * (-1.0) ** (h + 1) / h
    elif shape == "square":
        amps = np.where(h % 2 == 1, 4.0 / (np.pi * h), 0.0)
    else:  # triangle
        odd = h % 2 == 1
        amps = np.where(odd, 8.0 / (np.pi ** 2 * h ** 2) * (-1.0) ** ((h - 1) // 2), 0.0)
    return amps


def harmonic_count(table):
    """Harmonics held by table ``table`` (0 = the highest octave)."""
    return max(1, int(TOP_HARMONIC_FRACTION * 2.0 ** (table + 1)))


def tables(shape):
    """(values, differences) for ``shape``: flat float32 arrays, N_TABLES * TABLE_SIZE.

    Built on first use and cached; every table of a shape is scaled by one gain, so a
    table change never changes the level."""
    if shape not in _TABLES:
        if shape not in SHAPES:
            raise ValueError(f"unknown oscillator shape {shape!r} "
                             f"(expected one of {', '.join(SHAPES)})")
        count = 1 if shape == "sine" else N_TABLES
        rows = np.empty((count, TABLE_SIZE))
        for k in range(count):
            amps = _harmonics(shape, harmonic_count(k) if shape != "sine" else 1)
            spectrum = np.zeros(TABLE_SIZE // 2 + 1, dtype=np.complex128)
            spectrum[1:len(amps) + 1] = -0.5j * TABLE_SIZE * amps
            rows[k] = np.fft.irfft(spectrum, TABLE_SIZE)
        # One gain for all tables (a table change must not change the level), chosen so
        # that no table below sample_rate / 8 peaks above 1.0. The two top tables hold
        # a lone fundamental, which for a square (4/pi) is taller than its overshoot
        # with harmonics: there it peaks at 1.06.
        rows /= np.abs(rows[min(2, count - 1):]).max()
        # Differences are pre-scaled so that the raw fraction bits can multiply them.
        diffs = (np.roll(rows, -1, axis=1) - rows) * 2.0 ** -FRAC_BITS
        _TABLES[shape] = (rows.astype(np.float32).ravel(), diffs.astype(np.float32).ravel())
    return _TABLES[shape]


class Oscillator:
    """A bank of ``voices`` band-limited oscillators (mip-mapped wavetables, one table
    per octave, harmonics kept below ~0.45*sample_rate at the top of each octave; linear
    interpolation). shape: "sine" | "saw" | "square" | "triangle".

    ``render(out, frames, freq_hz)`` writes (does not add) ``out[:, :frames]``; ``out``
    is float32 of shape (voices, >= frames). ``freq_hz`` is a scalar or one value per
    voice; the frequency glides linearly from the previous call's value to ``freq_hz``
    across the block (constant on the first call), and the phase is continuous, so a
    signal rendered in blocks of any size is the same signal. Frequencies are clamped
    to 0 .. sample_rate / 2. ``render_mix(out, frames, freq_hz, mix)`` renders the
    same voices into ``out[:frames]`` of shape (frames, channels) instead, voice v
    weighted by ``mix[v]`` (float32, (voices, channels)): a pad's pan in the same pass.

    Level: every shape peaks at about 1.0 (never above it below sample_rate / 8); high
    notes lose upper harmonics, not level (the fundamental's amplitude is the same at
    every pitch). A square above sample_rate / 8 is a lone sine peaking at 1.06.
    ``render`` allocates nothing.
    """

    def __init__(self, sample_rate, shape, voices=1, max_frames=2048, phase=None):
        self.sample_rate = float(sample_rate)
        self.shape = shape
        self.voices = int(voices)
        self.max_frames = int(max_frames)
        self._values, self._diffs = tables(shape)
        if phase is None:
            start = np.zeros(self.voices)
        else:
            start = np.broadcast_to(np.asarray(phase, dtype=np.float64), (self.voices,))
        self._start_phase = np.round((start % 1.0) * _PHASE_ONE) % _PHASE_ONE
        self._inc_scale = _PHASE_ONE / self.sample_rate
        self._freqs = np.zeros(self.voices)
        # Per voice: phase (uint32 value), last increment, last table (-1: none yet).
        self._state = np.zeros((self.voices, 3), np.int64)
        self.reset()

    def reset(self):
        """Phases back to their initial values; the next render starts without a glide."""
        self._state[:, 0] = self._start_phase
        self._state[:, 1:] = -1

    def _frequencies(self, freq_hz):
        if isinstance(freq_hz, _SCALARS):
            self._freqs.fill(freq_hz)
        elif isinstance(freq_hz, list) and len(freq_hz) == self.voices:
            self._freqs[:] = freq_hz  # the layers' usual case, with no array made
        else:
            freqs = np.asarray(freq_hz, dtype=np.float64)
            if freqs.ndim == 0:
                self._freqs.fill(freqs)
                return self._freqs
            if freqs.size != self.voices:
                raise ValueError(f"Oscillator.render: {freqs.size} frequencies given "
                                 f"for {self.voices} voices")
            self._freqs[:] = freqs
        return self._freqs

    def _frames(self, frames):
        frames = int(frames)
        if frames > self.max_frames:
            raise ValueError(f"Oscillator.render: {frames} frames asked, "
                             f"max_frames is {self.max_frames}")
        return max(frames, 0)

    def render(self, out, frames, freq_hz):
        """Write ``frames`` samples per voice into ``out[:, :frames]`` and return that view."""
        frames = self._frames(frames)
        kernels.osc(out, frames, self._frequencies(freq_hz), self._state, self._values,
                    self._diffs, self._inc_scale, None)
        return out[:, :frames]

    def render_mix(self, out, frames, freq_hz, mix):
        """Write the voices, weighted by ``mix`` (voices, channels), summed into
        ``out[:frames]`` ((frames, channels) float32) and return that view."""
        frames = self._frames(frames)
        kernels.osc(out, frames, self._frequencies(freq_hz), self._state, self._values,
                    self._diffs, self._inc_scale, mix)
        return out[:frames]
