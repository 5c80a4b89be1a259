"""Loudness as ITU-R BS.1770-4 defines it: K-weighting, mean square, gating.

numpy and the compiled recursive filter only (no scipy, so it runs on the Pi)::

    lufs = integrated_loudness(audio, 48000)      # audio: (frames, channels)
    st = short_term_loudness(audio, 48000)        # one value per 100 ms, 3 s windows
    live = LiveMeter(48000, 2, max_frames=2048)   # on the render thread: block by block

K-weighting is two biquads: a high shelf (+4 dB above about 1.5 kHz, the head) and a
high-pass (the RLB curve, about 38 Hz). Their coefficients are derived from the
analogue prototypes for any sample rate (as libebur128 does); at 48 kHz they are the
ones printed in BS.1770-4. Integrated loudness: the mean square of each channel over
400 ms blocks every 100 ms, weighted per channel (1 for left, right and centre, 1.41
for the surrounds) and summed; blocks below -70 LUFS are left out (absolute gate),
then blocks more than 10 LU below the loudness of the rest (relative gate). Tested
against the signals of EBU Tech 3341 (tests/loudness/test_meter.py) and, where it is
installed, against pyloudnorm.
"""

import math

import numpy as np

from severed.engine.dsp.filters import IIRCore

OFFSET = -0.691  # makes a 1 kHz sine at 0 dBFS in one channel read -3.01 LUFS
ABSOLUTE_GATE = -70.0
RELATIVE_GATE = -10.0
BLOCK_S = 0.4  # the gating block (momentary loudness)
STEP_S = 0.1  # 75 % overlap
SHORT_TERM_S = 3.0
SILENCE = -math.inf  # the loudness of nothing (every block gated out)


def k_weighting(sample_rate):
    """((b, a) of the shelf, (b, a) of the high-pass); a without its leading 1."""
    fs = float(sample_rate)
    # Stage 1: the head's high shelf.
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / fs)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = ((np.array([vh + vb * k / q + k * k, 2.0 * (k * k - vh),
                        vh - vb * k / q + k * k]) / a0),
             np.array([2.0 * (k * k - 1.0), 1.0 - k / q + k * k]) / a0)
    # Stage 2: the RLB high-pass.
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / fs)
    a0 = 1.0 + k / q + k * k
    highpass = (np.array([1.0, -2.0, 1.0]),
                np.array([2.0 * (k * k - 1.0), 1.0 - k / q + k * k]) / a0)
    return shelf, highpass


def channel_weights(channels):
    """BS.1770's weights: 1 for L, R, C (and mono), 1.41 for the surrounds of 5.x;
    the LFE (4th of 6) is left out."""
    if channels == 6:
        return np.array([1.0, 1.0, 1.0, 0.0, 1.41, 1.41])
    if channels == 5:
        return np.array([1.0, 1.0, 1.0, 1.41, 1.41])
    return np.ones(channels)


class KWeighting:
    """The K-weighting filter, state kept between calls (float64 throughout)."""

    def __init__(self, sample_rate, channels):
        self.stages = []
        for b, a in k_weighting(sample_rate):
            stage = IIRCore(2, channels)
            stage.set_coeffs(b, a)
            self.stages.append(stage)

    def process(self, x):
        """K-weighted copy of ``x`` (frames, channels), as float64."""
        y = np.array(x, dtype=np.float64, order="C", copy=True)
        for stage in self.stages:
            stage.run(y, y, len(y))
        return y


def _as_frames(audio):
    audio = np.asarray(audio)
    return audio[:, None] if audio.ndim == 1 else audio


def block_powers(audio, sample_rate, block_s=BLOCK_S, step_s=STEP_S):
    """The weighted sum over channels of each block's K-weighted mean square: blocks of
    ``block_s`` every ``step_s`` that fit wholly in the signal."""
    audio = _as_frames(audio)
    weighted = KWeighting(sample_rate, audio.shape[1]).process(audio)
    step = int(round(step_s * sample_rate))
    block = int(round(block_s * sample_rate))
    if len(weighted) < block:
        return np.zeros(0)
    np.square(weighted, out=weighted)
    total = np.concatenate([[0.0], np.cumsum(weighted @ channel_weights(audio.shape[1]))])
    starts = np.arange(0, len(weighted) - block + 1, step)
    return np.maximum(total[starts + block] - total[starts], 0.0) / block


def power_to_lufs(power):
    return OFFSET + 10.0 * math.log10(power) if power > 0.0 else SILENCE


def integrated_loudness(audio, sample_rate):
    """Gated integrated loudness of ``audio`` (frames, channels) in LUFS; -inf when
    every block is gated out (silence, or shorter than 400 ms)."""
    powers = block_powers(audio, sample_rate)
    return gated_loudness(powers)


def gated_loudness(powers):
    """Integrated loudness from the blocks' weighted mean squares (BS.1770-4 gating)."""
    powers = np.asarray(powers, dtype=np.float64)
    with np.errstate(divide="ignore"):
        lufs = OFFSET + 10.0 * np.log10(powers)
    kept = powers[lufs > ABSOLUTE_GATE]
    if not kept.size:
        return SILENCE
    relative = power_to_lufs(float(kept.mean())) + RELATIVE_GATE
    with np.errstate(divide="ignore"):
        kept = kept[OFFSET + 10.0 * np.log10(kept) > relative]
    return power_to_lufs(float(kept.mean()))


def short_term_loudness(audio, sample_rate):
    """Short-term loudness (3 s windows, ungated) every 100 ms, in LUFS."""
    powers = block_powers(audio, sample_rate, block_s=SHORT_TERM_S)
    with np.errstate(divide="ignore"):
        return OFFSET + 10.0 * np.log10(powers)


def momentary_loudness(audio, sample_rate):
    """Momentary loudness (400 ms windows) every 100 ms, in LUFS."""
    powers = block_powers(audio, sample_rate)
    with np.errstate(divide="ignore"):
        return OFFSET + 10.0 * np.log10(powers)


class LiveMeter:
    """Short-term loudness (the last 3 s) of what is played, block by block: for
    ``severed status``. Made for the render thread: after construction it allocates
    nothing; each block is K-weighted into a buffer of its own by the compiled
    biquads and its sum of squares kept in a ring covering at least 3 s::

        meter = LiveMeter(48000, 2, max_frames=2048)
        meter.process(block)       # every block played
        meter.lufs                 # -inf until something is heard

    The window is whole blocks (3 s and less than one block more). Channels are
    weighted 1 (left, right, centre: what severed plays)."""

    def __init__(self, sample_rate, channels, max_frames, window_s=SHORT_TERM_S):
        # The filter's stages, run block by block into a buffer of our own (no copy).
        self.stages = KWeighting(sample_rate, channels).stages
        self.window = int(round(window_s * sample_rate))
        self._buf = np.zeros((max_frames, channels), np.float32)
        size = self.window // 16 + 2  # blocks of 16 frames at the least
        self._energy = np.zeros(size)
        self._frames = np.zeros(size, np.int64)
        self._head = self._count = 0
        self._sum = 0.0
        self._sum_frames = 0
        self.lufs = SILENCE

    def process(self, block):
        n = len(block)
        if n == 0:
            return
        first, second = self.stages
        if n > len(self._buf):  # a block larger than promised: measure its head only
            n = len(self._buf)
        buf = self._buf[:n]
        first.run(np.ascontiguousarray(block[:n]), buf, n)
        second.run(buf, buf, n)
        flat = buf.reshape(-1)
        energy = float(np.dot(flat, flat))
        size = len(self._energy)
        slot = (self._head + self._count) % size
        if self._count == size:  # full: the oldest goes (cannot happen with 16+ frames)
            self._drop_oldest()
            slot = (self._head + self._count) % size
        self._energy[slot], self._frames[slot] = energy, n
        self._count += 1
        self._sum += energy
        self._sum_frames += n
        while self._count > 1 and self._sum_frames - self._frames[self._head] >= self.window:
            self._drop_oldest()
        self.lufs = (power_to_lufs(self._sum / self._sum_frames)
                     if self._sum_frames >= self.window else SILENCE)

    def _drop_oldest(self):
        self._sum -= self._energy[self._head]
        self._sum_frames -= int(self._frames[self._head])
        self._head = (self._head + 1) % len(self._energy)
        self._count -= 1
        self._sum = max(self._sum, 0.0)
