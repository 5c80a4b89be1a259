"""Events that reach the show, and the actions the show answers with.

Sensor events are named ``"<sensor>.<state>"`` after the sensor's name in the site
config and the states of its kind:

=========  =========================  ==========================
kind       states (active, inactive)  example
=========  =========================  ==========================
door       closed, open               ``door.closed``
pir        start, stop                ``motion.start``
button     press, release             ``reward.press``
input      active, inactive           ``lamp.active``
=========  =========================  ==========================

Faults are ``"<sensor>.fault"`` and ``"<sensor>.recovered"``. Commands from a technician
or a scenario are ``"cmd.scene"`` (data: scene), ``"cmd.volume"`` (data: db),
``"cmd.mute"``, ``"cmd.unmute"``, ``"cmd.trigger"`` (data: event, a sensor event name to
inject as if it had happened).
"""

from dataclasses import dataclass, field

KIND_STATES = {
    "door": ("closed", "open"),
    "pir": ("start", "stop"),
    "button": ("press", "release"),
    "input": ("active", "inactive"),
}


@dataclass(frozen=True)
class Event:
    """Something that happened at engine time ``t`` (seconds)."""

    t: float
    type: str
    sensor: str | None = None
    data: dict = field(default_factory=dict)

    def to_record(self):
        """The event-log form of this event (see docs/architecture.md)."""
        if self.sensor is not None and self.type.endswith((".fault", ".recovered")):
            return {"t": round(self.t, 6), "type": "fault", "sensor": self.sensor,
                    "state": self.type.rsplit(".", 1)[1], **self.data}
        if self.sensor is not None:
            return {"t": round(self.t, 6), "type": "sensor", "sensor": self.sensor,
                    "state": self.type.rsplit(".", 1)[1], **self.data}
        return {"t": round(self.t, 6), "type": "command", "command": self.type, **self.data}


def sensor_event(t, sensor, kind, active, **data):
    """The event for a conditioned sensor reaching its active or inactive state."""
    on, off = KIND_STATES[kind]
    return Event(t, f"{sensor}.{on if active else off}", sensor, data)


# --- actions: what the show machine asks of the engine and the outside world ---

@dataclass(frozen=True)
class ChangeScene:
    """Crossfade from the current scene to ``to``."""

    source: str
    to: str
    crossfade_s: float
    curve: str = "equal_power"  # equal_power | linear | cut
    reason: str = ""


@dataclass(frozen=True)
class SetOverlay:
    """Fade an overlay scene (one that plays on top of the current one) in or out."""

    name: str
    on: bool
    fade_s: float


@dataclass(frozen=True)
class SetVariable:
    name: str
    value: float


@dataclass(frozen=True)
class SetVolume:
    db: float
    ramp_s: float = 0.5


@dataclass(frozen=True)
class SetMute:
    muted: bool
    ramp_s: float = 0.5


@dataclass(frozen=True)
class Trigger:
    """Fire a one-shot in the layer ``layer`` of ``scene`` (None: of every audible
    scene that has a layer so named)."""

    layer: str
    what: str = "hit"
    scene: str | None = None
