"""White, pink and brown noise, one independent stream per channel.

Use::

    rng = np.random.default_rng(seed)        # the layer's own stream (LayerContext.rng)
    wind = Noise("pink", rng, channels=2, max_frames=2048)
    wind.render(buf, frames)                 # writes buf[:frames], float32

Every colour has an RMS of 0.25 (-12 dBFS) in expectation, whatever the sample rate;
measured over 10 s it is within 3 % of that (brown, the slowest, varies most). The
samples come from the generator in frame order, so a stream rendered in blocks of any
size is the same stream. ``render`` needs a C-contiguous float32 ``out`` (the kernels
write into it directly).

The generator is the compiled core's ``white`` (kernels/noise.c): xoshiro128**, seeded
once from the layer's numpy Generator, each sample the sum of four 16-bit uniform
numbers scaled to the RMS: close to Gaussian (same variance, peaks below 3.5 sigma),
at a few nanoseconds a sample. The colours are its output through the ``iir`` kernel.

- white: near-Gaussian, flat.
- pink: white through Julius O. Smith's 3-pole/3-zero approximation of 1/sqrt(f)
  ("Spectral Audio Signal Processing"), -3 dB/octave within about +/-0.6 dB from
  20 Hz to 20 kHz at 44.1 and 48 kHz.
- brown: white through a leaky integrator (-6 dB/octave above 20 Hz) and a 20 Hz
  first-order high-pass, so it has no DC and never drifts: below 20 Hz it falls again
  (measured: -6.0 dB/octave from 100 Hz to 10 kHz; 1 s means stay below 0.05).
"""

import math

import numpy as np

from severed.engine.compiled import kernels
from severed.engine.dsp.filters import IIRCore

COLORS = ("white", "pink", "brown")
RMS = 0.25
BROWN_CORNER_HZ = 20.0

_PINK_B = (0.049922035, -0.095993537, 0.050612699, -0.004408786)
_PINK_A = (-2.494956002, 2.017265875, -0.522189400)


def _power_gain(b, a, points=1 << 16):
    """Sum of the squared impulse response of b/a (Parseval over a dense grid)."""
    w = (np.arange(points) + 0.5) * (np.pi / points)  # midpoints: a plain mean integrates
    z1 = np.exp(-1j * w)
    num = np.polyval(np.asarray(b, dtype=np.float64)[::-1], z1)
    den = np.polyval(np.concatenate(([1.0], np.asarray(a, dtype=np.float64)))[::-1], z1)
    mag2 = np.abs(num / den) ** 2
    return float(np.mean(mag2))


class Noise:
    """color: white | pink | brown, independent per channel, from the given numpy
    Generator; RMS 0.25 for every colour (see the module docstring for the spectra).

    ``sample_rate`` only places brown noise's 20 Hz corner; pink and white do not
    depend on it.
    """

    def __init__(self, color, rng, channels=2, max_frames=2048, sample_rate=48000):
        if color not in COLORS:
            raise ValueError(f"noise color {color!r} is not one of {', '.join(COLORS)}")
        self.color = color
        self.rng = rng
        # The compiled generator's state, drawn once from the layer's own stream.
        self.state = rng.integers(1, 2 ** 32, size=4, dtype=np.uint32)
        self.channels = int(channels)
        self.max_frames = int(max_frames)
        self.core = None
        if color == "white":
            self.gain = RMS
            return
        if color == "pink":
            b, a = _PINK_B, _PINK_A
        else:
            pole = math.exp(-2.0 * math.pi * BROWN_CORNER_HZ / sample_rate)
            b, a = (1.0, -1.0, 0.0), (-2.0 * pole, pole * pole)
        scale = RMS / math.sqrt(_power_gain(b, a))
        self.core = IIRCore(len(a), self.channels, self.max_frames)
        self.core.set_coeffs(np.asarray(b) * scale, a)
        self.gain = 1.0

    def render(self, out, frames):
        """Write ``frames`` frames of noise into out[:frames] ((frames, channels) float32,
        C-contiguous)."""
        if frames <= 0:
            return out
        if frames > self.max_frames:
            raise ValueError(f"block of {frames} frames exceeds max_frames={self.max_frames}")
        kernels.white(out, frames, self.state, self.gain)
        if self.core is not None:
            self.core.run(out, out, frames)
        return out

    def reset(self):
        """Clear the colouring filter's memory (the random stream goes on)."""
        if self.core is not None:
            self.core.reset()
