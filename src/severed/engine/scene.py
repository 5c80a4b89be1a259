"""One scene at run time: its layers, their mix, its reverb, and its fade.

A scene renders its layers into two buses, dry and reverb send; the send goes through
the scene's own reverb (so a scene keeps its space while it crossfades with another)
and joins the dry bus. The scene's fade level (0..1) follows crossfade curves:

- ``equal_power``: in sin(x*pi/2), out cos(x*pi/2): the sum of two uncorrelated scenes
  keeps its loudness through the fade (the default);
- ``linear``: for material that is the same on both sides;
- ``cut``: a 10 ms fade, as abrupt as a change may be without a click.
"""

import math
import zlib

import numpy as np

from severed.engine.dsp.reverb import Reverb
from severed.engine.layers import LAYER_TYPES
from severed.engine.layers.base import LayerContext
from severed.engine.params import Controls

CUT_S = 0.010
REVERB_TAIL_FACTOR = 1.5  # reverb keeps running this many decay times after its input stops


def layer_seed(seed, scene, layer):
    """A stable seed per layer, so adding a layer does not change the others' noise."""
    return [seed & 0xFFFFFFFF, zlib.crc32(scene.encode()), zlib.crc32(layer.encode())]


class LayerSlot:
    """A layer and its mix: gain and reverb send, both automatable and ramped."""

    def __init__(self, layer, spec):
        self.layer = layer
        self.spec = spec
        self.gain_db = spec.gain_db
        self.send = spec.reverb_send
        self.enabled = bool(spec.params.get("enabled", True))
        self.gain = None  # linear gain reached at the end of the last block
        self.send_level = None


class SceneMix:
    def __init__(self, spec, *, sample_rate, channels, max_frames, seed, mains_hz, cache=None):
        self.spec = spec
        self.name = spec.name
        self.sample_rate = sample_rate
        self.max_frames = max_frames
        self.slots = []
        for layer_spec in spec.layers:
            cls = LAYER_TYPES[layer_spec.type]
            ctx = LayerContext(
                name=f"{spec.name}.{layer_spec.name}", sample_rate=sample_rate,
                channels=channels, max_frames=max_frames,
                rng=np.random.default_rng(layer_seed(seed, spec.name, layer_spec.name)),
                mains_hz=mains_hz, cache=cache)
            self.slots.append(LayerSlot(cls(ctx, layer_spec.params), layer_spec))
        rv = spec.reverb
        self.has_send = any(not s.send.constant or s.send.v > 0 for s in self.slots)
        self.reverb = (Reverb(sample_rate, decay_s=rv.decay_s, damping=rv.damping,
                              predelay_ms=rv.predelay_ms, channels=channels,
                              max_frames=max_frames) if self.has_send else None)
        self.reverb_idle_s = math.inf  # seconds since the send bus last carried sound
        shape = (max_frames, channels)
        self._layer_buf = np.zeros(shape, np.float32)
        self._send = np.zeros(shape, np.float32)
        self._wet = np.zeros(shape, np.float32)
        self._ramp = np.zeros(max_frames, np.float32)
        self._fade = np.zeros(max_frames, np.float64)
        self._base = np.arange(1, max_frames + 1, dtype=np.float32)
        self._frame_idx = np.arange(max_frames, dtype=np.float64)
        # Fade state: level goes from `fade_from` to `fade_to` along `curve`, starting at
        # engine frame `fade_start`, over `fade_frames`.
        self.level = 0.0
        self.fade_from = self.fade_to = 0.0
        self.fade_start = 0
        self.fade_frames = 0
        self.curve = "linear"
        self.entered_at = 0.0

    # -- fades ---------------------------------------------------------------------

    @property
    def audible(self):
        return self.level > 0.0 or self.fade_to > 0.0

    def fade(self, to, seconds, curve, frame):
        """Start a fade of the scene's level to ``to`` (0 or 1) at engine ``frame``."""
        if curve == "cut":
            seconds, curve = CUT_S, "linear"
        self.fade_from = self.level
        self.fade_to = float(to)
        self.fade_start = frame
        self.fade_frames = max(1, int(round(seconds * self.sample_rate)))
        self.curve = curve

    def enter(self, t, frame, seconds, curve):
        """Become the current scene: restart it if it was silent, and fade it in."""
        if not self.audible:
            self.reset()
        self.entered_at = t
        self.fade(1.0, seconds, curve, frame)

    def _fade_curve(self, frame, frames):
        """The level for each frame of this block, or a float when it is constant."""
        if self.level == self.fade_to:
            return self.level
        x = self._fade[:frames]
        np.add(self._frame_idx[:frames], float(frame - self.fade_start + 1), out=x)
        x /= self.fade_frames
        np.clip(x, 0.0, 1.0, out=x)
        a, b = self.fade_from, self.fade_to
        if self.curve == "equal_power":
            # Equal power from a to b: run along the quarter circle between their angles.
            th_a = math.asin(min(1.0, a))
            th_b = math.asin(min(1.0, b))
            x *= th_b - th_a
            x += th_a
            np.sin(x, out=x)
        else:
            x *= b - a
            x += a
        self.level = float(x[-1])
        if frame + frames - self.fade_start >= self.fade_frames:
            self.level = self.fade_to
        return x

    # -- rendering -----------------------------------------------------------------

    def reset(self):
        for slot in self.slots:
            slot.layer.reset()
            slot.gain = None
            slot.send_level = None
        if self.reverb is not None:
            self.reverb.reset()
        self.reverb_idle_s = math.inf

    def render(self, out, frames, frame, controls):
        """Add this scene, at its fade level, into out[:frames]."""
        level = self._fade_curve(frame, frames)
        if isinstance(level, float) and level == 0.0:
            return
        ctl = Controls(t=controls.t, scene_s=controls.t - self.entered_at,
                       tension=controls.tension)
        buf = self._layer_buf[:frames]
        send = self._send[:frames]
        sending = False
        for slot in self.slots:
            if not slot.enabled:
                continue
            buf.fill(0.0)
            slot.layer.process(buf, frames, ctl)
            g = _gain(slot.gain_db.value(ctl))
            if isinstance(level, float):
                g_end = g * level
                self._scaled_add(out, buf, slot.gain, g_end, frames)
                g_start = slot.gain
            else:
                # Fold the scene fade into the layer gain, frame by frame.
                ramp = self._ramp[:frames]
                self._ramp_values(slot.gain, g, frames, ramp)
                ramp *= level.astype(np.float32)
                out[:frames] += buf * ramp[:, None]
                g_start, g_end = slot.gain, g * float(level[-1])
            slot.gain = g_end
            s = slot.send.value(ctl)
            if s > 0.0 or (slot.send_level or 0.0) > 0.0:
                if not sending:
                    send.fill(0.0)
                    sending = True
                prev = None if slot.send_level is None or g_start is None else slot.send_level * g_start
                self._scaled_add(send, buf, prev, s * g_end, frames)
            slot.send_level = s
        self._render_reverb(out, frames, sending)

    def _render_reverb(self, out, frames, sending):
        if self.reverb is None:
            return
        dt = frames / self.sample_rate
        if sending:
            self.reverb_idle_s = 0.0
        else:
            if self.reverb_idle_s > REVERB_TAIL_FACTOR * self.spec.reverb.decay_s + 0.5:
                return  # the tail has died away: skip the work
            self.reverb_idle_s += dt
            self._send[:frames].fill(0.0)
        wet = self._wet[:frames]
        self.reverb.process(self._send[:frames], wet)
        out[:frames] += wet

    def _ramp_values(self, start, end, frames, ramp):
        if start is None or start == end:
            ramp.fill(end)
        else:
            np.multiply(self._base[:frames], np.float32((end - start) / frames), out=ramp)
            ramp += np.float32(start)

    def _scaled_add(self, out, buf, start, end, frames):
        """out += buf * gain, the gain moving linearly from start to end over the block."""
        if start is None or start == end:
            if end != 0.0:
                out[:frames] += buf * np.float32(end)
            return
        ramp = self._ramp[:frames]
        self._ramp_values(start, end, frames, ramp)
        out[:frames] += buf * ramp[:, None]


def _gain(db):
    return 0.0 if db <= -120.0 else 10.0 ** (db / 20.0)
