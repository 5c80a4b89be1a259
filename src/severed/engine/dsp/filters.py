"""Recursive filters on (frames, channels) float32 blocks, with numpy only.

Use::

    lp = Biquad(48000, "lowpass", 800.0, q=0.7071, channels=2, max_frames=2048)
    lp.process(block, out=block)        # in place; state carries to the next call
    lp.set(freq_hz=1200.0)              # reached smoothly across the next block

    hp = OnePole(48000, "highpass", 20.0)
    hp.process(block, out=block)

How a recursion is vectorised (no Python loop over samples, no scipy): a filter is
split into its FIR part (numerator) and an all-pole part of order K (1..3), in direct
form I, whose state is the last K inputs and the last K outputs. A block is cut into
rows of M samples. Within a row the zero-state response is one matrix product with
the row's lower-triangular Toeplitz matrix of the impulse response; the state at each
row start follows a K-dimensional linear recursion from row to row (transition A**M),
which is solved for all rows at once by one product with a block-triangular matrix of
powers of A**M; the state's contribution is added by one more small product. Every
table holds powers of a stable matrix, so nothing grows (unlike a cumsum of p**-k),
and the result equals the sample-by-sample recursion to float64 rounding. Tables are
cached and rebuilt only when the coefficients change.

The state is kept as past inputs and outputs, which mean the same thing whatever the
coefficients are: a coefficient change therefore never makes the output jump. Changes
from ``set`` are spread over the next block in up to 8 segments, interpolated in
log-frequency, log-Q and dB, with as many segments as the size of the change needs
(a slow LFO costs one table rebuild per block, a fast sweep eight).
"""

import math

import numpy as np

ROW = 32  # samples per row: balances the row product (M**2) against the carry (rows**2)
KINDS = ("lowpass", "highpass", "bandpass", "notch", "peak", "lowshelf", "highshelf",
         "allpass")
MAX_SEGMENTS = 8
# Largest coefficient move allowed within one segment of a ramp: beyond this a
# sweep is cut into more segments (up to MAX_SEGMENTS per block).
STEP_OCTAVES = 1.0 / 12.0
STEP_Q_OCTAVES = 1.0 / 8.0
STEP_DB = 0.5


def _powers(a, count, out):
    """Fill out[:count] with a**0 .. a**(count-1) for a stack of square matrices.

    ``a`` has shape (C, K, K); ``out`` (>= count, C, K, K). Doubling: log2(count) batched
    products, so a table of 64 powers costs six numpy calls.
    """
    k = a.shape[-1]
    out[0] = np.eye(k)
    if count > 1:
        out[1] = a
    filled = min(count, 2)
    while filled < count:
        step = min(filled, count - filled)
        np.matmul(out[:step], out[filled - 1] @ a, out=out[filled:filled + step])
        filled += step
    return out[:count]


class IIRCore:
    """A direct-form-I IIR filter of order 1..3 on (C, n) float64 rows, block-vectorised.

    ``set_coeffs(b, a)`` takes numerators (C or 1, K+1) and denominators without the
    leading 1 (C or 1, K), so every channel may have its own filter (the reverb uses
    that for its delay lines). ``run(x, y, n)`` filters x[:, :n] into y[:, :n] (float64;
    x and y may be the same array). Internal building block of this package.
    """

    def __init__(self, order, channels, max_frames, row=ROW):
        self.k = k = int(order)
        self.c = c = int(channels)
        self.m = m = int(row)
        self.max_rows = r = max(1, -(-int(max_frames) // m))
        np_ = r * m
        self.xrows = np.zeros((c, np_))
        self.yrows = np.zeros((c, np_))
        self.xtail = np.zeros((c, r, k))
        self.ucarry = np.zeros((c, 1, r * k))
        self.sstart = np.zeros((c, 1, r * k))
        self.stmp = np.zeros((c, 1, r * k))
        self.tmp_rows = np.zeros((c, r, m))
        self.xhist = np.zeros((c, k))  # x[-1], x[-2], ... (most recent first)
        self.yhist = np.zeros((c, 1, k))  # y[-1], y[-2], ...
        self.b = None
        self.a = None
        self.built_rows = 0
        # Index tables for turning a sequence into a Toeplitz/triangular matrix.
        jj, mm = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
        self._toe_idx = np.where(mm >= jj, mm - jj, m)  # m points at a zero slot
        kk, rr = np.meshgrid(np.arange(r), np.arange(r), indexing="ij")
        self._carry_idx = np.where(rr > kk, rr - 1 - kk, r)
        self._pw = np.zeros((m + 1, c, k, k))
        self._phipw = np.zeros((r + 1, c, k, k))

    def reset(self):
        self.xhist[:] = 0.0
        self.yhist[:] = 0.0

    def set_coeffs(self, b, a, rows=None):
        """Use these coefficients from now on; tables are rebuilt only if they changed."""
        b = np.asarray(b, dtype=np.float64).reshape(-1, self.k + 1)
        a = np.asarray(a, dtype=np.float64).reshape(-1, self.k)
        rows = self.max_rows if rows is None else min(max(int(rows), 1), self.max_rows)
        if (self.b is not None and rows <= self.built_rows and self.b.shape == b.shape
                and np.array_equal(self.b, b) and np.array_equal(self.a, a)):
            return
        self.b, self.a = b.copy(), a.copy()
        self._build(rows)

    def _build(self, rows):
        k, m = self.k, self.m
        cc = self.b.shape[0]
        comp = np.zeros((cc, k, k))
        comp[:, 0, :] = -self.a
        for i in range(1, k):
            comp[:, i, i - 1] = 1.0
        pw = _powers(comp, m + 1, self._pw[:, :cc])  # (m+1, cc, k, k)
        h = np.zeros((cc, m + 1))
        h[:, :m] = pw[:m, :, 0, 0].T  # all-pole impulse response
        # Zero-state response of the whole filter to one row of input.
        g = np.zeros((cc, m + 1))
        for j in range(k + 1):
            g[:, j:m] += self.b[:, j:j + 1] * h[:, :m - j]
        self.hmat = g[:, self._toe_idx]  # (cc, m, m): hmat[j, n] = g[n - j]
        # Response to the K inputs before the row (FIR history).
        self.hx = np.zeros((cc, k, m))
        for i in range(k):
            for j in range(i + 1, k + 1):
                lag = j - 1 - i
                self.hx[:, i, lag:] += self.b[:, j:j + 1] * h[:, :m - lag]
        # Response to the K outputs before the row (all-pole state).
        self.omat = np.ascontiguousarray(pw[1:m + 1, :, 0, :].transpose(1, 2, 0))
        phipw = _powers(pw[m], rows + 1, self._phipw[:, :cc])  # (rows+1, cc, k, k)
        phit = np.zeros((rows + 1, cc, k, k))
        phit[:rows] = phipw[:rows].transpose(0, 1, 3, 2)
        # carry[(s,i),(r,j)] = (Phi**(r-1-s)).T[i, j] for s < r: the row-start state
        # of row r from the forced end states of rows s < r.
        carry_idx = self._carry_idx[:rows, :rows] if rows == self.max_rows else \
            np.where(np.arange(rows)[None, :] > np.arange(rows)[:, None],
                     np.arange(rows)[None, :] - 1 - np.arange(rows)[:, None], rows)
        blocks = phit[carry_idx]  # (rows, rows, cc, k, k) as [s, r, c, i, j]
        self.carry = np.ascontiguousarray(
            blocks.transpose(2, 0, 3, 1, 4).reshape(cc, rows * k, rows * k))
        # initial: row-start state of row r from the state before the block.
        self.initial = np.ascontiguousarray(
            phipw[:rows].transpose(1, 3, 0, 2).reshape(cc, k, rows * k))
        self.built_rows = rows

    def run(self, x, y, n):
        """Filter x[:, :n] into y[:, :n] (both (C, >= n) float64)."""
        if n <= 0:
            return
        k, m, c = self.k, self.m, self.c
        r = -(-n // m)
        if r > self.built_rows:
            self._build(r)
        npad = r * m
        xr = self.xrows
        xr[:, :n] = x[:, :n]
        if npad > n:
            xr[:, n:npad] = 0.0
        xv = xr[:, :npad].reshape(c, r, m)
        xt = self.xtail[:, :r]
        xt[:, 0, :] = self.xhist
        for i in range(k):
            if r > 1:
                xt[:, 1:, i] = xr[:, m - 1 - i:(r - 1) * m:m]
        yv = self.yrows[:, :npad].reshape(c, r, m)
        np.matmul(xv, self.hmat, out=yv)
        tmp = self.tmp_rows[:, :r]
        np.matmul(xt, self.hx, out=tmp)
        yv += tmp
        # Forced end-of-row states (y[M-1], ..., y[M-K]) of every row.
        uc = self.ucarry[:, :, :r * k]
        uc.reshape(c, r, k)[:] = yv[:, :, m - k:][:, :, ::-1]
        kr = r * k
        ss = self.sstart[:, :, :kr]
        if r > 1:
            np.matmul(uc, self.carry[:, :kr, :kr], out=ss)
            np.matmul(self.yhist, self.initial[:, :, :kr], out=self.stmp[:, :, :kr])
            ss += self.stmp[:, :, :kr]
        else:
            np.matmul(self.yhist, self.initial[:, :, :kr], out=ss)
        np.matmul(ss.reshape(c, r, k), self.omat, out=tmp)
        yv += tmp
        yflat = self.yrows
        # New history: the last K inputs and outputs (older ones when n < K).
        if n >= k:
            self.xhist[:] = xr[:, n - 1::-1][:, :k] if n == k else xr[:, n - 1:n - k - 1:-1]
            self.yhist[:, 0, :] = yflat[:, n - 1::-1][:, :k] if n == k else \
                yflat[:, n - 1:n - k - 1:-1]
        else:
            self.xhist[:, n:] = self.xhist[:, :k - n].copy()
            self.xhist[:, :n] = xr[:, n - 1::-1][:, :n]
            self.yhist[:, 0, n:] = self.yhist[:, 0, :k - n].copy()
            self.yhist[:, 0, :n] = yflat[:, n - 1::-1][:, :n]
        y[:, :n] = yflat[:, :n]


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
    """Shared block plumbing: (frames, channels) float32 <-> (channels, frames) float64,
    and the segmented ramp from the current parameters to the target."""

    def __init__(self, sample_rate, order, channels, max_frames):
        self.sample_rate = float(sample_rate)
        self.channels = int(channels)
        self.max_frames = int(max_frames)
        self.core = IIRCore(order, self.channels, self.max_frames)
        self.work = np.zeros((self.channels, self.max_frames))

    def _coeffs(self, params):
        raise NotImplementedError

    def _segments(self, cur, tgt):
        raise NotImplementedError

    def _clamp_freq(self, freq_hz):
        return min(max(float(freq_hz), 1.0), 0.49 * self.sample_rate)

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
        work = self.work
        work[:, :frames] = x.T
        if self.cur == self.tgt:
            self.core.run(work, work, frames)
        else:
            nseg = self._segments(self.cur, self.tgt)
            nseg = max(1, min(nseg, MAX_SEGMENTS, frames))
            edges = [round(frames * i / nseg) for i in range(nseg + 1)]
            start = self.cur
            for i in range(nseg):
                frac = (i + 1) / nseg
                p = self._interp(start, self.tgt, frac)
                lo, hi = edges[i], edges[i + 1]
                b, a = self._coeffs(p)
                self.core.set_coeffs(b, a, rows=-(-(hi - lo) // self.core.m))
                seg = work[:, lo:hi]
                self.core.run(seg, seg, hi - lo)
            self.cur = self.tgt
            b, a = self._coeffs(self.cur)
            self.b_now, self.a_now = b, a
        out[:frames] = work[:, :frames].T
        return out

    def reset(self):
        """Clear the filter memories (the next block starts from silence)."""
        self.core.reset()
        self.cur = self.tgt
        b, a = self._coeffs(self.cur)
        self.core.set_coeffs(b, a)
        self.b_now, self.a_now = b, a

    def response_db(self, freqs_hz):
        """Magnitude response (dB) of the coefficients the filter is set to (the target
        of a ramp in progress) at the given frequencies."""
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
        need = max(abs(math.log2(tgt[0] / cur[0])) / STEP_OCTAVES,
                   abs(math.log2(tgt[1] / cur[1])) / STEP_Q_OCTAVES,
                   abs(tgt[2] - cur[2]) / STEP_DB)
        return math.ceil(need)


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
        return math.ceil(abs(math.log2(tgt[0] / cur[0])) / STEP_OCTAVES)
