"""Oracle for the mixing kernel: a layer into a scene's dry bus and reverb send as the
numpy engine did it (gain curves from linear_ramp, then multiply-add per channel)."""

import numpy as np


def linear_ramp(out, start, step):
    np.multiply(np.arange(1, len(out) + 1, dtype=np.float32), np.float32(step), out=out)
    out += np.float32(start)
    return out


def curve(prev, new, scale, frames):
    """Gain from ``prev`` to ``new`` across the block, times ``scale`` (float or
    per-frame float32): a float when nothing moves, else a per-frame array."""
    if (prev is None or prev == new) and isinstance(scale, float):
        return new * scale
    c = np.zeros(frames, np.float32)
    if prev is None or prev == new:
        c.fill(new)
    else:
        linear_ramp(c, prev, (new - prev) / frames)
    c *= scale
    return c


def mix(out, buf, gain):
    """out += buf * gain (gain a float or a per-frame array)."""
    if isinstance(gain, float):
        if gain != 0.0:
            out += buf * np.float32(gain)
        return
    out += buf * gain[:, None]


def mix_layer(out, send, buf, frames, d0, d1, s0, s1, level):
    dry = curve(d0, d1, level, frames)
    mix(out[:frames], buf[:frames], dry)
    if send is not None:
        mix(send[:frames], buf[:frames], curve(s0, s1, dry, frames))
