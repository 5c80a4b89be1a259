"""Oracle for the recursive-filter kernel: direct form I as a plain loop over samples.

The arithmetic is the kernel's, operation for operation, in Python floats (IEEE
doubles): y = b0*x + b1*x1 + ... + bK*xK - aK*yK - ... - a1*y1, rounded to the output
dtype; state magnitudes below 1e-30 are zeroed at the end of each call. So the
kernel must match it to the bit.

``OracleBiquad`` adds the ramp plan of severed.engine.dsp.filters, written out
independently: a change of target is reached across the next block in up to
MAX_SEGMENTS segments of equal length, parameters interpolated in log-frequency,
log-Q and dB. Coefficients come from the product's rbj_coeffs/one_pole_coeffs, which
the filter tests check against the RBJ cookbook and scipy on their own.
"""

import math

import numpy as np

from severed.engine.dsp.filters import (MAX_SEGMENTS, STEP_DB, STEP_OCTAVES,
                                        STEP_Q_OCTAVES, one_pole_coeffs, rbj_coeffs)

TINY = 1e-30


def direct_form_1(x, y, state, segments):
    """Filter x into y ((frames, C)) like kernels.iir: state (C, 2K) [x1..xK, y1..yK],
    segments rows [end, b0..bK, a1..aK]."""
    channels = x.shape[1]
    order = state.shape[1] // 2
    for c in range(channels):
        xs = [float(v) for v in state[c, :order]]  # newest first
        ys = [float(v) for v in state[c, order:]]
        n = 0
        for row in segments:
            end = int(row[0])
            b = [float(v) for v in row[1:order + 2]]
            a = [float(v) for v in row[order + 2:]]
            while n < end:
                xin = float(x[n, c])
                acc = b[0] * xin
                for j in range(order):
                    acc = acc + b[j + 1] * xs[j]
                for j in reversed(range(order)):
                    acc = acc - a[j] * ys[j]
                xs = [xin] + xs[:-1]
                ys = [acc] + ys[:-1]
                y[n, c] = acc
                n += 1
        state[c, :order] = [0.0 if abs(v) < TINY else v for v in xs]
        state[c, order:] = [0.0 if abs(v) < TINY else v for v in ys]


class OracleBiquad:
    """The Biquad (order 2) or OnePole (order 1) contract, slowly: set() then
    process(block) -> filtered copy."""

    def __init__(self, sample_rate, kind, params, order=2, channels=2):
        self.fs = float(sample_rate)
        self.kind = kind
        self.order = order
        self.cur = self.tgt = tuple(params)
        self.state = np.zeros((channels, 2 * order))

    def coeffs(self, p):
        if self.order == 1:
            return one_pole_coeffs(self.kind, self.fs, p[0])
        return rbj_coeffs(self.kind, self.fs, p[0], p[1], p[2])

    def set(self, params):
        self.tgt = tuple(params)

    def steps(self):
        cur, tgt = self.cur, self.tgt
        need = abs(math.log2(tgt[0] / cur[0])) / STEP_OCTAVES
        if self.order == 2:
            need = max(need, abs(math.log2(tgt[1] / cur[1])) / STEP_Q_OCTAVES,
                       abs(tgt[2] - cur[2]) / STEP_DB)
        return need

    def at(self, frac):
        cur, tgt = self.cur, self.tgt
        p = [cur[0] * (tgt[0] / cur[0]) ** frac]
        if self.order == 2:
            p += [cur[1] * (tgt[1] / cur[1]) ** frac, cur[2] + (tgt[2] - cur[2]) * frac]
        return p

    def process(self, x):
        frames = x.shape[0]
        y = np.zeros_like(x)
        if frames == 0:
            return y
        nseg = 1
        if self.cur != self.tgt:
            nseg = max(1, min(math.ceil(self.steps()), MAX_SEGMENTS, frames))
        rows = []
        for i in range(nseg):
            frac = (i + 1) / nseg
            b, a = self.coeffs(self.at(frac))
            rows.append([round(frames * frac), *b, *a])
        direct_form_1(x, y, self.state, rows)
        self.cur = self.tgt
        return y
