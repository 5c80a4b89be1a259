"""One scene at run time: its layers, their mix, its reverb, and its fade.

A scene renders its layers into two buses, dry and reverb send; the send goes through
the scene's own reverb (so a scene keeps its space while it crossfades with another)
and joins the dry bus. The scene's fade level (0..1) follows crossfade curves:

- ``equal_power``: in sin(x*pi/2), out cos(x*pi/2): the sum of two uncorrelated scenes
  keeps its loudness through the fade (the default);
- ``linear``: for material that is the same on both sides;
- ``cut``: a 10 ms fade, as abrupt as a change may be without a click.

Cuts (``glitch``, ``silence`` layers) are the scene's own: the scene gives its
:class:`SceneCut` to every layer's context, and after all layers and the reverb have
rendered it multiplies what it contributes to the block by the curve, when a layer
shaped it (see ``engine/layers/base.py``). The cut-making layers run first, each into
a buffer of its own, so the block's cut is known before anything is mixed: in a block
that holds a cut, a scene that is not the first to write into the block mixes into a
bus of its own, so that the cut silences only it. A scene heard alone hands its cut
to the engine, which applies it after the master's high-pass (see ``Master.process``).
A block without a cut costs nothing more than before cuts existed.
"""

import logging
import math
import zlib

import numpy as np

from severed.engine.compiled import kernels
from severed.engine.dsp.reverb import Reverb
from severed.engine.layers import LAYER_TYPES
from severed.engine.layers.base import LayerContext, SceneCut
from severed.engine.params import Controls

log = logging.getLogger("severed.engine")

CUT_S = 0.010
REVERB_TAIL_FACTOR = 1.5  # reverb keeps running this many decay times after its input stops
# ... or until its tail is below this peak (-120 dBFS: far under the 16-bit floor and any
# DAC's noise), when it stops and is cleared: work saved, and nothing left to hear.
REVERB_TAIL_FLOOR = 1e-6


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
        # Sits out this visit of its scene (``after`` names other scenes): its gain
        # goes to 0 (over one block if it was playing) and it is skipped.
        self.sitting_out = False
        self.fault = None  # why the layer went silent, if it did
        self.bad_blocks = 0  # blocks in which it produced NaN or infinity
        self.gain = None  # layer gain (linear) reached at the end of the last block
        self.send_level = None  # reverb send reached at the end of the last block


class SceneMix:
    def __init__(self, spec, *, sample_rate, channels, max_frames, seed, mains_hz, cache=None,
                 show_dir=None):
        self.spec = spec
        self.name = spec.name
        self.sample_rate = sample_rate
        self.max_frames = max_frames
        self.slots = []
        self.cut = SceneCut(max_frames)  # its own: no other scene or engine shares it
        for layer_spec in spec.layers:
            cls = LAYER_TYPES[layer_spec.type]
            ctx = LayerContext(
                name=f"{spec.name}.{layer_spec.name}", sample_rate=sample_rate,
                channels=channels, max_frames=max_frames,
                rng=np.random.default_rng(layer_seed(seed, spec.name, layer_spec.name)),
                mains_hz=mains_hz, cache=cache, show_dir=show_dir, scene_cut=self.cut)
            self.slots.append(LayerSlot(cls(ctx, layer_spec.params), layer_spec))
        # Cut-making layers run first, each into its own buffer (see _render_layers).
        self._cutter_slots = [sl for sl in self.slots if sl.layer.CUTS_SCENE]
        self._cutter_gains = [None] * len(self._cutter_slots)
        self._others = [sl for sl in self.slots if not sl.layer.CUTS_SCENE]
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
        self._cutter_bufs = [np.zeros(shape, np.float32) for _ in self._cutter_slots]
        self._bus = np.zeros(shape, np.float32) if self._cutter_slots else None
        self._fade = np.zeros(max_frames, np.float64)
        self._frame_idx = np.arange(max_frames, dtype=np.float64)
        # Fade state: level goes from `fade_from` to `fade_to` along `curve`, starting at
        # engine frame `fade_start`, over `fade_frames`.
        self.level = 0.0
        self.fade_from = self.fade_to = 0.0
        self.fade_start = 0
        self.fade_frames = 0
        self.curve = "linear"
        self.entered_at = 0.0
        # The scene's loudness calibration (severed.loudness): a gain on every layer, so
        # the scene plays at its loudness_lufs whatever its layers' gains. Applied with
        # the layers' own gains, so a change is ramped across a block like theirs.
        self.loudness_gain = 1.0

    def set_loudness_gain_db(self, db):
        """Play the scene ``db`` louder than its layers' gains say (its calibration)."""
        self.loudness_gain = 10.0 ** (db / 20.0)

    # -- fades ---------------------------------------------------------------------

    @property
    def audible(self):
        """Anything to render: the scene is (or is fading) in, or its reverb still rings."""
        return self.level > 0.0 or self.fade_to > 0.0 or self.reverb_running

    def fade(self, to, seconds, curve, frame):
        """Start a fade of the scene's level to ``to`` (0 or 1) at engine ``frame``."""
        if curve == "cut":
            seconds, curve = CUT_S, "linear"
        self.fade_from = self.level
        self.fade_to = float(to)
        self.fade_start = frame
        self.fade_frames = max(1, int(round(seconds * self.sample_rate)))
        self.curve = curve

    def enter(self, t, frame, seconds, curve, came_from=None):
        """Become the current scene (entered from scene ``came_from``): restart it if
        it was silent, and fade it in. Layers whose ``after`` does not name
        ``came_from`` sit this visit out."""
        if not self.audible:
            self.reset()
        self.entered_at = t
        self.fade(1.0, seconds, curve, frame)
        for slot in self.slots:
            slot.sitting_out = bool(slot.spec.after) and came_from not in slot.spec.after
            if slot.enabled and not slot.sitting_out:
                slot.layer.enter()

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
        return x.astype(np.float32)

    # -- rendering -----------------------------------------------------------------

    def reset(self):
        for slot in self.slots:
            slot.layer.reset()
            slot.gain = None
            slot.send_level = None
        if self.reverb is not None:
            self.reverb.reset()
        self.reverb_idle_s = math.inf

    def render(self, out, frames, frame, controls, out_empty=False, alone=False):
        """Add this scene, at its fade level, into out[:frames].

        The fade applies to the dry sound and to what is sent to the reverb, not to the
        reverb's output: a scene that fades out keeps its tail, which dies away on its
        own (cutting it would be heard). A cut applies to both, the reverb's output
        included, but only to what is heard: the reverb keeps its input under a cut.
        ``out_empty``: nothing has been added into out[:frames] in this block yet, so
        the scene may render (and cut) in place. ``alone``: nothing else is heard in
        this block; the scene then leaves its cut to the caller, returning the
        SceneCut to apply (after the master's high-pass), or None."""
        self.cut.reopen()  # the last block's cut, if any, is done
        level = self._fade_curve(frame, frames)
        sending = False
        bus = out
        if not (isinstance(level, float) and level == 0.0):
            bus, sending = self._render_layers(out, frames, level, controls, out_empty)
        self._render_reverb(bus, frames, sending)
        if alone:
            return None if self.cut.open else self.cut
        self.cut.apply(bus, frames)
        if bus is not out:
            out[:frames] += bus[:frames]
        return None

    def _render_layers(self, out, frames, level, controls, out_empty):
        """Mix the layers into out, or into the scene's bus when this block holds a cut
        and another scene has written into out already; return (where, sending)."""
        ctl = Controls(t=controls.t, scene_s=controls.t - self.entered_at,
                       tension=controls.tension)
        # Cut-makers first, each into a buffer of its own: once they have run, this
        # block's cut is known, before anything is mixed.
        # Struck one-shots skip the fade in (a fade would make a strike a swell).
        struck_level = 1.0 if self.fade_to > 0.0 else level
        gains, cutters, bufs = self._cutter_gains, self._cutter_slots, self._cutter_bufs
        for k, slot in enumerate(cutters):
            gains[k] = self._run(slot, bufs[k][:frames], frames, ctl)
        bus = out
        if not self.cut.open and not out_empty:
            bus = self._bus
            bus[:frames].fill(0.0)
        sending = False
        for k, slot in enumerate(cutters):
            lv = struck_level if slot.layer.STRUCK else level
            sending = self._mix_layer(slot, bufs[k][:frames], gains[k], bus, lv, frames,
                                      ctl, sending)
        # The other layers, one after another through one buffer.
        buf = self._layer_buf[:frames]
        for slot in self._others:
            g = self._run(slot, buf, frames, ctl)
            lv = struck_level if slot.layer.STRUCK else level
            sending = self._mix_layer(slot, buf, g, bus, lv, frames, ctl, sending)
        return bus, sending

    def _mix_layer(self, slot, buf, g, bus, level, frames, ctl, sending):
        """Add a rendered layer (gain ``g``; None: nothing to add) into the bus and the
        reverb send, each gain ramped across the block (kernel ``mix_layer``); return
        whether the send bus carries sound in this block."""
        if g is None:
            return sending
        s = slot.send.value(ctl)
        prev = slot.send_level
        slot.send_level = s
        send = None
        if s != 0.0 or prev:
            send = self._send
            if not sending:
                send[:frames].fill(0.0)
                sending = True
        d0 = g if slot.gain is None else slot.gain
        slot.gain = g
        if not kernels.mix_layer(bus, send, buf, frames, d0, g, s if prev is None else prev,
                                 s, level):
            self._quarantine_samples(slot, buf)  # nothing of it is mixed
        return sending

    def _run(self, slot, buf, frames, ctl):
        """Render one layer into buf (cleared first); return its gain for this block, or
        None when there is nothing of it to mix."""
        if not slot.enabled:
            return None
        g = 0.0 if slot.sitting_out else _gain(slot.gain_db.value(ctl)) * self.loudness_gain
        if g == 0.0 and slot.gain == 0.0 and not slot.layer.ALWAYS_RUN:
            slot.send_level = slot.send.value(ctl)
            return None  # silent before and after this block: nothing to hear
        # buf is silent here: layer buffers start so, and mixing clears them again.
        try:
            slot.layer.process(buf, frames, ctl)
        except Exception:  # a broken layer goes quiet; the show goes on
            log.exception("layer %s failed and is now silent", slot.layer.ctx.name)
            slot.enabled = False
            slot.fault = "failed while rendering"
            buf.fill(0.0)
            return None
        return g

    def _quarantine_samples(self, slot, buf):
        """A layer made NaN or infinity (damaged audio on disk, a filter blown up): its
        block is dropped (silent), and the layer reset so that its state does not carry
        them on. One NaN reaching a recursive filter further on would silence the show
        for good."""
        buf.fill(0.0)
        slot.layer.reset()
        slot.bad_blocks += 1
        if slot.bad_blocks == 1:
            log.error("layer %s produced non-finite samples: block dropped, layer reset",
                      slot.layer.ctx.name)

    def _render_reverb(self, out, frames, sending):
        if self.reverb is None:
            return
        if sending:
            self.reverb_idle_s = 0.0
        else:
            if not self.reverb_running:
                return  # the tail has died away: skip the work
            self.reverb_idle_s += frames / self.sample_rate
            self._send[:frames].fill(0.0)
        wet = self._wet[:frames]
        self.reverb.process(self._send[:frames], wet)
        out[:frames] += wet
        # Judged once the last input has cleared the pre-delay and the early echoes.
        settled_s = self.spec.reverb.predelay_ms / 1000.0 + 0.25
        if (not sending and self.reverb_idle_s > settled_s
                and max(wet.max(), -wet.min()) < REVERB_TAIL_FLOOR):
            self.reverb_idle_s = math.inf  # the tail has died away
            self.reverb.reset()

    @property
    def reverb_running(self):
        return (self.reverb is not None
                and self.reverb_idle_s <= REVERB_TAIL_FACTOR * self.spec.reverb.decay_s + 0.5)


def _gain(db):
    return 0.0 if db <= -120.0 else 10.0 ** (db / 20.0)
