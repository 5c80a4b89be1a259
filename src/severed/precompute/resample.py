"""Sample-rate conversion with numpy only: a Kaiser-windowed sinc, polyphase.

    y = resample(x, 44100, 48000)   # x: (frames, channels); y: float32

Used once per user stem when it enters the cache, never on the render thread. Output
sample n sits at input time n * sr_in / sr_out exactly (integer arithmetic on the
reduced ratio L/M). Its value is a windowed sinc of ``2 * ZERO_CROSSINGS`` taps at the
lower of the two rates, cut off at ``ROLLOFF`` of the lower Nyquist frequency: flat
(within 0.01 dB) to about 0.9 of that Nyquist, and more than 90 dB down (aliases on the
way down, images on the way up) from the Nyquist on (measured in
tests/precompute/test_resample.py).

The filter's phases are tabulated: one row per phase when the ratio's numerator L is
small (44.1 -> 48 kHz: L = 160), else ``TABLE_PHASES`` rows with linear interpolation
between neighbours (odd rates such as 44056 Hz). Work is done in chunks of output so
memory stays near ``chunk * taps`` floats whatever the length; the input may be a
memory map.
"""

import math
from fractions import Fraction

import numpy as np

ZERO_CROSSINGS = 64  # per side, counted at the lower rate
ROLLOFF = 0.955  # cutoff (the filter's -6 dB point) as a share of the lower Nyquist
KAISER_BETA = 9.0  # about 90 dB of stopband attenuation
EXACT_PHASES_MAX = 1024  # up to this L, one table row per phase
TABLE_PHASES = 1024  # otherwise: rows, interpolated
CHUNK_FRAMES = 32768  # output frames computed at once (rounded to whole periods)


class Resampler:
    """The filter for one pair of rates; ``process(x)`` converts a whole signal."""

    def __init__(self, sr_in, sr_out, zero_crossings=ZERO_CROSSINGS, rolloff=ROLLOFF,
                 beta=KAISER_BETA):
        ratio = Fraction(int(sr_out), int(sr_in))
        self.sr_in, self.sr_out = int(sr_in), int(sr_out)
        self.up, self.down = ratio.numerator, ratio.denominator  # L, M
        scale = min(1.0, self.up / self.down)  # the lower rate relative to the input
        self.half = int(math.ceil(zero_crossings / scale))  # taps per side (input samples)
        self.taps = 2 * self.half
        self.exact = self.up <= EXACT_PHASES_MAX
        self.phases = self.up if self.exact else TABLE_PHASES
        cutoff = 0.5 * scale * rolloff  # cycles per input sample
        # Row p holds the weights of inputs i0-half+1 .. i0+half for an output at input
        # time i0 + p/phases; their distances from it are p/phases + half-1-k.
        frac = np.arange(self.phases + 1)[:, None] / self.phases
        d = frac + (self.half - 1) - np.arange(self.taps)[None, :]
        h = 2 * cutoff * np.sinc(2 * cutoff * d)
        x = np.clip(d / self.half, -1.0, 1.0)
        h *= np.i0(beta * np.sqrt(1.0 - x * x)) / np.i0(beta)
        h /= h.sum(axis=1, keepdims=True)  # each phase passes DC at exactly 0 dB
        self.table = h.astype(np.float32)

    def out_frames(self, in_frames):
        return -(-in_frames * self.up // self.down)  # ceil

    def process(self, x, chunk=CHUNK_FRAMES, out=None):
        """Convert ``x`` (frames, channels): an array, a memory map, or anything with
        ``shape`` whose slices ``x[a:b]`` give float32 (frames, channels). The result
        goes into ``out`` when given (float32, ``(out_frames(len), channels)``)."""
        if not hasattr(x, "shape"):
            x = np.asarray(x)
        if len(x.shape) == 1:
            x = np.asarray(x)[:, None]
        n_in, ch = x.shape
        n_out = self.out_frames(n_in)
        y = np.empty((n_out, ch), np.float32) if out is None else out
        if y.shape != (n_out, ch):
            raise ValueError(f"out has shape {y.shape}, expected {(n_out, ch)}")
        for n0, block in self.chunks(x, chunk):
            y[n0:n0 + len(block)] = block
        return y

    def chunks(self, x, chunk=CHUNK_FRAMES):
        """Convert ``x`` (as for ``process``) piece by piece: yields (first output
        frame, float32 (frames, channels)) in order, each block new, so a long stem is
        written out as it is converted and never held whole."""
        n_in, ch = x.shape
        n_out = self.out_frames(n_in)
        if self.up == self.down:
            for a in range(0, n_in, chunk):
                yield a, np.array(x[a:a + chunk], np.float32)
            return
        if self.exact:
            # Whole periods of L outputs per chunk, so each phase is one strided product.
            chunk = self.up * max(1, chunk // self.up)
        else:
            chunk = max(1, chunk // 8)  # the gathered (frames, ch, taps) block stays small
        for n0 in range(0, n_out, chunk):
            n1 = min(n_out, n0 + chunk)
            block = np.empty((n1 - n0, ch), np.float32)
            if self.exact:
                self._chunk_by_phase(x, n0, n1, block)
            else:
                self._chunk_interpolated(x, n0, n1, block)
            yield n0, block

    def _chunk_by_phase(self, x, n0, n1, out):
        """Outputs n0 + r + j*L share phase (r*M) mod L and step M inputs per j: each
        phase is a matrix-vector product over a strided view, no gather."""
        up, down = self.up, self.down
        first = n0 // up * down - self.half + 1  # n0 is a multiple of L
        last = (n1 - 1) * down // up + self.half
        seg = _slice_padded(x, first, last + 1).T.copy()  # (ch, span), rows contiguous
        for c in range(seg.shape[0]):
            win = np.lib.stride_tricks.sliding_window_view(seg[c], self.taps)
            for r in range(min(up, n1 - n0)):
                offset, phase = divmod(r * down, up)
                count = len(range(r, n1 - n0, up))
                rows = win[offset:offset + down * (count - 1) + 1:down]
                out[r::up, c] = rows @ self.table[phase]

    def _chunk_interpolated(self, x, n0, n1, out):
        # 64-bit on every platform: n * M passes 2**31 eight seconds into a stem at an
        # odd rate, which a 32-bit intp (armhf) would wrap. Fancy indexing below takes
        # int64 indices on any platform (take() and out= would not).
        n = np.arange(n0, n1, dtype=np.int64)
        num = n * self.down
        i0 = num // self.up  # input sample at or before each output's time
        rem = num - i0 * self.up  # phase numerator, 0 .. up-1
        first = int(i0[0]) - self.half + 1
        last = int(i0[-1]) + self.half  # inclusive
        seg = _slice_padded(x, first, last + 1)  # (span, ch) float32, zeros outside
        win = np.lib.stride_tricks.sliding_window_view(seg, self.taps, axis=0)  # (w, ch, taps)
        rows = win[i0 - int(i0[0])]  # (frames, ch, taps)
        pos = rem * (self.phases / self.up)
        idx = np.minimum(pos.astype(np.intp), self.phases - 1)
        w = (pos - idx).astype(np.float32)[:, None]
        coef = self.table[idx] * (1.0 - w) + self.table[idx + 1] * w
        np.einsum("nck,nk->nc", rows, coef, out=out)


def _slice_padded(x, start, stop):
    """x[start:stop] as float32, with zeros where the range runs past either end."""
    n, ch = x.shape
    seg = np.zeros((stop - start, ch), np.float32)
    lo, hi = max(start, 0), min(stop, n)
    if hi > lo:
        seg[lo - start:hi - start] = x[lo:hi]
    return seg


def resample(x, sr_in, sr_out):
    """``x`` (frames, channels) at ``sr_in`` as float32 at ``sr_out``."""
    return Resampler(sr_in, sr_out).process(x)
