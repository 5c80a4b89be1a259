"""GPIO sensors as raw edges: one gpiozero device per ``[sensors.NAME]``.

::

    bank = SensorBank(site.sensors, pin_factory=site.pin_factory, on_edge=loop.post_edge,
                      dac=site.audio.dac)
    bank.factory_name     # "lgpio", "mock", ... what is really in use (None: no GPIO)
    bank.faults           # {"motion": "pin 4: ..."} sensors that could not be opened
    bank.levels()         # {"door": 1} current levels, 1 = active, to seed conditioning
    ...
    bank.close()

Each edge calls ``on_edge(t, name, level)`` with ``t = clock()`` stamped first thing and
``level`` 1 for active, after the sensor's ``active_state`` (a reed switch to ground with
the pull-up is active low: door closed = pin low = level 1). Nothing else happens on
gpiozero's threads: the render loop conditions the edges (severed.hardware.conditioning).

Choices:

* door and button are ``Button``, input is ``DigitalInputDevice``, and pir is also a
  ``DigitalInputDevice``, not ``MotionSensor``: MotionSensor polls the pin at 10 Hz
  on its own thread and averages a queue of readings, which delays edges by up to
  ``queue_len / sample_rate`` and blurs their times. The conditioning here does the
  smoothing (debounce, hold, merging HC-SR501 retriggers) with exact edge times.
* gpiozero's ``bounce_time`` is not used: with lgpio it means "stable for this long",
  with RPi.GPIO "ignore changes for this long". Conditioning does it one way for all.
* Pins the DAC HAT takes (``dac=``, the site's ``[audio] dac``: that board's pins from
  severed.hardware.dacs; not named: I2S GPIO18-21 and I2C GPIO2/3) and a pin used twice
  are refused with a SensorError naming the sensor and pin: a wiring plan mistake should
  stop the start, not silence the DAC. A device that fails to open (missing pin, no
  permission, no GPIO at all) becomes an entry of ``faults`` instead, so the show goes on
  without it.
"""

import logging
import threading
import time
import warnings

from severed.errors import SensorError
from severed.hardware import dacs
from severed.show.events import Event

log = logging.getLogger("severed.hardware")

FACTORY_NAMES = {
    "LGPIOFactory": "lgpio",
    "RPiGPIOFactory": "rpigpio",
    "PiGPIOFactory": "pigpio",
    "NativeFactory": "native",
    "MockFactory": "mock",
}


def factory_name_of(factory):
    """The short name (as in the config) of a gpiozero pin factory object."""
    if factory is None:
        return None
    cls = type(factory).__name__
    return FACTORY_NAMES.get(cls, cls)


def check_pins(specs, dac=None):
    """Raise SensorError for a pin DAC board ``dac`` takes (see severed.hardware.dacs;
    None: the pins every common HAT takes) or a pin used by two sensors."""
    taken = dacs.pins_taken(dac)
    used = {}
    for spec in specs:
        if spec.pin in taken:
            raise SensorError(f"sensor {spec.name!r}: GPIO{spec.pin} is taken by the DAC "
                              f"({taken[spec.pin]}); wire the sensor to another pin")
        if spec.pin in used:
            raise SensorError(f"sensor {spec.name!r}: GPIO{spec.pin} is already used by "
                              f"sensor {used[spec.pin]!r}")
        used[spec.pin] = spec.name


def _load_factory(name):
    """(factory, owned, fallback warnings) for a pin factory named as in the config."""
    from gpiozero import Device

    if name == "auto":
        # gpiozero's own choice (lgpio, rpigpio, pigpio, native), or
        # GPIOZERO_PIN_FACTORY; shared with any other gpiozero user in the process.
        if Device.pin_factory is not None:
            return Device.pin_factory, False, []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if hasattr(Device, "ensure_pin_factory"):
                Device.ensure_pin_factory()
            else:  # gpiozero 1.6 (Debian bookworm's python3-gpiozero)
                Device.pin_factory = Device._default_pin_factory()
        return Device.pin_factory, False, [str(w.message) for w in caught]
    if name == "mock":
        from gpiozero.pins.mock import MockFactory

        if isinstance(Device.pin_factory, MockFactory):
            return Device.pin_factory, False, []
        return MockFactory(), True, []
    from importlib.metadata import entry_points

    for ep in entry_points(group="gpiozero_pin_factories"):
        if ep.name == name:
            return ep.load()(), True, []
    raise SensorError(f"pin_factory {name!r}: gpiozero has no such pin factory")


class SensorBank:
    """The site's sensors as gpiozero devices; see the module docstring."""

    def __init__(self, specs, pin_factory="auto", on_edge=None, clock=time.monotonic,
                 dac=None):
        self.specs = tuple(specs)
        check_pins(self.specs, dac)  # dac: the site's [audio] dac, to agree with its check
        self._on_edge = on_edge
        self._clock = clock
        self._devices = {}  # name -> gpiozero device
        self._invert = {}  # name -> True when gpiozero's "active" is our inactive
        self.faults = {}  # name -> reason, for sensors that could not be opened
        self.factory_fallbacks = []  # gpiozero's warnings while choosing a factory
        self._factory = None
        self._factory_name = None
        self._owns_factory = False
        self._lock = threading.Lock()
        if not self.specs:
            return
        try:
            self._factory, self._owns_factory, self.factory_fallbacks = _load_factory(
                pin_factory)
        except SensorError:
            raise
        except Exception as exc:  # no GPIO library works here: no sensors, show goes on
            reason = f"no GPIO pin factory ({pin_factory}): {exc}"
            log.error("sensors: %s; every sensor is out of service", reason)
            self.faults = {spec.name: reason for spec in self.specs}
            return
        self._factory_name = factory_name_of(self._factory)
        for message in self.factory_fallbacks:
            log.warning("sensors: gpiozero: %s", message)
        for spec in self.specs:
            self._open(spec)
        log.info("sensors: %d of %d open with the %s pin factory", len(self._devices),
                 len(self.specs), self.factory_name)

    @property
    def factory_name(self):
        """The pin factory really in use ("lgpio", "mock", ...), None without one.

        Compare with the configured one: gpiozero falls back silently (lgpio without a
        writable working directory, for one) and then the sensors may be fake."""
        return self._factory_name

    def _open(self, spec):
        from gpiozero import Button, DigitalInputDevice

        cls = Button if spec.kind in ("door", "button") else DigitalInputDevice
        active_high = spec.active_state == "high"
        if spec.pull == "none":
            pull_up, active_state = None, active_high
            invert = False
        else:
            # gpiozero derives "active" from the pull (pull-up: active low); a sensor
            # whose active level is the other one gets its level flipped here.
            pull_up, active_state = spec.pull == "up", None
            invert = active_high == pull_up
        kwargs = {}
        if cls is Button:
            # when_held is not used; a short hold_time lets close() finish at once even
            # while the door is closed (Button's hold thread waits out hold_time).
            kwargs["hold_time"] = 0.01
        try:
            device = cls(spec.pin, pull_up=pull_up, active_state=active_state,
                         bounce_time=None, pin_factory=self._factory, **kwargs)
        except Exception as exc:  # missing pin, busy, permission: a fault, not a crash
            reason = f"GPIO{spec.pin}: cannot open ({type(exc).__name__}: {exc})"
            self.faults[spec.name] = reason
            log.error("sensors: %s: %s", spec.name, reason)
            return
        name = spec.name
        device.when_activated = lambda: self._edge(name, 0 if invert else 1)
        device.when_deactivated = lambda: self._edge(name, 1 if invert else 0)
        self._devices[name] = device
        self._invert[name] = invert

    def _edge(self, name, level):
        # On gpiozero's thread: stamp first, hand over, nothing else.
        t = self._clock()
        if self._on_edge is None:
            return
        try:
            self._on_edge(t, name, level)
        except Exception:
            log.exception("sensors: edge handler failed for %s", name)

    def levels(self):
        """{name: 1 active / 0 inactive} for every open sensor, read from the pins now."""
        return {name: int(bool(dev.is_active) != self._invert[name])
                for name, dev in self._devices.items()}

    def fault_events(self, t):
        """A ``<name>.fault`` event for each sensor that could not be opened."""
        return [Event(t, f"{name}.fault", name, {"reason": reason})
                for name, reason in self.faults.items()]

    def spec(self, name):
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise SensorError(f"no sensor named {name!r} (known: "
                          f"{', '.join(s.name for s in self.specs) or 'none'})")

    def mock_pin(self, name):
        """The MockPin behind a sensor (simulation and tests; mock pin factory only)."""
        self.spec(name)
        if self.factory_name != "mock":
            raise SensorError(f"sensor {name!r}: pins can only be driven with the mock pin "
                              f"factory (this bank uses {self.factory_name})")
        if name not in self._devices:
            raise SensorError(f"sensor {name!r} is not open: {self.faults.get(name)}")
        return self._devices[name].pin

    def drive(self, name, level):
        """Set a mock sensor to ``level`` (1 active): the pin goes to the level its
        active_state means, and the edge arrives as from the real sensor."""
        pin = self.mock_pin(name)
        high = (self.spec(name).active_state == "high") == bool(level)
        with self._lock:  # the keyboard and a scenario may both drive pins
            if high:
                pin.drive_high()
            else:
                pin.drive_low()

    def close(self):
        """Release every device (and a pin factory this bank created)."""
        devices, self._devices = self._devices, {}
        for name, device in devices.items():
            try:
                device.close()
            except Exception as exc:
                log.warning("sensors: closing %s: %s", name, exc)
        if self._owns_factory and self._factory is not None:
            try:
                self._factory.close()
            except Exception as exc:
                log.warning("sensors: closing the pin factory: %s", exc)
        self._factory = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
