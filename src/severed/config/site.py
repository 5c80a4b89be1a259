"""Reading and checking the site config (``/etc/severed/severed.toml``).

The site config is the hardware and the place: audio device, pins, mains frequency,
master trim, opening hours, which show. ``load_site(path)`` returns a
:class:`~severed.config.model.SiteConfig` or raises a ConfigError listing every problem::

    site = load_site("/etc/severed/severed.toml")
    for sensor in site.sensors:
        print(sensor.name, sensor.kind, sensor.pin)

Pass a list as ``warnings=`` to receive the warnings (odd but usable settings).
Every key is described in docs/configuration.md and installation/severed.toml.
"""

import os
import re

from severed.config.model import AudioConfig, Hours, SensorSpec, SiteConfig
from severed.config.schema import (Field, Report, check_table, did_you_mean,
                                   hand_over_warnings, join_key, parse_toml, read_text)
from severed.hardware import dacs

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SENSOR_KINDS = ("door", "pir", "button", "input")
SAMPLE_RATES = (44100, 48000, 88200, 96000)
SECTIONS = ("site", "audio", "hours", "sensors", "fleet")
PIN_FACTORIES = ("auto", "lgpio", "rpigpio", "pigpio", "native", "mock")

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_HHMM = re.compile(r"^(\d\d):(\d\d)$")


def _hhmm(value, allow_24=False):
    m = _HHMM.match(value)
    if not m:
        return f"{value!r} is not a time as HH:MM (like \"09:30\")"
    h, mi = int(m.group(1)), int(m.group(2))
    if allow_24 and (h, mi) == (24, 0):
        return None
    if h > 23 or mi > 59:
        return f"{value!r} is not a time of day (00:00 to 23:59{', or 24:00' if allow_24 else ''})"
    return None


def _power_of_two(value):
    if value & (value - 1):
        return f"{value} is not a power of two (256, 512, 1024, 2048, 4096 or 8192)"
    return None


def _not_empty(value):
    return "must not be empty" if not value.strip() else None


def _dac(value):
    # The table is read on first use, not when this module is imported.
    return dacs.default_table().unknown(value)


def _device(value):
    if not value.strip():
        return "must not be empty (\"default\" picks the system's default device)"
    if value.startswith("wav:") and not value[4:].strip():
        return "a WAV sink needs a path: \"wav:/path/out.wav\""
    return None


SITE_FIELDS = (
    Field("name", str, "severed", check=_not_empty, doc="name of the site, in logs"),
    Field("show", str, "lumon", check=_not_empty,
          doc="a built-in show's name, or a path to a show file (relative to this file)"),
    Field("mains_hz", float, 50.0, choices=(50, 60), doc="mains frequency; hums follow it"),
    Field("master_trim_db", float, 0.0, min=-60.0, max=6.0,
          doc="gain after the show's mix, to fit the room and amplifier"),
    Field("cache_dir", str, "/var/cache/severed", check=_not_empty,
          doc="where precomputed audio is kept"),
    Field("event_log", str, "", doc="JSON-lines event log; empty: journal only"),
    Field("event_log_max_mb", float, 10.0, min=0.01, max=10000.0,
          doc="the event log is rotated to EVENT_LOG.1 at this size"),
    Field("stem_budget_mb", float, 256.0, min=1.0, max=1000000.0,
          doc="the stems a show names may take this much as converted audio"),
    Field("pin_factory", str, "auto", choices=PIN_FACTORIES, doc="gpiozero pin backend"),
)

AUDIO_FIELDS = (
    Field("device", str, "default", check=_device,
          doc="ALSA device name or a substring of it; \"null\"; \"wav:PATH\""),
    Field("sample_rate", int, 48000, choices=SAMPLE_RATES, doc="samples per second"),
    Field("channels", int, 2, min=1, max=8, doc="output channels"),
    Field("block_frames", int, 256, min=256, max=8192, check=_power_of_two,
          doc="frames rendered per block (live; offline renders use at least 2048)"),
    Field("render_ahead_blocks", int, 6, min=1, max=16, doc="blocks queued ahead of the device"),
    Field("sample_format", str, "int16", choices=("int16", "int32", "float32"),
          doc="sample format sent to the device"),
    Field("dac", str, None, check=_dac,
          doc="the DAC HAT fitted (a name from dacs.toml, \"none\" for USB): sensors "
              "are checked against the pins it takes"),
)

HOURS_FIELDS = (
    Field("open", str, "00:00", check=_hhmm, doc="opening time, HH:MM local"),
    Field("close", str, "24:00", check=lambda v: _hhmm(v, allow_24=True),
          doc="closing time, HH:MM local; before open means past midnight"),
    Field("days", list, list(DAYS), items=str, choices=DAYS, doc="days it opens"),
    Field("fade_s", float, 30.0, min=0.0, max=600.0, doc="fade in/out at open/close"),
)

DEBOUNCE_MODES = ("stable", "first_edge")

SENSOR_FIELDS = (
    Field("kind", str, None, choices=SENSOR_KINDS, required=True, doc="what is wired"),
    Field("pin", int, None, required=True, doc="BCM GPIO number, 0..27"),
    Field("pull", str, None, choices=("up", "down", "none"), doc="internal pull resistor"),
    Field("active_state", str, None, choices=("low", "high"), doc="pin level meaning active"),
    Field("debounce_s", float, None, min=0.0, max=5.0,
          doc="bounce window: stable this long to count, or ignored after a first edge"),
    Field("debounce", str, None, choices=DEBOUNCE_MODES,
          doc="stable: counts once stable for debounce_s; first_edge: counts at once, "
              "then ignores the pin for debounce_s (door: first_edge, others: stable)"),
    Field("hold_s", float, 0.0, min=0.0, max=600.0, doc="an active state lasts at least this"),
    Field("warmup_s", float, None, min=0.0, max=600.0, doc="edges ignored after start"),
    Field("merge_s", float, None, min=0.0, max=600.0, doc="active bursts this close merge"),
    Field("flap_limit", int, None, min=2, max=1000, doc="changes in flap_window_s that are a fault"),
    Field("flap_window_s", float, 10.0, min=0.1, max=3600.0, doc="window for flap_limit"),
    Field("quarantine_s", float, 300.0, min=0.0, max=86400.0, doc="a flapping sensor is ignored"),
    Field("stuck_after_s", float, None, min=0.0, max=86400.0,
          doc="active longer is a fault; 0 never (pir: 600, others: 0)"),
    Field("required", bool, False, doc="the show cannot run its normal cycle without it"),
)

#: Defaults that depend on the kind of sensor (keys absent from the file).
KIND_DEFAULTS = {
    # A reed switch to GND with the internal pull-up: closed reads low. Its first
    # contact is the door's move, reported at once (a 50 ms stable-for would spend the
    # whole 50 ms a visitor may wait for the ding); its bounces, a few ms of chatter,
    # fall inside the 50 ms after it and are ignored.
    "door": dict(pull="up", active_state="low", debounce_s=0.05, debounce="first_edge",
                 warmup_s=0.0, merge_s=0.0, flap_limit=20, stuck_after_s=0.0),
    # An HC-SR501 drives its output high on motion; it needs about a minute to settle
    # after power-up, and re-triggers in bursts that are one presence. Motion reported
    # without a break for 10 minutes is a fault, not a visitor: twice the longest hold
    # of an HC-SR501 (its pot at maximum, 300 s), five times the longest ride; a PIR
    # stuck high then no longer holds the show in a scene (guards ignore a faulted
    # sensor, so the show falls back to its timers).
    "pir": dict(pull="down", active_state="high", debounce_s=0.1, debounce="stable",
                warmup_s=60.0, merge_s=3.0, flap_limit=20, stuck_after_s=600.0),
    # Visitors mash buttons: five presses a second (100 changes in 10 s) is play, not
    # a fault, while a chattering contact (50 counted changes a second) still trips.
    "button": dict(pull="up", active_state="low", debounce_s=0.02, debounce="stable",
                   warmup_s=0.0, merge_s=0.0, flap_limit=150, stuck_after_s=0.0),
    "input": dict(pull="up", active_state="low", debounce_s=0.05, debounce="stable",
                  warmup_s=0.0, merge_s=0.0, flap_limit=20, stuck_after_s=0.0),
}


def load_site(path, warnings=None):
    """Read and check a site config file; return a SiteConfig or raise ConfigError."""
    return load_site_text(read_text(path), path, warnings)


def load_site_text(text, path=None, warnings=None):
    """Check site config ``text`` (``path`` names it in messages and anchors a relative
    show path); return a SiteConfig or raise ConfigError with every problem."""
    report = Report(path, text)
    data = parse_toml(text, report.path)
    site = check_site_data(data, path, report)
    hand_over_warnings(report, warnings)
    report.raise_if_errors()
    return site


def check_site_data(data, path, report):
    """Build a SiteConfig from parsed TOML, reporting problems into ``report``."""
    for key in data:
        if key not in SECTIONS:
            report.error(key, "unknown section" + did_you_mean(key, SECTIONS))
    site = check_table(data.get("site", {}), SITE_FIELDS, "site", report)
    audio = check_table(data.get("audio", {}), AUDIO_FIELDS, "audio", report)
    hours = None
    if "hours" in data:
        h = check_table(data["hours"], HOURS_FIELDS, "hours", report)
        if h["open"] == h["close"]:
            report.error("hours.close", f"is the same time as open ({h['open']}): for "
                         "whole days write open = \"00:00\" and close = \"24:00\"")
        if isinstance(h["days"], list) and len(set(h["days"])) != len(h["days"]):
            report.error("hours.days", "names a day twice")
        if not h["days"]:
            report.error("hours.days", "is empty: the show would never open")
        h["days"] = tuple(h["days"])
        hours = Hours(**h)
    dac = audio["dac"]  # an unknown name was reported and replaced by None
    sensors = _check_sensors(data.get("sensors", {}), report, dac)
    show = site["show"]
    if path is not None and _looks_like_path(show) and not os.path.isabs(show):
        show = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), show))
    site["show"] = show
    if "fleet" in data:
        from severed.fleet.settings import check_fleet  # it builds on this package

        site["fleet"] = check_fleet(data["fleet"], site["name"], path, report)
    return SiteConfig(path=str(path) if path is not None else None, audio=AudioConfig(**audio),
                      hours=hours, sensors=sensors, **site)


def _looks_like_path(show):
    return "/" in show or show.endswith(".toml")


def _check_sensors(raw, report, dac=None):
    if not isinstance(raw, dict):
        report.error("sensors", "must be a table of [sensors.NAME] tables")
        return ()
    sensors = []
    pins = {}
    board = dacs.default_table()
    taken = board.pins_taken(dac)
    caution = board.caution_pins(dac)
    # Suggestions leave out every pin the file already gives a sensor.
    declared = {t.get("pin") for t in raw.values() if isinstance(t, dict)}
    for name, table in raw.items():
        key = join_key("sensors", name)
        if not _NAME.match(name) or name == "cmd":
            report.error(key, f"{name!r} cannot name a sensor: use letters, digits, _ and -, "
                         "starting with a letter (events are called NAME.STATE), not 'cmd'")
        if not isinstance(table, dict):
            report.error(key, "must be a table: [sensors.NAME] with kind and pin")
            continue
        values = check_table(table, SENSOR_FIELDS, key, report)
        kind = values["kind"]
        if kind is None:
            continue
        defaulted = {k for k in KIND_DEFAULTS[kind] if values[k] is None}
        for k in defaulted:
            values[k] = KIND_DEFAULTS[kind][k]
        pin = values["pin"]
        if pin is None:
            continue
        if not 0 <= pin <= 27:
            report.error(join_key(key, "pin"), f"BCM {pin} is not a header GPIO (0 to 27)")
            continue
        if pin in taken:
            report.error(join_key(key, "pin"), _taken_message(board, dac, name, pin,
                                                              taken[pin], declared))
        elif pin in caution:
            report.warning(join_key(key, "pin"), f"BCM {pin} is {caution[pin]}")
        if pin in pins:
            report.error(join_key(key, "pin"), f"sensors {pins[pin]!r} and {name!r} both use "
                         f"BCM {pin}")
        else:
            pins[pin] = name
        if (values["pull"], values["active_state"]) in (("up", "high"), ("down", "low")):
            report.warning(key, f"pull {values['pull']!r} with active_state "
                           f"{values['active_state']!r}: an open switch would read as active; "
                           "the usual pairs are up/low (switch to GND) and down/high")
        if values["hold_s"] and values["stuck_after_s"] and values["stuck_after_s"] <= values["hold_s"]:
            report.error(join_key(key, "stuck_after_s"), "must be longer than hold_s"
                         + (f" (not given: {values['stuck_after_s']:g} for a {kind})"
                            if "stuck_after_s" in defaulted else ""))
        sensors.append(SensorSpec(name=name, **values))
    return tuple(sensors)


def _taken_message(table, dac, name, pin, use, declared):
    free = [str(p) for p in table.free_sensor_pins(dac, used=declared)]
    if not free:
        shown = "none of the usual ones is left: free one"
    else:
        shown = "BCM " + (", ".join(free[:-1]) + " or " + free[-1] if len(free) > 1 else free[0])
    if table.is_named(dac):
        return (f"sensor {name!r} is on BCM {pin}, which the {table.board(dac)} "
                f"([audio] dac = \"{dac}\") takes ({use}): move the sensor to a pin free "
                f"on that board ({shown})")
    return (f"sensor {name!r} is on BCM {pin}, which DAC HATs take ({use}): move it to a "
            f"free pin ({shown}); [audio] dac names your board to check its own pins")
