"""Oracle for the oscillator kernel: the numpy Oscillator the engine used before its
kernels were compiled, kept unchanged. The kernel must match it to the bit (same
float32 arithmetic), except where the two decide differently on which octave's table
a voice reads after a change too small to glide (under half a phase unit per frame).

Band-limited oscillator banks: mip-mapped wavetables read by an integer phase.

Use::

    osc = Oscillator(48000, "saw", voices=8, max_frames=2048)
    buf = np.zeros((8, 2048), np.float32)
    osc.render(buf, 2048, [55.0, 55.3, 82.4, 82.0, 110.0, 110.6, 130.8, 164.8])
    # next block: the pitch glides linearly from the values above to the new ones
    osc.render(buf, 2048, new_freqs)

How it stays cheap and clean:

- One table per octave (8192 points each), holding only the harmonics that stay below
  0.45 * sample_rate at the top of that octave; a voice reads the table chosen for the
  highest frequency it reaches in the block. The tables depend only on f / sample_rate,
  so they are built once per shape and shared by every oscillator in the process.
- Linear interpolation from a value table and a difference table (two gathers).
- The phase is a uint32 (2**32 = one cycle), so it wraps by itself and never drifts.
  A steady tone's phases are one uint32 multiply-add per block. A glide's phases
  (phase + a*n + slope*n(n+1)/2) come from one float64 matrix product whose terms are
  exact integers; adding 1.5 * 2**52 leaves the phase modulo 2**32 in the low word of
  each float64, read through a view.
- Per-voice bookkeeping (increments, table choice) is plain Python on a few numbers,
  and is skipped while the frequencies repeat.
- When a voice moves to another octave's table, the block crossfades from the old
  table to the new one, so harmonics fade in or out instead of appearing in a step.
"""

import sys

import numpy as np

# The wavetables are the engine's: the oracle checks the reading loop, not a second
# copy of the tables' design.
from severed.engine.dsp.oscillators import (
    _PHASE_ONE, _SCALARS, FRAC_BITS, N_TABLES, TABLE_BITS, tables)

_MAGIC = 1.5 * 2.0 ** 52  # float64 with ulp 1: its low 32 mantissa bits hold x mod 2**32


class Oscillator:
    """A bank of ``voices`` band-limited oscillators (mip-mapped wavetables, one table
    per octave, harmonics kept below ~0.45*sample_rate at the top of each octave; linear
    interpolation). shape: "sine" | "saw" | "square" | "triangle".

    ``render(out, frames, freq_hz)`` writes (does not add) ``out[:, :frames]``; ``out``
    is float32 of shape (voices, >= frames). ``freq_hz`` is a scalar or one value per
    voice; the frequency glides linearly from the previous call's value to ``freq_hz``
    across the block (constant on the first call), and the phase is continuous, so a
    signal rendered in blocks of any size is the same signal. Frequencies are clamped
    to 0 .. sample_rate / 2.

    Level: every shape peaks at about 1.0 (never above it below sample_rate / 8); high
    notes lose upper harmonics, not level (the fundamental's amplitude is the same at
    every pitch). A square above sample_rate / 8 is a lone sine peaking at 1.06.
    ``render`` allocates nothing but a few small per-voice lists.
    """

    def __init__(self, sample_rate, shape, voices=1, max_frames=2048, phase=None):
        if sys.byteorder != "little":  # the phase is read from the low word of a float64
            raise RuntimeError("Oscillator needs a little-endian machine")
        self.sample_rate = float(sample_rate)
        self.shape = shape
        self.voices = int(voices)
        self.max_frames = int(max_frames)
        self._values, self._diffs = tables(shape)
        self._multi = shape != "sine"
        if phase is None:
            start = np.zeros(self.voices)
        else:
            start = np.broadcast_to(np.asarray(phase, dtype=np.float64), (self.voices,))
        self._start_phase = (np.round((start % 1.0) * _PHASE_ONE) % _PHASE_ONE).tolist()
        self._inc_scale = _PHASE_ONE / self.sample_rate

        v, m = self.voices, self.max_frames
        n = np.arange(m + 1, dtype=np.float64)
        self._basis = np.stack([np.ones(m), n[:m], n[:m] * (n[:m] + 1) / 2])
        self._ramp = n[1:].astype(np.float32)  # 1..m, scaled per crossfade
        self._count = np.arange(m, dtype=np.uint32)[None, :]
        # Scratch, all float64-exact integers or bit patterns; reused in place.
        self._z = np.zeros(v * m)  # phases as float64
        # Table indices: np.intp, the only index type take() accepts on 32-bit numpy.
        self._iz = np.zeros(v * m, np.intp)
        self._u = np.zeros(v * m, np.uint32)  # phase mod 2**32, then table values
        self._t = np.zeros(v * m, np.uint32)  # index / fraction bits, then differences
        self._offsets = np.zeros((v, m), np.uint32)  # first point of each voice's table
        self._old = np.zeros((v, m), np.float32)  # crossfade: voices read from old tables
        self._old_idx = np.zeros(m, np.intp)
        self._fade = np.zeros(m, np.float32)
        self._coef = np.zeros((v, 3))  # glide: (phase + magic, first increment, slope)
        self._views_frames = -1
        self.reset()

    def reset(self):
        """Phases back to their initial values; the next render starts without a glide."""
        # Phase of each voice's next sample, uint32: adding a step wraps by itself.
        self._phase = np.array(self._start_phase, np.uint32)[:, None]
        self._inc = None  # per voice: increment (phase units per sample) at the last block
        self._glide = False  # does the current block's increment move?
        self._start = np.zeros((self.voices, 1), np.uint32)  # steady increments
        self._step = np.zeros((self.voices, 1), np.uint32)  # phase advance per block
        self._step_frames = -1  # block size _step was worked out for
        self._table = None
        self._last_freq = None

    # -- per-block helpers -------------------------------------------------------

    def _views(self, frames):
        if frames != self._views_frames:
            v = self.voices
            size = v * frames
            self._views_frames = frames
            self._zv = self._z[:size].reshape(v, frames)
            self._lo = self._zv.view(np.uint32)[:, 0::2]
            self._idx = self._iz[:size].reshape(v, frames)
            self._uv = self._u[:size].reshape(v, frames)
            self._tv = self._t[:size].reshape(v, frames)
            self._av = self._uv.view(np.float32)
            self._dv = self._tv.view(np.float32)
            self._ov = self._offsets[:, :frames]
            self._bv = self._basis[:, :frames]

    def _set_frequency(self, freq_hz, frames):
        """Work out this block's glide; return [(voice, old table, new table)] or None.

        Plain Python on a few numbers per voice: cheaper than numpy calls at this size."""
        freqs = np.asarray(freq_hz, dtype=np.float64)
        if freqs.ndim == 0:
            freqs = [float(freqs)] * self.voices
        else:
            freqs = freqs.tolist()
            if len(freqs) != self.voices:
                raise ValueError(f"Oscillator.render: {len(freqs)} frequencies given "
                                 f"for {self.voices} voices")
        scale, top = self._inc_scale, (1 << 31) - 1  # just below Nyquist
        # Clamp to 0 .. Nyquist; NaN gives 0 rather than an exception on the audio thread.
        inc1 = [top if x >= top else (round(x) if x > 0 else 0)
                for x in (f * scale for f in freqs)]
        inc0 = inc1 if self._inc is None else self._inc
        # Increment of sample i is a + (i + 1) * slope, so the last one is exactly inc1.
        slope = [round((b - a) / frames) for a, b in zip(inc0, inc1)]
        start = [b - frames * s for b, s in zip(inc1, slope)]
        self._inc = inc1
        self._glide = any(slope)
        if self._glide:
            self._coef[:, 1] = start
            self._coef[:, 2] = slope
        else:
            self._start = np.array(inc1, np.uint32)[:, None]
        tri = frames * (frames + 1) // 2
        self._step = np.array([(a * frames + s * tri) & 0xFFFFFFFF
                               for a, s in zip(start, slope)], np.uint32)[:, None]
        self._step_frames = frames
        if not self._multi:
            return None
        # Table k holds increments in (2**(30-k), 2**(31-k)]; a voice reads the table of
        # the highest increment it reaches in the block.
        last = N_TABLES - 1
        table = [min(max(31 - (max(a, b, 1) - 1).bit_length(), 0), last)
                 for a, b in zip(inc0, inc1)]
        previous, changed = self._table, None
        if table != previous:
            np.copyto(self._offsets,
                      (np.array(table, dtype=np.uint32) << TABLE_BITS)[:, None])
            if previous is not None:
                changed = [(v, old, new) for v, (old, new) in enumerate(zip(previous, table))
                           if old != new]
            self._table = table
        return changed

    # -- rendering ---------------------------------------------------------------

    def render(self, out, frames, freq_hz):
        """Write ``frames`` samples per voice into ``out[:, :frames]`` and return that view."""
        frames = int(frames)
        target = out[:, :frames]
        if frames <= 0:
            return target
        if frames > self.max_frames:
            raise ValueError(f"Oscillator.render: {frames} frames asked, "
                             f"max_frames is {self.max_frames}")
        self._views(frames)
        changed = None
        if not isinstance(freq_hz, _SCALARS):
            freq_hz = np.asarray(freq_hz, dtype=np.float64)
            key = freq_hz.tobytes()  # cheap equality test for a few voices
        else:
            key = freq_hz
        if self._glide or key != self._last_freq:
            self._last_freq = key
            changed = self._set_frequency(freq_hz, frames)
        elif frames != self._step_frames:  # steady tone, new block size
            self._step = np.multiply(self._start, np.uint32(frames))
            self._step_frames = frames
        phase, u, t = self._phase, self._uv, self._tv
        if self._glide:
            # Phases of a glide: exact integers in float64, whose low word is the phase
            # mod 2**32; one matrix product does phase + a*n + slope*n(n+1)/2 for all.
            coef = self._coef
            np.add(phase[:, 0], _MAGIC, out=coef[:, 0])
            np.matmul(coef, self._bv, out=self._zv)
            np.copyto(u, self._lo)
        else:  # steady: phase + a*n in uint32, wrapping by itself
            np.multiply(self._count[:, :frames], self._start, out=u)
            np.add(u, phase, out=u)
        # The next block starts where this one ends: phase + a*frames + slope*tri(frames).
        np.add(phase, self._step, out=phase)

        np.right_shift(u, FRAC_BITS, out=t)
        if self._multi:
            np.bitwise_or(t, self._ov, out=t)
        idx = self._idx
        np.copyto(idx, t)
        np.bitwise_and(u, (1 << FRAC_BITS) - 1, out=t)
        frac = target  # fraction bits as float32; the difference table is pre-scaled
        np.copyto(frac, t.view(np.int32), casting="unsafe")
        if changed:
            for v, old, new in changed:
                self._read_old_table(v, idx[v], frac[v], old, new, frames)
        a, d = self._av, self._dv
        self._values.take(idx, out=a, mode="wrap")
        self._diffs.take(idx, out=d, mode="wrap")
        np.multiply(d, frac, out=d)
        np.add(a, d, out=target)
        if changed:
            fade = np.multiply(self._ramp[:frames], np.float32(1.0 / frames),
                               out=self._fade[:frames])
            for v, _, _ in changed:
                old, row = self._old[v, :frames], target[v]
                np.subtract(row, old, out=row)
                np.multiply(row, fade, out=row)
                np.add(row, old, out=row)
        return target

    def _read_old_table(self, v, idx, frac, old, new, frames):
        """Voice ``v`` read from its previous table, for the crossfade to the new one."""
        old_idx = self._old_idx[:frames]
        # Indices were built as (phase >> FRAC_BITS) | (table << TABLE_BITS).
        np.add(idx, (old - new) << TABLE_BITS, out=old_idx)
        row, d = self._old[v, :frames], self._fade[:frames]
        np.take(self._values, old_idx, out=row, mode="wrap")
        np.take(self._diffs, old_idx, out=d, mode="wrap")
        np.multiply(d, frac, out=d)
        np.add(row, d, out=row)
