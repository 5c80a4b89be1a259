"""SensorBank on gpiozero's MockFactory: levels, edges, refusals, faults."""

import time
import warnings

import pytest
from gpiozero import Button, Device
from gpiozero.exc import BadPinFactory, PinFactoryFallback
from gpiozero.pins.mock import MockFactory

from severed.config.model import SensorSpec
from severed.errors import SensorError
from severed.hardware.sensors import SensorBank


@pytest.fixture
def mock_factory():
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = None


class Recorder:
    """on_edge target with a manual clock: records (t, name, level)."""

    def __init__(self):
        self.now = 100.0
        self.edges = []

    def clock(self):
        return self.now

    def __call__(self, t, name, level):
        self.edges.append((t, name, level))


SPECS = (
    SensorSpec("door", "door", 17, pull="up", active_state="low"),
    SensorSpec("motion", "pir", 4, pull="down", active_state="high"),
    SensorSpec("reward", "button", 27, pull="up", active_state="low"),
    SensorSpec("lamp", "input", 22, pull="none", active_state="low"),
)


def make_bank(specs=SPECS, factory="auto"):
    rec = Recorder()
    return SensorBank(specs, pin_factory=factory, on_edge=rec, clock=rec.clock), rec


def test_edges_are_stamped_and_mapped_to_active_levels(mock_factory):
    bank, rec = make_bank()
    assert bank.factory_name == "mock" and bank.faults == {}
    pins = {name: mock_factory.pin(pin) for name, pin in
            (("door", 17), ("motion", 4), ("reward", 27), ("lamp", 22))}
    rec.now = 101.0
    pins["door"].drive_low()      # reed closes to ground: door closed
    rec.now = 101.5
    pins["motion"].drive_high()   # PIR output goes high: motion
    rec.now = 102.0
    pins["door"].drive_high()
    rec.now = 102.25
    pins["reward"].drive_low()
    pins["reward"].drive_high()
    rec.now = 103.0
    pins["lamp"].drive_high()     # no pull: the mock pin floated low (active) ...
    pins["lamp"].drive_low()      # ... so high is inactive and low active again
    pins["lamp"].drive_low()      # a repeated level is no edge
    assert rec.edges == [(101.0, "door", 1), (101.5, "motion", 1), (102.0, "door", 0),
                         (102.25, "reward", 1), (102.25, "reward", 0), (103.0, "lamp", 0),
                         (103.0, "lamp", 1)]
    bank.close()


def test_active_state_against_the_pull_is_flipped(mock_factory):
    # A normally-closed reed switch: with the pull-up, door closed = switch open = high.
    spec = SensorSpec("door", "door", 17, pull="up", active_state="high")
    bank, rec = make_bank((spec,))
    pin = mock_factory.pin(17)
    assert bank.levels() == {"door": 1}  # pulled up: reads high, active
    pin.drive_low()
    pin.drive_high()
    assert [(n, lvl) for _, n, lvl in rec.edges] == [("door", 0), ("door", 1)]
    bank.close()


def test_levels_read_the_pins_now(mock_factory):
    bank, _ = make_bank()
    assert bank.levels() == {"door": 0, "motion": 0, "reward": 0, "lamp": 1}
    mock_factory.pin(17).drive_low()
    assert bank.levels()["door"] == 1
    bank.close()


def test_drive_sets_the_pin_level_its_active_state_means(mock_factory):
    bank, rec = make_bank()
    bank.drive("door", 1)
    assert mock_factory.pin(17).state == 0  # active low
    bank.drive("motion", 1)
    assert mock_factory.pin(4).state == 1  # active high
    bank.drive("door", 0)
    assert [(n, lvl) for _, n, lvl in rec.edges] == [("door", 1), ("motion", 1),
                                                       ("door", 0)]
    assert bank.mock_pin("door") is mock_factory.pin(17)
    with pytest.raises(SensorError, match="gate"):
        bank.mock_pin("gate")
    bank.close()


@pytest.mark.parametrize("pin", [18, 19, 20, 21, 2, 3])
def test_dac_pins_are_refused_naming_sensor_and_pin(mock_factory, pin):
    spec = SensorSpec("motion", "pir", pin)
    with pytest.raises(SensorError, match=rf"'motion'.*GPIO{pin}\b"):
        SensorBank((spec,), on_edge=Recorder())


def test_the_named_dac_decides_which_pins_are_refused(mock_factory):
    door17 = (SensorSpec("door", "door", 17),)
    with pytest.raises(SensorError, match=r"'door': GPIO17 is taken by the DAC \(reset line"):
        SensorBank(door17, on_edge=Recorder(), dac="hifiberry-amp100")
    # The same wiring with a board that leaves 17 free opens the sensor.
    bank = SensorBank(door17, on_edge=Recorder(), dac="hifiberry-dacplus")
    assert bank.faults == {} and bank.levels() == {"door": 0}
    bank.close()
    # A board without I2C leaves GPIO2 free; unnamed, it stays refused.
    bell2 = (SensorSpec("bell", "button", 2),)
    SensorBank(bell2, on_edge=Recorder(), dac="hifiberry-dac").close()
    with pytest.raises(SensorError, match="GPIO2 "):
        SensorBank(bell2, on_edge=Recorder())


def test_pin_used_twice_is_refused(mock_factory):
    specs = (SensorSpec("door", "door", 17), SensorSpec("reward", "button", 17))
    with pytest.raises(SensorError, match=r"'reward'.*GPIO17.*'door'"):
        SensorBank(specs, on_edge=Recorder())
    # Nothing was left open: the pin is free for the next try.
    Button(17).close()


def test_device_that_fails_to_open_is_a_fault_not_a_crash(mock_factory):
    squatter = Button(27)  # another program holds the button's pin
    bank, rec = make_bank()
    assert set(bank.faults) == {"reward"} and "GPIO27" in bank.faults["reward"]
    assert set(bank.levels()) == {"door", "motion", "lamp"}
    events = bank.fault_events(5.0)
    assert [(e.t, e.type, e.sensor) for e in events] == [(5.0, "reward.fault", "reward")]
    assert events[0].data["reason"] == bank.faults["reward"]
    mock_factory.pin(17).drive_low()  # the others still work
    assert rec.edges == [(100.0, "door", 1)]
    squatter.close()
    bank.close()


def test_pin_missing_from_the_board_is_a_fault(mock_factory):
    bank, _ = make_bank((SensorSpec("door", "door", 45),))
    assert "GPIO45" in bank.faults["door"]
    bank.close()


def test_close_releases_every_pin(mock_factory):
    bank, _ = make_bank()
    bank.close()
    for pin in (17, 4, 27, 22):
        Button(pin).close()  # would raise GPIOPinInUse if still held


def test_failing_edge_handler_does_not_stop_later_edges(mock_factory, caplog):
    calls = []

    def handler(t, name, level):
        calls.append(level)
        if len(calls) == 1:
            raise RuntimeError("queue closed")

    bank = SensorBank(SPECS[:1], on_edge=handler)
    pin = mock_factory.pin(17)
    pin.drive_low()
    pin.drive_high()
    assert calls == [1, 0] and "edge handler failed for door" in caplog.text
    bank.close()


def test_mock_factory_by_name_is_private_and_closed(monkeypatch):
    Device.pin_factory = None
    bank, rec = make_bank(factory="mock")
    assert bank.factory_name == "mock" and Device.pin_factory is None
    bank.drive("door", 1)
    assert rec.edges == [(100.0, "door", 1)]
    bank.close()


def test_auto_honours_gpiozero_pin_factory_variable(monkeypatch):
    Device.pin_factory = None
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    try:
        bank, _ = make_bank()
        assert bank.factory_name == "mock" and bank.faults == {}
        bank.close()
    finally:
        Device.pin_factory.reset()
        Device.pin_factory = None


def test_auto_fallback_is_recorded_for_doctor(monkeypatch, caplog):
    def fake_default():
        warnings.warn(PinFactoryFallback("Falling back from lgpio: cannot create FIFO"))
        return MockFactory()

    Device.pin_factory = None
    monkeypatch.setattr(Device, "_default_pin_factory", staticmethod(fake_default))
    try:
        bank, _ = make_bank()
        assert bank.factory_name == "mock"
        assert bank.factory_fallbacks == ["Falling back from lgpio: cannot create FIFO"]
        assert "Falling back from lgpio" in caplog.text
        bank.close()
    finally:
        Device.pin_factory.reset()
        Device.pin_factory = None


def test_no_gpio_at_all_faults_every_sensor(monkeypatch):
    def no_factory():
        raise BadPinFactory("Unable to load any default pin factory!")

    Device.pin_factory = None
    monkeypatch.setattr(Device, "_default_pin_factory", staticmethod(no_factory))
    bank, _ = make_bank()
    assert bank.factory_name is None
    assert set(bank.faults) == {"door", "motion", "reward", "lamp"}
    assert all("Unable to load" in r for r in bank.faults.values())
    bank.close()


def test_unknown_factory_name_is_an_error():
    with pytest.raises(SensorError, match="'gpiod'"):
        make_bank(factory="gpiod")


def test_close_is_prompt_while_a_door_is_closed(mock_factory):
    bank, _ = make_bank()
    bank.drive("door", 1)
    bank.drive("reward", 1)
    start = time.monotonic()
    bank.close()
    assert time.monotonic() - start < 0.3  # gpiozero's default would wait out 1 s holds
