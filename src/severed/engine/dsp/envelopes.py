"""Envelopes for gates and one-shots, rendered per block into float32 arrays.

- :class:`Adsr`: linear attack, decay and release, gated on and off at exact samples.
- :class:`Decay`: exponential one-shot (clicks, plucks, bursts): jumps to a level and
  falls with time constant ``tau_s``.

Use::

    env = Adsr(48000, attack_s=0.01, decay_s=0.2, sustain=0.6, release_s=0.5)
    env.gate(True, offset=130)       # note on at sample 130 of the next block
    env.render(buf, frames)          # 0..1 per sample; multiply a voice by it
    env.gate(False)                  # note off at the start of the next block

    hit = Decay(48000, tau_s=0.001)
    hit.trigger(offset=512, level=0.8)
    hit.render(buf, frames)

Events given before a render apply inside that render at their offset (clamped into
the block). Work per block is a few numpy calls per segment; no loop over samples.
"""

import math

import numpy as np

_IDLE, _ATTACK, _DECAY, _SUSTAIN, _RELEASE = range(5)


class Adsr:
    """Attack-decay-sustain-release envelope with sample-exact gates.

    Timing: after a gate-on at offset ``o`` the envelope reaches 1.0 on sample
    ``o + round(attack_s * sample_rate) - 1`` (attack from a non-zero level is
    proportionally shorter: the slope stays the same), then falls to ``sustain`` over
    ``decay_s`` and holds. A gate-off releases from wherever it is to 0 over
    ``release_s``. A gate-on during release restarts the attack from the current level,
    so retriggering never jumps.
    """

    def __init__(self, sample_rate, attack_s, decay_s, sustain, release_s, max_frames=2048):
        if not 0.0 <= sustain <= 1.0:
            raise ValueError(f"Adsr sustain must be within 0..1, not {sustain}")
        for name, v in (("attack_s", attack_s), ("decay_s", decay_s), ("release_s", release_s)):
            if v < 0:
                raise ValueError(f"Adsr {name} must be 0 or more, not {v}")
        self.sample_rate = float(sample_rate)
        self.attack_s, self.decay_s = float(attack_s), float(decay_s)
        self.sustain, self.release_s = float(sustain), float(release_s)
        self.max_frames = int(max_frames)
        self._count = np.arange(1, self.max_frames + 1, dtype=np.float64)
        self._events = []
        self.reset()

    def reset(self):
        """Silent and idle; pending gates are dropped."""
        self._stage = _IDLE
        self._level = 0.0
        self._step = 0.0
        self._left = 0
        self._events.clear()

    @property
    def active(self):
        """True while the envelope is not idle (or a gate-on is pending)."""
        return self._stage != _IDLE or any(on for _, on in self._events)

    @property
    def level(self):
        return self._level

    def gate(self, on, offset=0):
        """Note on (True) or off (False) at sample ``offset`` of the next render."""
        self._events.append((max(0, int(offset)), bool(on)))

    def _samples(self, seconds):
        return round(seconds * self.sample_rate)

    def _enter(self, stage):
        self._stage = stage
        level = self._level
        if stage == _ATTACK:
            n = max(1, round((1.0 - level) * self._samples(self.attack_s)))
            self._left, self._step = n, (1.0 - level) / n
        elif stage == _DECAY:
            n = self._samples(self.decay_s)
            if n <= 0:
                self._level = self.sustain
                return self._enter(_SUSTAIN)
            self._left, self._step = n, (self.sustain - level) / n
        elif stage == _RELEASE:
            n = max(1, self._samples(self.release_s))
            self._left, self._step = n, -level / n
        else:  # sustain and idle hold their level
            self._left, self._step = -1, 0.0
        return None

    def _fill(self, out):
        """Write len(out) samples of the current stages into out."""
        pos, frames = 0, len(out)
        while pos < frames:
            if self._left < 0:  # holding
                out[pos:].fill(self._level)
                return
            n = min(frames - pos, self._left)
            seg = out[pos:pos + n]
            np.multiply(self._count[:n], self._step, out=seg, casting="same_kind")
            np.add(seg, self._level, out=seg, casting="same_kind")
            pos += n
            self._left -= n
            if self._left == 0:  # land exactly on the stage's end value
                if self._stage == _ATTACK:
                    self._level = 1.0
                    self._enter(_DECAY)
                elif self._stage == _DECAY:
                    self._level = self.sustain
                    self._enter(_SUSTAIN)
                else:  # release
                    self._level = 0.0
                    self._enter(_IDLE)
                out[pos - 1] = self._level
            else:
                self._level += self._step * n

    def render(self, out, frames):
        """Write envelope values 0..1 into ``out[:frames]`` and return that view."""
        view = out[:frames]
        if frames <= 0:
            return view
        if frames > self.max_frames:
            raise ValueError(f"Adsr.render: {frames} frames asked, "
                             f"max_frames is {self.max_frames}")
        events = sorted(self._events, key=lambda e: e[0])  # stable: same-offset order kept
        self._events.clear()
        pos = 0
        for offset, on in events:
            offset = min(offset, frames)
            if offset > pos:
                self._fill(view[pos:offset])
                pos = offset
            if on:
                self._enter(_ATTACK)
            elif self._stage != _IDLE:
                self._enter(_RELEASE)
        if pos < frames:
            self._fill(view[pos:])
        return view


class Decay:
    """Exponential one-shot: ``trigger(offset=0, level=1.0)`` jumps to ``level`` at that
    sample of the next render, after which the value falls as exp(-t / tau_s).

    A new trigger replaces the current value (it does not add). Below 1e-6 (-120 dB)
    the envelope is idle and renders zeros cheaply.
    """

    FLOOR = 1e-6

    def __init__(self, sample_rate, tau_s=0.01, max_frames=2048):
        self.sample_rate = float(sample_rate)
        self.max_frames = int(max_frames)
        self._curve = np.zeros(self.max_frames + 1)
        self._events = []
        self.tau_s = tau_s
        self.reset()

    @property
    def tau_s(self):
        return self._tau_s

    @tau_s.setter
    def tau_s(self, value):
        if value <= 0:
            raise ValueError(f"Decay tau_s must be above 0, not {value}")
        self._tau_s = float(value)
        self._ratio = math.exp(-1.0 / (self._tau_s * self.sample_rate))
        # curve[k] = ratio**k, so a segment is level * curve[1..n]
        np.power(self._ratio, np.arange(self.max_frames + 1), out=self._curve)

    def reset(self):
        self._level = 0.0
        self._events.clear()

    @property
    def active(self):
        return self._level > self.FLOOR or bool(self._events)

    @property
    def level(self):
        """Value of the last sample rendered."""
        return self._level

    def trigger(self, offset=0, level=1.0):
        """Start the one-shot at sample ``offset`` of the next render."""
        self._events.append((max(0, int(offset)), float(level)))

    def _fill(self, out, first):
        """Continue the decay for len(out) samples; ``first`` is the value of sample 0
        when a trigger lands there, else None."""
        n = len(out)
        if first is None:
            if self._level <= self.FLOOR:
                self._level = 0.0
                out.fill(0.0)
                return
            np.multiply(self._curve[1:n + 1], self._level, out=out, casting="same_kind")
            self._level *= self._curve[n]
        else:
            np.multiply(self._curve[:n], first, out=out, casting="same_kind")
            self._level = first * self._curve[n - 1]

    def render(self, out, frames):
        """Write the envelope into ``out[:frames]`` and return that view."""
        view = out[:frames]
        if frames <= 0:
            return view
        if frames > self.max_frames:
            raise ValueError(f"Decay.render: {frames} frames asked, "
                             f"max_frames is {self.max_frames}")
        events = sorted(self._events, key=lambda e: e[0])
        self._events.clear()
        pos, first = 0, None
        for offset, level in events:
            offset = min(offset, frames - 1)
            if offset > pos:
                self._fill(view[pos:offset], first)
                pos, first = offset, None
            first = level  # a later trigger at the same offset wins
        self._fill(view[pos:], first)
        return view
