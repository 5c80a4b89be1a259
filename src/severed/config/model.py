"""The validated forms of the three kinds of file: site config, show and scenario.

Loaders in this package (site.py, show.py, scenario.py) read TOML, check every key and
build these frozen objects; everything else in severed works only with them. The
meaning of each field is in docs/configuration.md and in the commented example
installation/severed.toml.
"""

from dataclasses import dataclass, field

# ---------------------------------------------------------------- site config


@dataclass(frozen=True)
class AudioConfig:
    device: str = "default"  # ALSA name or a substring of it; "null"; "wav:PATH"
    sample_rate: int = 48000
    channels: int = 2
    # Door edge to sound is at most (1 + render_ahead_blocks) blocks plus the card's own
    # buffer: 37.3 ms + a few ms at 48 kHz (docs/configuration.md, "Latency")
    block_frames: int = 256  # 5.3 ms at 48 kHz
    render_ahead_blocks: int = 6  # blocks queued ahead of the device: 32 ms of slack
    sample_format: str = "int16"  # int16 | int32 | float32
    dac: str | None = None  # the DAC HAT fitted (a dacs.toml name); None: not named


@dataclass(frozen=True)
class SensorSpec:
    """One sensor from ``[sensors.NAME]``; conditioning settings in seconds."""

    name: str
    kind: str  # door | pir | button | input
    pin: int  # BCM number
    pull: str = "up"  # up | down | none
    active_state: str = "low"  # the pin level that means active (door closed, motion, pressed)
    debounce_s: float = 0.05  # the bounce window (see debounce)
    # stable: a level counts once stable for debounce_s; first_edge: a change counts at
    # once and the pin is not looked at again for debounce_s (a reed switch's bounces)
    debounce: str = "stable"
    hold_s: float = 0.0  # an active state lasts at least this long
    warmup_s: float = 0.0  # edges ignored this long after start (PIRs: 60)
    merge_s: float = 0.0  # active bursts closer than this merge into one
    flap_limit: int = 20  # more changes than this within flap_window_s ...
    flap_window_s: float = 10.0
    quarantine_s: float = 300.0  # ... quarantine the sensor this long (a fault event)
    stuck_after_s: float = 0.0  # active longer than this is a fault (0: never)
    required: bool = False  # the show cannot run its normal cycle without it


@dataclass(frozen=True)
class Hours:
    """Opening hours; outside them the show fades to silence (zeros keep flowing)."""

    open: str = "00:00"  # HH:MM local time
    close: str = "24:00"
    days: tuple = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    fade_s: float = 30.0


@dataclass(frozen=True)
class SiteConfig:
    path: str | None = None
    name: str = "severed"
    show: str = "lumon"  # a built-in show's name, or a path to a show file
    mains_hz: float = 50.0
    master_trim_db: float = 0.0
    cache_dir: str = "/var/cache/severed"
    event_log: str = ""  # a JSON-lines file; empty: only the journal
    event_log_max_mb: float = 10.0  # then it is rotated to EVENT_LOG.1
    stem_budget_mb: float = 256.0  # the show's stems, converted (float32), at most
    pin_factory: str = "auto"  # auto | lgpio | rpigpio | pigpio | native | mock
    audio: AudioConfig = field(default_factory=AudioConfig)
    hours: Hours | None = None  # None: always open
    sensors: tuple = ()  # SensorSpec, in file order
    fleet: object = None  # severed.fleet.settings.FleetConfig; None: plays alone


# ----------------------------------------------------------------------- show


@dataclass(frozen=True)
class LayerSpec:
    name: str
    type: str
    params: dict  # every declared Param name -> Automation or plain value
    gain_db: object  # Automation
    reverb_send: object  # Automation
    after: tuple = ()  # scene names: plays only when its scene is entered from one


@dataclass(frozen=True)
class ReverbSpec:
    decay_s: float = 1.5
    damping: float = 0.5  # 0 bright .. 1 dark
    predelay_ms: float = 10.0


@dataclass(frozen=True)
class SceneSpec:
    name: str
    layers: tuple  # LayerSpec
    loudness_lufs: float | None = None
    overlay: bool = False  # plays on top of the current scene when switched on
    reverb: ReverbSpec = field(default_factory=ReverbSpec)
    mono: bool = False  # the whole output is mono while this scene plays


@dataclass(frozen=True)
class Guards:
    motion_within_s: float | None = None  # a pir saw motion in the last N s (or sees it now)
    no_motion_for_s: float | None = None  # no pir motion for N s
    sensor_states: tuple = ()  # ((sensor, state), ...) current conditioned states
    min_tension: float | None = None
    max_tension: float | None = None


@dataclass(frozen=True)
class Transition:
    sources: tuple  # scene names; ("*",) for any
    to: str | None  # target scene, or None when this switches an overlay
    on: str | None  # event type that fires it ...
    after_s: float | None  # ... or seconds spent in the source scene
    guards: Guards = field(default_factory=Guards)
    crossfade_s: float = 3.0
    curve: str = "equal_power"  # equal_power | linear | cut
    overlay: str | None = None  # overlay scene to switch on
    overlay_s: float | None = None  # ... and off again after this long


@dataclass(frozen=True)
class Reaction:
    """An event answered by a one-shot in a layer, without changing scene."""

    sources: tuple  # scenes (or overlays) in which it applies; ("*",) for any
    on: str  # event type
    layer: str  # the layer to fire, in whichever of the sources is playing
    guards: Guards = field(default_factory=Guards)


@dataclass(frozen=True)
class TensionSpec:
    """Tension 0..1, smoothed motion activity: each start of a tension sensor adds
    ``rise_per_start``, each second one is active adds ``rise_per_s`` (per sensor), and
    it falls back towards 0 with time constant ``decay_s`` (see show/machine.py)."""

    rise_per_start: float = 0.05
    rise_per_s: float = 0.03
    decay_s: float = 60.0
    sensors: tuple = ()  # names of the sensors that drive it; () means every pir


@dataclass(frozen=True)
class Show:
    path: str | None
    name: str
    initial_scene: str
    scenes: dict  # name -> SceneSpec, in file order
    transitions: tuple = ()
    tension: TensionSpec = field(default_factory=TensionSpec)
    crossfade_s: float = 3.0
    curve: str = "equal_power"
    reactions: tuple = ()


# ------------------------------------------------------------------- scenario


@dataclass(frozen=True)
class ScenarioStep:
    at_s: float
    sensor: str | None = None  # a raw edge: sensor and level (1 active, 0 inactive)
    level: int | None = None
    command: str | None = None  # or a command: scene | volume | mute | unmute | trigger
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    path: str | None
    duration_s: float
    seed: int = 0
    steps: tuple = ()  # ScenarioStep, sorted by at_s
