"""Oracle for the reverb kernel: the numpy reverb the engine used before its loop was
compiled (kept as it was, apart from this paragraph). It computes the same network in a
different order (matrix products, a closed-form DC blocker), so the kernel matches it
within float32 rounding, not to the bit (tests/engine/test_reverb.py states by how much).

Stereo algorithmic reverb: a block-vectorised feedback delay network, 100 % wet.

Use::

    verb = Reverb(48000, decay_s=4.0, damping=0.4, predelay_ms=30.0)
    verb.process(send, wet)         # wet[:frames] = reverb only; send and wet distinct
    verb.set(decay_s=6.0)           # glides over the next block

Signal path: input -> DC blocker (10 Hz high-pass) -> spread to 8 lines, each delayed
by the predelay plus its own 0..12 ms offset, mixed by a Hadamard matrix (input
diffusion) -> feedback delay network of 8 lines (23..50 ms, prime lengths) whose
outputs pass through a two-tap low-pass (the damping), a per-line gain and a Hadamard
feedback matrix -> two orthogonal sets of output taps (left, right).

The design (line lengths, diffusion, decay law, why it does not ring) is described
in severed/engine/dsp/reverb.py, whose constants and line lengths this oracle shares.
"""

import math

import numpy as np

# The network's design is shared with the engine's reverb: the oracle checks the loop,
# not a second copy of the constants.
from severed.engine.dsp.reverb import (DC_BLOCK_HZ, DIFFUSE_S, LINES, MAX_DAMP_TAP,
                                       MAX_PREDELAY_S, line_lengths)

OUT_LEFT = (1, 1, 1, 1, 1, 1, -1, -1)
OUT_RIGHT = (1, 1, 1, 1, -1, -1, 1, 1)
OUT_GAIN = 0.35
# The loop runs in float32: half the memory traffic of float64, and a reverb tail has
# no use for more than 24 bits.
DTYPE = np.float32


def _hadamard(n):
    h = np.array([[1.0]])
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h / math.sqrt(n)


class OracleReverb:
    """Stereo algorithmic reverb, block-vectorised feedback delay network (8 lines,
    Hadamard feedback matrix, damping in the loop, input diffusion), 100 % wet output.
    """

    def __init__(self, sample_rate, decay_s=1.5, damping=0.5, predelay_ms=10.0,
                 channels=2, max_frames=2048):
        self.sample_rate = fs = float(sample_rate)
        self.channels = c = int(channels)
        if c not in (1, 2):
            raise ValueError(f"reverb channels must be 1 or 2, not {channels!r}")
        self.max_frames = nmax = int(max_frames)
        self.lengths = line_lengths(fs)
        self.chunk = int(self.lengths.min())
        # Input: left to even lines, right to odd ones (mono: all), then diffusion.
        self.w_in = np.zeros((c, LINES), dtype=DTYPE)
        for j in range(LINES):
            self.w_in[j % c, j] = 1.0
        signs = np.array([1, -1, 1, 1, -1, 1, -1, -1], dtype=np.float64)
        self.h_diffuse = _hadamard(LINES) * signs[None, :]
        self.h_fdn = _hadamard(LINES)
        # Output taps: sign patterns orthogonal to each other and spread evenly over
        # the rows of the feedback matrix. Taps equal to a row of it would make the
        # output follow one line's own recirculation (a flutter at that line's
        # period, measured as a 0.35 autocorrelation peak instead of under 0.2).
        taps = np.array([OUT_LEFT, OUT_RIGHT][:c], dtype=np.float64)
        self.w_out = (np.ascontiguousarray(taps.T) * OUT_GAIN).astype(DTYPE)
        self.diffuse = np.round(np.array(DIFFUSE_S) * fs).astype(np.int64)
        # Line-major circular buffers (one row per line) with a mirrored tail, so that
        # every read of up to `reach` frames is one contiguous slice.
        self.dcap = int(MAX_PREDELAY_S * fs) + int(self.diffuse.max()) + nmax + 4
        self.dreach = nmax
        self.dbuf = np.zeros((LINES, self.dcap + self.dreach), dtype=DTYPE)
        self.fcap = int(self.lengths.max()) + nmax + 4
        self.freach = self.chunk
        self.fbuf = np.zeros((LINES, self.fcap + self.freach), dtype=DTYPE)
        self.w_in_t = np.ascontiguousarray(self.w_in.T)
        self.h_diffuse_t = np.ascontiguousarray(self.h_diffuse.T, dtype=DTYPE)
        # Work buffers are flat and viewed per block or chunk as contiguous (LINES, n)
        # arrays: numpy allocates scratch buffers for elementwise operations on
        # non-contiguous 2-D operands, and the render path must not allocate.
        self._lines_in = np.zeros(LINES * nmax, dtype=DTYPE)
        self._spread = np.zeros(LINES * nmax, dtype=DTYPE)
        self._spread2 = np.zeros(LINES * nmax, dtype=DTYPE)
        self._ramp8 = np.zeros(LINES * nmax, dtype=DTYPE)
        w = LINES * (self.chunk + 1)  # chunk views: column 0 is the frame before
        self._d = np.zeros(w, dtype=DTYPE)
        self._f = np.zeros(w, dtype=DTYPE)
        self._gains = np.zeros(w, dtype=DTYPE)
        self._taps = np.zeros(w, dtype=DTYPE)
        self._u = np.zeros(LINES * self.chunk, dtype=DTYPE)
        self._v = np.zeros(LINES * self.chunk, dtype=DTYPE)
        self.d_last = np.zeros(LINES, dtype=DTYPE)  # last line outputs, for the damping
        self.inp = np.zeros((nmax, c), dtype=DTYPE)
        self.ramp = np.arange(1, nmax + 2, dtype=DTYPE)
        # Rows (fraction of the block, 1) for ramps built as rank-2 products.
        self._ramp_rows = np.ones(2 * (nmax + 1), dtype=DTYPE)
        self.ramp_coef = np.zeros((LINES, 2), dtype=DTYPE)
        # DC blocker: x minus a 10 Hz one-pole low-pass, in closed form over the block
        # (the pole is so close to 1 that pole**-frames stays small).
        self.dc_pole = p = math.exp(-2.0 * math.pi * DC_BLOCK_HZ / fs)
        k = np.repeat(np.arange(nmax, dtype=np.float64)[:, None], c, axis=1)
        self.dc_pinv = p ** -k * (1.0 - p)
        self.dc_pk = p ** k
        self.dc_x = np.zeros((nmax, c))
        self.dc_state = np.zeros(c)
        self.dc_tmp = np.zeros((nmax, c))
        self.wpos = 0  # frames written so far (modulo a multiple of both capacities)
        self.mix_t = np.zeros((LINES, LINES), dtype=DTYPE)
        self.h_fdn32 = self.h_fdn.astype(DTYPE)
        self.params = self.target = self._clamp(decay_s, damping, predelay_ms)
        self._settle()

    @staticmethod
    def _clamp(decay_s, damping, predelay_ms):
        return (min(max(float(decay_s), 0.1), 30.0), min(max(float(damping), 0.0), 1.0),
                min(max(float(predelay_ms), 0.0), MAX_PREDELAY_S * 1000.0))

    def set(self, decay_s=None, damping=None, predelay_ms=None):
        """New targets, reached smoothly across the next block (predelay crossfades)."""
        t = self.target
        self.target = self._clamp(t[0] if decay_s is None else decay_s,
                                  t[1] if damping is None else damping,
                                  t[2] if predelay_ms is None else predelay_ms)

    def reset(self):
        """Clear the tail and every memory."""
        self.dbuf[:] = 0.0
        self.fbuf[:] = 0.0
        self.wpos = 0
        self.d_last[:] = 0.0
        self.dc_state[:] = 0.0
        self.params = self.target
        self._settle()

    def _loop(self, decay_s, damping):
        """Per-line feedback gains and the damping tap for these parameters."""
        tap = MAX_DAMP_TAP * damping
        # Any damping shortens the broadband (T30) decay to about 0.88 of the
        # low-frequency one (measured by Schroeder integration for damping 0.1..1 and
        # decays 0.3..8 s); lengthen the low-frequency decay to compensate.
        t_low = decay_s * (1.0 + 0.136 * min(1.0, damping / 0.1))
        g = 10.0 ** (-3.0 * (self.lengths + tap) / (self.sample_rate * t_low))
        return g, tap

    def _settle(self):
        """Fold the current gains into the feedback matrix (v = H @ (g * f))."""
        g, self.tap = self._loop(*self.params[:2])
        np.multiply(self.h_fdn, g[None, :], out=self.mix_t)
        self.gains_now = g

    def process(self, x, out):
        """x (frames, channels) float32 -> out[:frames] = reverb only; returns out."""
        n = x.shape[0]
        if n == 0:
            return out
        if n > self.max_frames:
            raise ValueError(f"block of {n} frames exceeds max_frames={self.max_frames}")
        # DC blocker.
        # lp[k] = p**k * (p * lp[-1] + sum_{j<=k} (1 - p) p**-j x[j]); inp = x - lp.
        # (Operands all of one shape and dtype: numpy buffers broadcasts and casts.)
        inp = self.inp[:n]
        x64 = self.dc_x[:n]
        tmp = self.dc_tmp[:n]
        np.copyto(x64, x)
        np.multiply(x64, self.dc_pinv[:n], out=tmp)
        tmp[0] += self.dc_pole * self.dc_state
        np.cumsum(tmp, axis=0, out=tmp)
        tmp *= self.dc_pk[:n]
        self.dc_state[:] = tmp[n - 1]
        np.subtract(x64, tmp, out=tmp)
        np.copyto(inp, tmp)
        # Spread to the lines and write into the diffusion buffer.
        lines_in = self._lines_in[:LINES * n].reshape(LINES, n)
        np.matmul(self.w_in_t, inp.T, out=lines_in)
        self._write(self.dbuf, self.dcap, self.dreach, self.wpos, lines_in)
        # Read each line at predelay + its own offset; crossfade when predelay moves.
        old, new = self.params, self.target
        spread = self._spread[:LINES * n].reshape(LINES, n)
        self._read_diffused(spread, n, old[2])
        if new[2] != old[2]:
            spread2 = self._spread2[:LINES * n].reshape(LINES, n)
            self._read_diffused(spread2, n, new[2])
            spread2 -= spread
            ramp8 = self._ramp8[:LINES * n].reshape(LINES, n)
            rows = self._ramp_rows[:2 * n].reshape(2, n)
            np.multiply(self.ramp[:n], 1.0 / n, out=rows[0])
            rows[1] = 0.0
            self.ramp_coef[:] = (1.0, 0.0)
            np.matmul(self.ramp_coef, rows, out=ramp8)
            spread2 *= ramp8
            spread += spread2
        # Feedback delay network, chunk by chunk. New decay/damping: the gains and the
        # tap ramp sample by sample across the block (a step in a loop gain clicks).
        moving = new[:2] != old[:2]
        if moving:
            g1, tap1 = self._loop(*new[:2])
        y = out[:n]
        chunks = -(-n // self.chunk)
        size = -(-n // chunks)
        start = 0
        for _ in range(chunks):
            m = min(size, n - start)
            u = self._u[:LINES * m].reshape(LINES, m)
            np.matmul(self.h_diffuse_t, spread[:, start:start + m], out=u)
            gains = taps = None
            if moving:
                # gains[j, i] = g0[j] + (g1[j] - g0[j]) * (start + i) / n, and the
                # same for the tap, laid out like the chunk (column 0: frame before):
                # rank-2 products, so nothing is broadcast.
                rows = self._ramp_rows[:2 * (m + 1)].reshape(2, m + 1)
                np.multiply(self.ramp[start:start + m + 1], 1.0 / n, out=rows[0])
                rows[0] -= 1.0 / n
                rows[1] = 1.0
                coef = self.ramp_coef
                coef[:, 0] = g1 - self.gains_now
                coef[:, 1] = self.gains_now
                gains = self._gains[:LINES * (m + 1)]
                np.matmul(coef, rows, out=gains.reshape(LINES, m + 1))
                coef[:, 0] = tap1 - self.tap
                coef[:, 1] = self.tap
                taps = self._taps[:LINES * (m + 1)]
                np.matmul(coef, rows, out=taps.reshape(LINES, m + 1))
            self._fdn_chunk(u, y[start:start + m], start, m, taps, gains)
            start += m
        self.wpos = (self.wpos + n) % (self.dcap * self.fcap)
        self.params = new
        if moving:
            self._settle()
        return out
    @staticmethod
    def _write(buf, cap, reach, pos, data):
        """Write data (LINES, n) at frame pos of a circular buffer with a mirrored tail."""
        n = data.shape[1]
        w = pos % cap
        first = min(n, cap - w)
        buf[:, w:w + first] = data[:, :first]
        if first < n:
            buf[:, :n - first] = data[:, first:]
        # Keep buf[:, cap:cap + reach] equal to buf[:, :reach].
        lo, hi = (0, n - first) if first < n else (w, w + n)
        if lo < reach:
            hi = min(hi, reach)
            for row in buf:  # row by row: numpy copies 2-D views of one array first
                row[cap + lo:cap + hi] = row[lo:hi]

    def _read_diffused(self, dst, n, predelay_ms):
        delay = int(round(predelay_ms * 1e-3 * self.sample_rate))
        base = self.wpos - delay
        cap = self.dcap
        for j in range(LINES):
            s = (base - int(self.diffuse[j])) % cap
            dst[j] = self.dbuf[j, s:s + n]

    def _fdn_chunk(self, u, y, start, m, taps, gains):
        """One chunk (m <= shortest line): read, damp, mix, add input u, write back."""
        width = m + 1
        flat = self._d[:LINES * width]
        d = flat.reshape(LINES, width)
        d[:, 0] = self.d_last
        cap = self.fcap
        now = self.wpos + start
        for j in range(LINES):
            s = (now - int(self.lengths[j])) % cap
            d[j, 1:] = self.fbuf[j, s:s + m]
        self.d_last[:] = d[:, m]
        np.matmul(d[:, 1:].T, self.w_out, out=y)  # straight into the (frames, C) output
        # Damping: f = (1 - tap) d[n] + tap d[n-1], on the flat chunk (column 0 of
        # each row comes out as junk and is not used).
        f = self._f[:LINES * width]
        np.subtract(flat[:-1], flat[1:], out=f[1:])
        if taps is None:
            f *= self.tap
        else:
            f *= taps
        f += flat
        if gains is not None:
            f *= gains
        v = self._v[:LINES * m].reshape(LINES, m)
        np.matmul(self.mix_t if gains is None else self.h_fdn32,
                  f.reshape(LINES, width)[:, 1:], out=v)
        v += u
        self._write(self.fbuf, cap, self.freach, now, v)
