"""The DAC HAT table as the sensors, the config check and doctor see it."""

import subprocess
import sys

import pytest

from severed.errors import ConfigError
from severed.hardware import dacs
from severed.hardware.dacs import DacTable

I2S_I2C = {2, 3, 18, 19, 20, 21}


def test_names_are_the_boards_of_the_table():
    names = dacs.names()
    assert names[0] == "none" and len(names) == len(set(names)) >= 10
    assert {"hifiberry-amp100", "rpi-digiampplus", "hifiberry-dac"} <= set(names)
    assert dacs.entry("hifiberry-amp100")["name"] == "HiFiBerry Amp100"


def test_amp100_takes_its_mute_and_reset_lines():
    taken = dacs.pins_taken("hifiberry-amp100")
    assert set(taken) == I2S_I2C | {4, 17}
    assert taken[17] == "reset line of its DAC" and taken[4] == "amplifier mute line"
    assert taken[18] == "I2S bit clock (BCLK)" and taken[2].startswith("I2C SDA")


def test_every_pin_of_every_board_says_what_it_is_for():
    table = dacs.default_table()
    for name in table.names():
        for pin, use in table.pins_taken(name).items():
            assert use != "used by the board" and len(use) > 8, (name, pin)


@pytest.mark.parametrize("name", [None, "none", "no-such-board"])
def test_unnamed_board_takes_the_pins_every_hat_takes(name):
    assert set(dacs.pins_taken(name)) == I2S_I2C
    assert set(dacs.caution_pins(name)) == {0, 1, 22}


def test_a_named_board_decides_about_22():
    assert 22 in dacs.pins_taken("rpi-digiampplus")
    assert set(dacs.caution_pins("rpi-digiampplus")) == {0, 1}
    assert 22 not in dacs.pins_taken("hifiberry-dacplus")
    assert set(dacs.caution_pins("hifiberry-dacplus")) == {0, 1}
    # A board without I2C leaves 2 and 3 to the sensors.
    assert set(dacs.pins_taken("hifiberry-dac")) == {18, 19, 20, 21}


def test_free_sensor_pins_leave_out_the_board_and_other_sensors():
    assert dacs.free_sensor_pins("hifiberry-amp100", used={23, 27}) == \
        [5, 6, 12, 13, 16, 22, 24, 25, 26]
    assert dacs.free_sensor_pins(None) == [5, 6, 12, 13, 16, 17, 23, 24, 25, 26, 27]
    assert 22 not in dacs.free_sensor_pins("rpi-digiampplus")


def test_header_pins_are_the_40_pin_header():
    table = dacs.default_table()
    physical = [table.header_pin(bcm) for bcm in range(28)]
    assert len(set(physical)) == 28 and all(1 <= p <= 40 for p in physical)
    assert (dacs.header_pin(17), dacs.header_pin(5), dacs.header_pin(18),
            dacs.header_pin(27), dacs.header_pin(23)) == (11, 29, 12, 13, 16)
    assert dacs.header_pin(28) is None
    # Never a power or ground pin of the header.
    assert not set(physical) & {1, 2, 4, 6, 9, 14, 17, 20, 25, 30, 34, 39}


def test_unknown_name_says_did_you_mean():
    with pytest.raises(ConfigError, match=r"'hifiberry-amp10' is not a DAC severed knows "
                                          r"\(did you mean 'hifiberry-amp100'\?\)"):
        dacs.entry("hifiberry-amp10")
    assert dacs.default_table().unknown("none") is None


def test_a_missing_or_broken_table_names_its_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.toml: cannot read the DAC table"):
        DacTable.read(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("[dacs.x]\npins = [1]\n")
    with pytest.raises(ConfigError, match="bad.toml: not a DAC table"):
        DacTable.read(tmp_path / "bad.toml")


def test_overlays_find_their_board():
    table = dacs.default_table()
    assert table.dac_for_overlays(["vc4-kms-v3d", "hifiberry-amp100"])[0] == "hifiberry-amp100"
    assert table.dac_for_overlays(["vc4-kms-v3d"]) == (None, None)


def test_checking_pins_imports_no_numpy():
    # Start-up time: the config check and the table must not pull in numpy.
    code = ("import sys; from severed.hardware import dacs; import severed.config.site; "
            "dacs.pins_taken('hifiberry-amp100'); print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
