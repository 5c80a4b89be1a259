"""The DAC HAT table (``severed/data/dacs.toml``): the boards severed knows and the
header pins each one takes. The one place that decides which pins a sensor may not use;
site validation (``severed check``), the sensor bank and ``severed doctor`` all ask it::

    from severed.hardware import dacs

    dacs.names()                            # ("none", "hifiberry-dac", ...)
    dacs.entry("hifiberry-amp100")["name"]  # "HiFiBerry Amp100"
    dacs.pins_taken("hifiberry-amp100")     # {2: "I2C SDA, ...", 4: "amplifier mute line",
                                            #  17: "reset line of its DAC", 18: ...}
    dacs.pins_taken(None)                   # no board named: the I2S/I2C pins of any HAT
    dacs.free_sensor_pins("hifiberry-amp100", used={23, 27})   # [5, 6, 12, 13, ...]
    dacs.header_pin(5)                      # 29: the physical pin to wire

The package's table is read once per process, on first use (tomllib only: cheap to
import). ``DacTable.read(path)`` reads another file (doctor's tests, install tools).
install.sh reads the same file through installation/lib/bootconfig.py.
"""

import difflib
import tomllib
from functools import lru_cache

from severed.errors import ConfigError

NO_DAC = "none"  # the entry for a USB card, HDMI or a development machine


class DacTable:
    """One parsed dacs.toml: ``[gpio]`` (the header) and ``[dacs.NAME]`` (the boards)."""

    def __init__(self, data, path="dacs.toml"):
        self.path = str(path)
        try:
            self.dacs = dict(data["dacs"])
            gpio = data["gpio"]
            self.uses = _int_keys(gpio["uses"])
            self.caution = _int_keys(gpio.get("caution", {}))
            self.caution_unnamed = _int_keys(gpio.get("caution_unnamed", {}))
            self.unnamed_pins = tuple(gpio["unnamed_dac_pins"])
            self.sensor_pins = tuple(gpio["sensor_pins"])
            self.header_pins = tuple(gpio["header_pins"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{self.path}: not a DAC table ({type(exc).__name__}: "
                              f"{exc})") from None

    @classmethod
    def read(cls, path):
        """The table in file ``path``; ConfigError naming the file if it cannot be read."""
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the DAC table: "
                              f"{exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: TOML syntax: {exc}") from None
        return cls(data, path)

    def names(self):
        """Every board name, in file order ("none" first)."""
        return tuple(self.dacs)

    def unknown(self, name):
        """A message for a name that is not in the table (with "did you mean"), or None."""
        if name in self.dacs:
            return None
        close = difflib.get_close_matches(str(name), list(self.dacs), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (f"{name!r} is not a DAC severed knows{hint}; known: "
                f"{', '.join(self.dacs)} (hardware/README.md says which is which)")

    def entry(self, name):
        """The ``[dacs.NAME]`` table; ConfigError (with "did you mean") if unknown."""
        message = self.unknown(name)
        if message:
            raise ConfigError(f"{self.path}: {message}")
        return self.dacs[name]

    def board(self, name):
        """The printed name of board ``name`` ("HiFiBerry Amp100"); the name if unknown."""
        return self.dacs.get(name, {}).get("name") or str(name)

    def is_named(self, name):
        """Whether ``name`` is a known board that takes header pins of its own."""
        return bool(name in self.dacs and self.dacs[name].get("pins"))

    def pins_taken(self, name=None):
        """{BCM pin: what the board uses it for} for board ``name``.

        No name, an unknown one, or a board without pins ("none"): the I2S and I2C pins
        every common HAT takes, so one can be fitted later without rewiring (and the
        sensor bank, which may not know the board, agrees with the config check)."""
        if self.is_named(name):
            entry = self.dacs[name]
            own = _int_keys(entry.get("pin_uses", {}))
            return {pin: own.get(pin) or self.uses.get(pin) or "used by the board"
                    for pin in sorted(entry["pins"])}
        return {pin: self.uses.get(pin, "used by DAC HATs") for pin in self.unnamed_pins}

    def caution_pins(self, name=None):
        """{BCM pin: why} for pins a sensor may use with a warning, with board ``name``."""
        pins = dict(self.caution)
        if not self.is_named(name):
            pins.update(self.caution_unnamed)
        for pin in self.pins_taken(name):
            pins.pop(pin, None)
        return pins

    def free_sensor_pins(self, name=None, used=()):
        """The pins good for a sensor with board ``name``, best first, leaving out the
        ones it takes, the risky ones and ``used`` (pins other sensors already have)."""
        taken = set(self.pins_taken(name)) | set(self.caution_pins(name)) | set(used)
        return [pin for pin in self.sensor_pins if pin not in taken]

    def header_pin(self, bcm):
        """The physical header pin (1-40) of GPIO ``bcm``, or None off the header."""
        if isinstance(bcm, int) and 0 <= bcm < len(self.header_pins):
            return self.header_pins[bcm]
        return None

    def dac_for_overlays(self, overlays):
        """(name, entry) of the board whose first overlay is among ``overlays``
        (config.txt's dtoverlay names), or (None, None)."""
        for name, entry in self.dacs.items():
            wanted = entry.get("overlays") or []
            if wanted and wanted[0] in overlays:
                return name, entry
        return None, None


def _int_keys(table):
    # TOML keys are strings; the tables here are keyed by BCM number.
    return {int(k): v for k, v in table.items()}


@lru_cache(maxsize=1)
def default_table():
    """The table shipped in the package, read on first use."""
    from importlib import resources

    ref = resources.files("severed") / "data" / "dacs.toml"
    try:
        data = tomllib.loads(ref.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{ref}: cannot read the DAC table: {exc}") from None
    return DacTable(data, ref)


def names():
    return default_table().names()


def entry(name):
    return default_table().entry(name)


def pins_taken(name=None):
    return default_table().pins_taken(name)


def caution_pins(name=None):
    return default_table().caution_pins(name)


def free_sensor_pins(name=None, used=()):
    return default_table().free_sensor_pins(name, used)


def header_pin(bcm):
    return default_table().header_pin(bcm)


for _f in (names, entry, pins_taken, caution_pins, free_sensor_pins, header_pin):
    _f.__doc__ = getattr(DacTable, _f.__name__).__doc__ + " (the package's table)"
del _f
