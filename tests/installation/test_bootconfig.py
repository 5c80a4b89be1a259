"""config.txt edits (installation/lib/bootconfig.py) and the DAC table they read."""

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"

spec = importlib.util.spec_from_file_location(
    "bootconfig", CHECKOUT / "installation/lib/bootconfig.py")
bootconfig = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bootconfig)

DACS_TOML = CHECKOUT / "src/severed/data/dacs.toml"
TABLE = bootconfig.load_dacs(DACS_TOML)
BOOKWORM = (FIXTURES / "config-bookworm.txt").read_text()
BULLSEYE = (FIXTURES / "config-bullseye.txt").read_text()
SENSOR_PINS = {17: "door", 27: "motion", 23: "reward"}


def block_of(text):
    lines = text.splitlines()
    start = lines.index(bootconfig.BEGIN)
    end = lines.index(bootconfig.END)
    return lines[start + 1:end]


@pytest.mark.parametrize("original", [BOOKWORM, BULLSEYE], ids=["bookworm", "bullseye"])
@pytest.mark.parametrize("name", sorted(n for n in TABLE if n != "none"))
def test_apply_then_remove_gives_back_the_original(original, name):
    new, _ = bootconfig.apply(original, TABLE, name)
    assert new != original
    assert bootconfig.apply(new, TABLE, name) == (new, [])  # idempotent
    assert bootconfig.remove(new) == original
    assert all(len(line) < 98 for line in new.splitlines())


def test_block_order_sends_audio_off_to_the_base_device_tree():
    new, _ = bootconfig.apply(BOOKWORM, TABLE, "hifiberry-dacplus")
    assert block_of(new)[1:] == [
        "[all]", "dtoverlay=", "dtparam=audio=off", "dtoverlay=hifiberry-dacplus"]
    # Everything before the block is the original, but for the vc4 line.
    before = new[:new.index(bootconfig.BEGIN)].rstrip("\n").splitlines()
    original = BOOKWORM.rstrip("\n").splitlines()
    assert len(before) == len(original) + 1
    assert before[original.index("dtoverlay=vc4-kms-v3d")] == bootconfig.VC4_MARK
    assert [line for line in before if line != bootconfig.VC4_MARK] == [
        "dtoverlay=vc4-kms-v3d,noaudio" if line == "dtoverlay=vc4-kms-v3d" else line
        for line in original]


def test_comments_and_other_overlays_survive():
    new, _ = bootconfig.apply(BULLSEYE, TABLE, "rpi-digiampplus")
    for line in ("dtoverlay=gpio-shutdown,gpio_pin=3", "#dtoverlay=vc4-fkms-v3d",
                 "dtoverlay=vc4-fkms-v3d", "dtparam=audio=on", "[pi4]", "enable_uart=1"):
        assert new.splitlines().count(line) == BULLSEYE.splitlines().count(line), line
    assert bootconfig.VC4_MARK not in new  # fkms is not the KMS driver: left alone


def test_existing_noaudio_is_not_doubled_and_stays_on_remove():
    text = "dtparam=audio=on\ndtoverlay=vc4-kms-v3d,cma-128,noaudio\n"
    new, _ = bootconfig.apply(text, TABLE, "hifiberry-dac")
    assert new.count("noaudio") == 1
    assert bootconfig.remove(new) == text


def test_changing_dac_replaces_the_block_in_place():
    first, _ = bootconfig.apply(BOOKWORM, TABLE, "hifiberry-dac")
    appended = first + "# added later by hand\nenable_uart=1\n"
    second, _ = bootconfig.apply(appended, TABLE, "rpi-dacplus")
    assert block_of(second)[-1] == "dtoverlay=rpi-dacplus"
    assert "dtoverlay=hifiberry-dac" not in second
    assert second.endswith(bootconfig.END + "\n# added later by hand\nenable_uart=1\n")
    assert second.count(bootconfig.VC4_MARK) == 1


def test_none_removes_the_block_and_the_noaudio():
    first, _ = bootconfig.apply(BOOKWORM, TABLE, "wm8960")
    assert bootconfig.apply(first, TABLE, "none") == (BOOKWORM, [])
    assert bootconfig.apply(BOOKWORM, TABLE, "none") == (BOOKWORM, [])


def test_a_sound_overlay_outside_the_block_is_reported_not_removed():
    text = BOOKWORM + "dtoverlay=hifiberry-dacplus\n"
    new, warnings = bootconfig.apply(text, TABLE, "hifiberry-dac")
    assert len(warnings) == 1 and "line 46" in warnings[0] and "hifiberry-dacplus" in warnings[0]
    assert bootconfig.remove(new) == text


def test_a_half_removed_block_is_refused():
    first, _ = bootconfig.apply(BOOKWORM, TABLE, "hifiberry-dac")
    broken = first.replace(bootconfig.END + "\n", "")
    with pytest.raises(bootconfig.EditError, match="one clean pair"):
        bootconfig.apply(broken, TABLE, "hifiberry-dac")


def test_unknown_dac_names_the_known_ones():
    with pytest.raises(bootconfig.EditError, match="hifiberry-dac.*wm8960"):
        bootconfig.apply(BOOKWORM, TABLE, "hifibery-dac")


def test_file_without_final_newline():
    new, _ = bootconfig.apply("dtparam=audio=on", TABLE, "hifiberry-dac")
    assert new.startswith("dtparam=audio=on\n\n# --- severed ---\n") and new.endswith("---\n")
    assert bootconfig.remove(new) == "dtparam=audio=on\n"


# --- the table itself ------------------------------------------------------------------

FIELDS = {"name": str, "chip": str, "overlays": list, "card_id": str, "card_id_alt": list,
          "mixer": str, "pins": list, "i2c_address": int, "has_eeprom": bool,
          "verified": str, "quirks": list, "pin_uses": dict}


def test_table_schema():
    raw = tomllib.loads(DACS_TOML.read_text())
    assert raw["schema"] == 1
    assert "none" in TABLE and len(TABLE) >= 10
    for name, entry in TABLE.items():
        assert re.fullmatch(r"[a-z0-9-]+", name), name
        assert set(entry) == set(FIELDS), name
        for field, kind in FIELDS.items():
            assert isinstance(entry[field], kind), (name, field)
        assert entry["verified"] in ("overlay", "card", "none"), name
        assert len(entry["card_id"]) <= 15, name  # the kernel cuts ids at 15
        assert all(0 <= pin <= 27 for pin in entry["pins"]), name
        assert entry["quirks"], name
        if entry["overlays"]:
            assert {18, 19, 20, 21} <= set(entry["pins"]), name  # the I2S block
            assert entry["card_id"], name
        if entry["i2c_address"]:
            assert {2, 3} <= set(entry["pins"]), name
        # What the board does with a pin the common I2S/I2C list does not explain.
        common = {int(pin) for pin in raw["gpio"]["uses"]}
        own = {int(pin) for pin in entry["pin_uses"]}
        assert set(entry["pins"]) - common == own, name


def test_every_clash_with_a_default_sensor_pin_is_told_to_the_technician():
    clashes = 0
    for name, entry in TABLE.items():
        for pin in set(entry["pins"]) & set(SENSOR_PINS):
            clashes += 1
            text = " ".join(entry["quirks"])
            assert re.search(rf"\bGPIO{pin}\b|\bBCM {pin}\b", text), (name, pin)
    assert clashes >= 1  # the Amp100's reset line is on GPIO17


def test_digiamp_mute_pin_is_listed():
    assert 22 in TABLE["rpi-digiampplus"]["pins"]


def test_windows_line_endings_are_kept():
    original = BOOKWORM.replace("\n", "\r\n")
    new, _ = bootconfig.apply(original, TABLE, "hifiberry-dac")
    assert "\r\n# --- severed ---\r\n" in new and "\n" not in new.replace("\r\n", "")
    assert bootconfig.remove(new) == original


def test_empty_config_txt():
    new, _ = bootconfig.apply("", TABLE, "hifiberry-dac")
    assert new.splitlines()[1] == bootconfig.BEGIN
    assert bootconfig.remove(new) == ""
