"""Recursive filters on (frames, channels) float32 blocks, run by the compiled core.

Use::

    lp = Biquad(48000, "lowpass", 800.0, q=0.7071, channels=2, max_frames=2048)
    lp.process(block, out=block)        # in place; state carries to the next call
    lp.set(freq_hz=1200.0)              # reached smoothly across the next block

    hp = OnePole(48000, "highpass", 20.0)
    hp.process(block, out=block)

The per-sample loop is the kernel ``iir`` of severed.engine._kernels (kernels/iir.c):
direct form I in double precision, one pass per channel, float32 in and out. This
module designs the coefficients (RBJ cookbook, bilinear one-poles) and plans ramps.

Smooth changes: the state is kept as past inputs and outputs, which mean the same
thing whatever the coefficients are, so the output stays continuous when they change.
A new target from ``set`` is reached across the next block in up to 4 segments,
interpolated in log-frequency, log-Q and dB, as many as the size of the change needs
(one per 1/12 octave, 1/8 octave of Q or 0.5 dB); the kernel switches coefficients
at the segment edges within its one call.
"""

import math

import numpy as np

from severed.engine.compiled import kernels

KINDS = ("lowpass", "highpass", "bandpass", "notch", "peak", "lowshelf", "highshelf",
         "allpass")
MAX_SEGMENTS = 4
# Largest coefficient move allowed within one segment of a ramp: beyond this a
# sweep is cut into more segments (up to MAX_SEGMENTS per block).
STEP_OCTAVES = 1.0 / 12.0
STEP_Q_OCTAVES = 1.0 / 8.0
STEP_DB = 0.5


class IIRCore:
    """A fixed direct-form-I filter of order 1..3 over (frames, C) blocks, its state
    kept between calls: the building block for noise colours and feedback loops.

    ``set_coeffs(b, a)`` takes the numerator (K+1,) and the denominator without its
    leading 1 (K,), shared by all channels; the state carries over unchanged.
    ``run(x, y, n)`` filters x[:n] into y[:n] (x and y C-contiguous, both float32 or
    both float64, (frames, C); y may be x).
    """

    def __init__(self, order, channels, max_frames=None):
        self.k = k = int(order)
        if not 1 <= k <= 3:
            raise ValueError(f"IIRCore handles orders 1..3, not {order}")
        self.c = int(channels)
        self.state = np.zeros((self.c, 2 * k))  # per channel: x1..xK, y1..yK
        self.segment = np.zeros((1, 2 * k + 2))  # [end, b0..bK, a1..aK]
        self.b = self.a = None

    def reset(self):
        self.state[:] = 0.0

    def set_coeffs(self, b, a):
        """Use these coefficients from now on."""
        b = np.asarray(b, dtype=np.float64).ravel()
        a = np.asarray(a, dtype=np.float64).ravel()
        if b.size != self.k + 1 or a.size != self.k:
            raise ValueError(f"an order-{self.k} filter needs {self.k + 1} numerator and "
                             f"{self.k} denominator coefficients, got {b.tolist()}, "
                             f"{a.tolist()}")
        self.b, self.a = b, a
        self.segment[0, 1:self.k + 2] = b
        self.segment[0, self.k + 2:] = a

    def run(self, x, y, n):
        """Filter x[:n] into y[:n]."""
        if n <= 0:
            return
        self.segment[0, 0] = n
        kernels.iir(x, y, self.state, self.segment)


# --------------------------------------------------------------------------- design

def rbj_coeffs(kind, sample_rate, freq_hz, q, gain_db):
    """RBJ Audio-EQ-Cookbook biquad: returns (b0, b1, b2), (a1, a2), normalised by a0."""
    w0 = 2.0 * math.pi * freq_hz / sample_rate
    cw, sw = math.cos(w0), math.sin(w0)
    alpha = sw / (2.0 * q)
    big_a = 10.0 ** (gain_db / 40.0)
    if kind == "lowpass":
        b = ((1 - cw) / 2, 1 - cw, (1 - cw) / 2)
        a = (1 + alpha, -2 * cw, 1 - alpha)
    elif kind == "highpass":
        b = ((1 + cw) / 2, -(1 + cw), (1 + cw) / 2)
        a = (1 + alpha, -2 * cw, 1 - alpha)
    elif kind == "bandpass":
        b = (alpha, 0.0, -alpha)
        a = (1 + alpha, -2 * cw, 1 - alpha)
    elif kind == "notch":
        b = (1.0, -2 * cw, 1.0)
        a = (1 + alpha, -2 * cw, 1 - alpha)
    elif kind == "allpass":
        b = (1 - alpha, -2 * cw, 1 + alpha)
        a = (1 + alpha, -2 * cw, 1 - alpha)
    elif kind == "peak":
        b = (1 + alpha * big_a, -2 * cw, 1 - alpha * big_a)
        a = (1 + alpha / big_a, -2 * cw, 1 - alpha / big_a)
    elif kind in ("lowshelf", "highshelf"):
        s = 2.0 * math.sqrt(big_a) * alpha
        ap, am = big_a + 1, big_a - 1
        if kind == "lowshelf":
            b = (big_a * (ap - am * cw + s), 2 * big_a * (am - ap * cw),
                 big_a * (ap - am * cw - s))
            a = (ap + am * cw + s, -2 * (am + ap * cw), ap + am * cw - s)
        else:
            b = (big_a * (ap + am * cw + s), -2 * big_a * (am + ap * cw),
                 big_a * (ap + am * cw - s))
            a = (ap - am * cw + s, 2 * (am - ap * cw), ap - am * cw - s)
    else:
        raise ValueError(f"filter kind {kind!r} is not one of {', '.join(KINDS)}")
    a0 = a[0]
    return (b[0] / a0, b[1] / a0, b[2] / a0), (a[1] / a0, a[2] / a0)


def one_pole_coeffs(kind, sample_rate, freq_hz):
    """Bilinear first-order low/high-pass, -3.01 dB exactly at freq_hz."""
    t = math.tan(math.pi * freq_hz / sample_rate)
    a1 = (t - 1.0) / (t + 1.0)
    if kind == "lowpass":
        g = t / (1.0 + t)
        return (g, g), (a1,)
    if kind == "highpass":
        g = 1.0 / (1.0 + t)
        return (g, -g), (a1,)
    raise ValueError(f"one-pole kind {kind!r} is not lowpass or highpass")


def response_db(b, a, sample_rate, freqs_hz):
    """Magnitude in dB of b/a (a without its leading 1) at the given frequencies."""
    w = 2.0 * np.pi * np.asarray(freqs_hz, dtype=np.float64) / sample_rate
    z1 = np.exp(-1j * w)
    num = np.polyval(np.asarray(b, dtype=np.float64)[::-1], z1)
    den = np.polyval(np.concatenate(([1.0], np.asarray(a, dtype=np.float64)))[::-1], z1)
    return 20.0 * np.log10(np.maximum(np.abs(num / den), 1e-300))


# --------------------------------------------------------------------------- public

class _Smoothed:
    """Shared plumbing of Biquad and OnePole: the segmented ramp from the current
    parameters to the target, and the public process/reset/response_db.

    ``segments`` is the kernel's table, one row [end_frame, b..., a...] per segment;
    row 0 always holds the coefficients of the current parameters.
    """

    def __init__(self, sample_rate, order, channels, max_frames):
        self.sample_rate = float(sample_rate)
        self.channels = int(channels)
        self.max_frames = int(max_frames)
        self.order = order
        self.state = np.zeros((self.channels, 2 * order))
        self.segments = np.zeros((MAX_SEGMENTS, 2 * order + 2))
        self._tables = [self.segments[:n] for n in range(1, MAX_SEGMENTS + 1)]

    def _clamp_freq(self, freq_hz):
        return min(max(float(freq_hz), 1.0), 0.49 * self.sample_rate)

    def _put(self, row, end, params):
        b, a = self._coeffs(params)
        seg = self.segments[row]
        seg[0] = end
        seg[1:self.order + 2] = b
        seg[self.order + 2:] = a

    def process(self, x, out=None):
        """Filter x (frames, channels) float32 into out (may be x itself); returns out.

        With out=None a new array is made: pass out on the render path.
        """
        frames = x.shape[0]
        if out is None:
            out = np.empty_like(x)
        if frames == 0:
            return out
        if frames > self.max_frames:
            raise ValueError(f"block of {frames} frames exceeds max_frames={self.max_frames}")
        if self.cur == self.tgt:
            table = self._tables[0]
            table[0, 0] = frames
            kernels.iir(x, out, self.state, table)
            return out
        nseg = max(1, min(math.ceil(self._segments(self.cur, self.tgt)), MAX_SEGMENTS,
                          frames))
        for i in range(nseg):
            frac = (i + 1) / nseg
            self._put(i, round(frames * frac), self._interp(self.cur, self.tgt, frac))
        kernels.iir(x, out, self.state, self._tables[nseg - 1])
        self.cur = self.tgt
        self.segments[0] = self.segments[nseg - 1]
        return out

    def reset(self):
        """Clear the filter memories (the next block starts from silence)."""
        self.state[:] = 0.0
        self.cur = self.tgt
        self._put(0, 0, self.cur)

    def response_db(self, freqs_hz):
        """Magnitude response (dB) at the given frequencies of the coefficients the
        filter is set to (the target, when a ramp is in progress)."""
        b, a = self._coeffs(self.tgt)
        return response_db(b, a, self.sample_rate, freqs_hz)


class Biquad(_Smoothed):
    """RBJ-cookbook biquad on (frames, channels) float32. kind: lowpass | highpass |
    bandpass (0 dB peak) | notch | peak | lowshelf | highshelf | allpass.

    ``q`` is the cookbook's Q (also for the shelves, where 0.7071 gives the steepest
    shelf without overshoot); ``gain_db`` matters for peak and the shelves. Frequencies
    are clamped to 1 Hz .. 0.49 * sample_rate and q to 0.05 .. 50. Every channel is
    filtered with the same coefficients and its own state.
    """

    def __init__(self, sample_rate, kind, freq_hz, q=0.7071, gain_db=0.0, channels=2,
                 max_frames=2048):
        if kind not in KINDS:
            raise ValueError(f"filter kind {kind!r} is not one of {', '.join(KINDS)}")
        super().__init__(sample_rate, 2, channels, max_frames)
        self.kind = kind
        self.tgt = (self._clamp_freq(freq_hz), self._clamp_q(q), float(gain_db))
        self.reset()

    @staticmethod
    def _clamp_q(q):
        return min(max(float(q), 0.05), 50.0)

    def set(self, freq_hz=None, q=None, gain_db=None):
        """New target parameters, reached by a smooth ramp across the next block."""
        f, qq, g = self.tgt
        self.tgt = (f if freq_hz is None else self._clamp_freq(freq_hz),
                    qq if q is None else self._clamp_q(q),
                    g if gain_db is None else float(gain_db))

    def _coeffs(self, p):
        return rbj_coeffs(self.kind, self.sample_rate, p[0], p[1], p[2])

    @staticmethod
    def _interp(cur, tgt, frac):
        return (cur[0] * (tgt[0] / cur[0]) ** frac, cur[1] * (tgt[1] / cur[1]) ** frac,
                cur[2] + (tgt[2] - cur[2]) * frac)

    @staticmethod
    def _segments(cur, tgt):
        return max(abs(math.log2(tgt[0] / cur[0])) / STEP_OCTAVES,
                   abs(math.log2(tgt[1] / cur[1])) / STEP_Q_OCTAVES,
                   abs(tgt[2] - cur[2]) / STEP_DB)


class OnePole(_Smoothed):
    """First-order (6 dB/octave) low- or high-pass, -3 dB at freq_hz (bilinear design).

    Same use as :class:`Biquad`: ``set(freq_hz=...)`` ramps, ``process(x, out)``,
    ``reset()``, ``response_db(freqs_hz)``.
    """

    def __init__(self, sample_rate, kind, freq_hz, channels=2, max_frames=2048):
        if kind not in ("lowpass", "highpass"):
            raise ValueError(f"one-pole kind {kind!r} is not lowpass or highpass")
        super().__init__(sample_rate, 1, channels, max_frames)
        self.kind = kind
        self.tgt = (self._clamp_freq(freq_hz),)
        self.reset()

    def set(self, freq_hz=None):
        """New cutoff, reached by a smooth ramp across the next block."""
        if freq_hz is not None:
            self.tgt = (self._clamp_freq(freq_hz),)

    def _coeffs(self, p):
        return one_pole_coeffs(self.kind, self.sample_rate, p[0])

    @staticmethod
    def _interp(cur, tgt, frac):
        return (cur[0] * (tgt[0] / cur[0]) ** frac,)

    @staticmethod
    def _segments(cur, tgt):
        return abs(math.log2(tgt[0] / cur[0])) / STEP_OCTAVES
