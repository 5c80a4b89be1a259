"""Stereo algorithmic reverb: a feedback delay network, 100 % wet.

Use::

    verb = Reverb(48000, decay_s=4.0, damping=0.4, predelay_ms=30.0)
    verb.process(send, wet)         # wet[:frames] = reverb only; send and wet distinct
    verb.set(decay_s=6.0)           # glides over the next block

Signal path: input -> DC blocker (10 Hz high-pass) -> spread to 8 lines, each delayed
by the predelay plus its own 0..12 ms offset, mixed by a Hadamard matrix (input
diffusion) -> feedback delay network of 8 lines (23..50 ms, prime lengths) whose
outputs pass through a two-tap low-pass (the damping), a per-line gain and a Hadamard
feedback matrix -> two orthogonal sets of output taps (left, right).

The loop is compiled (``kernels.reverb``, src/severed/engine/kernels/reverb.c). Every
line is longer than the chunk being processed, so a whole chunk of line outputs can be
read before any of the chunk is written, and each step is a loop over a chunk's frames
(vectorised by the compiler); a block larger than the shortest line is processed in
2..3 chunks. This class keeps the parameters, the decay law and the buffers; nothing
is allocated per block. The loop runs in float32 (the DC blocker in doubles).

How it avoids metallic ringing: line lengths are distinct primes spread irregularly
over an octave (no common periods); the feedback matrix is a Hadamard matrix (every
line feeds every other with equal energy); the input is pre-diffused so the echo
density is high from the first pass; the output taps are spread over all rows of the
feedback matrix (taps equal to one of its rows make the output follow one line's own
recirculation, a flutter at that line's period); and the damping lowers the
high-frequency resonances first. Measured: the normalised autocorrelation of the
tail stays below 0.21 at every lag from 2 to 200 ms (equal line lengths, a comb,
show 0.95; taps on one matrix row 0.35).

Decay: a line of L samples gets the gain 10**(-3 L / (fs T)), so every path loses
60 dB in T seconds at low frequencies whatever its route. Damping shortens the
broadband decay (to about 0.88 of T for any damping from 0.1 up), so T is set 13.6 %
longer than decay_s when there is damping: the broadband RT60 (Schroeder T30 of the
impulse response) is then within 1 % of decay_s from 0.3 to 8 s (measured). The
feedback matrix is orthogonal and every gain is below 1, so the network is stable
for any parameters, which are clamped: decay_s 0.1..30, damping 0..1, predelay_ms
0..500. Changes of decay and damping ramp sample by sample across the next block;
a predelay change crossfades. The wet level grows with the decay, as in a room: for
white noise in, the output RMS is about 1.9x the input at 1.5 s, 4x at 8 s
(damping 0).
"""

import math

import numpy as np

from severed.engine.compiled import kernels

LINES = 8
LINE_S = (0.0233, 0.0497)  # shortest and longest line; >= 1024 frames at 44.1 kHz
DIFFUSE_S = (0.0, 0.0029, 0.0041, 0.0059, 0.0073, 0.0087, 0.0103, 0.0119)
MAX_PREDELAY_S = 0.5
DC_BLOCK_HZ = 10.0
MAX_DAMP_TAP = 0.5  # damping 1: taps (0.5, 0.5), a zero at Nyquist
# The line rings hold this many chunks beyond the longest line, so that most chunks
# are read and written without wrapping (a wrapped chunk is copied once more).
RING_SLACK_CHUNKS = 2


def _is_prime(n):
    if n < 2:
        return False
    for p in range(2, int(math.isqrt(n)) + 1):
        if n % p == 0:
            return False
    return True


def line_lengths(sample_rate):
    """Eight distinct prime lengths (frames), log-spaced over LINE_S, jittered so their
    ratios are irregular."""
    jitter = (0.0, 0.37, 0.11, 0.52, 0.23, 0.61, 0.31, 0.0)
    out = []
    for i in range(LINES):
        u = (i + jitter[i] * 0.6) / (LINES - 1)
        n = int(round(sample_rate * LINE_S[0] * (LINE_S[1] / LINE_S[0]) ** min(u, 1.0)))
        while not _is_prime(n) or n in out:
            n += 1
        out.append(n)
    return np.array(out, dtype=np.int64)


class Reverb:
    """Stereo algorithmic reverb, feedback delay network (8 lines, Hadamard feedback
    matrix, damping in the loop, input diffusion), 100 % wet output."""

    def __init__(self, sample_rate, decay_s=1.5, damping=0.5, predelay_ms=10.0,
                 channels=2, max_frames=2048):
        self.sample_rate = fs = float(sample_rate)
        self.channels = c = int(channels)
        if c not in (1, 2):
            raise ValueError(f"reverb channels must be 1 or 2, not {channels!r}")
        self.max_frames = int(max_frames)
        # Line lengths, then each line's input offset (the input diffusion), as the
        # kernel takes them; `lengths` and `diffuse` are views of the two rows.
        self.lines = np.zeros((2, LINES), np.int64)
        self.lines[0] = line_lengths(fs)
        self.lines[1] = np.round(np.array(DIFFUSE_S) * fs)
        self.lengths, self.diffuse = self.lines
        chunk = int(self.lengths.min())
        # Left input to even lines, right to odd ones (mono: all): one predelay ring per
        # input channel, read by each line at the predelay plus its own offset.
        self.pcap = int(round(MAX_PREDELAY_S * fs)) + int(self.diffuse.max()) + chunk + 1
        self.pbuf = np.zeros((c, self.pcap), np.float32)
        self.fcap = int(self.lengths.max()) + 1 + RING_SLACK_CHUNKS * chunk
        self.fbuf = np.zeros((LINES, self.fcap), np.float32)
        self.work = np.zeros(3 * LINES * chunk + LINES, np.float32)
        self.dc_pole = math.exp(-2.0 * math.pi * DC_BLOCK_HZ / fs)
        self.dc_state = np.zeros(c)
        self.gains = np.zeros((2, LINES), np.float32)  # at the block's start, its end
        self.wpos = 0  # frames written, modulo pcap * fcap
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
        self.pbuf[:] = 0.0
        self.fbuf[:] = 0.0
        self.dc_state[:] = 0.0
        self.wpos = 0
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
        g, self.tap = self._loop(*self.params[:2])
        self.gains[0] = g
        self.gains[1] = g

    def _predelay(self, predelay_ms):
        return int(round(predelay_ms * 1e-3 * self.sample_rate))

    def process(self, x, out):
        """x (frames, channels) float32 -> out[:frames] = reverb only; returns out.
        New decay and damping ramp sample by sample across the block (a step in a loop
        gain clicks); a new predelay crossfades."""
        n = x.shape[0]
        if n == 0:
            return out
        if n > self.max_frames:
            raise ValueError(f"block of {n} frames exceeds max_frames={self.max_frames}")
        old, new = self.params, self.target
        moving = new[:2] != old[:2]
        tap1 = self.tap
        if moving:
            g1, tap1 = self._loop(*new[:2])
            self.gains[1] = g1
        kernels.reverb(x, out, self.pbuf, self.fbuf, self.work, self.dc_state, self.lines,
                       self.gains, self.wpos, self._predelay(old[2]), self._predelay(new[2]),
                       self.tap, tap1, self.dc_pole)
        self.wpos = (self.wpos + n) % (self.pcap * self.fcap)
        self.params = new
        if moving:
            self._settle()
        return out
