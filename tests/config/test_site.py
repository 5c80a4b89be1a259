import textwrap

import pytest

from severed.config import load_site, load_site_text
from severed.config.model import AudioConfig, SiteConfig
from severed.errors import ConfigError


def site(text, path="site.toml", warnings=None):
    return load_site_text(textwrap.dedent(text), path, warnings)


def problems(text, path="site.toml"):
    with pytest.raises(ConfigError) as info:
        site(text, path)
    return info.value.problems


def test_empty_file_gives_all_defaults():
    s = site("")
    assert s == SiteConfig(path="site.toml")
    assert s.audio == AudioConfig() and s.hours is None and s.sensors == ()


def test_values_are_read_and_typed():
    s = site("""
        [site]
        name = "lobby"
        mains_hz = 60
        master_trim_db = -3
        [audio]
        device = "wav:/tmp/x.wav"
        sample_rate = 44100
        block_frames = 1024
        [hours]
        open = "09:00"
        close = "18:30"
        days = ["mon", "fri"]
        fade_s = 10
        """)
    assert s.name == "lobby" and s.mains_hz == 60.0 and isinstance(s.mains_hz, float)
    assert s.master_trim_db == -3.0 and isinstance(s.master_trim_db, float)
    assert s.audio.device == "wav:/tmp/x.wav" and s.audio.sample_rate == 44100
    assert s.audio.block_frames == 1024
    assert s.hours.open == "09:00" and s.hours.close == "18:30"
    assert s.hours.days == ("mon", "fri") and s.hours.fade_s == 10.0


def test_per_kind_sensor_defaults():
    s = site("""
        [sensors.door]
        kind = "door"
        pin = 17
        [sensors.motion]
        kind = "pir"
        pin = 27
        [sensors.reward]
        kind = "button"
        pin = 23
        [sensors.lamp]
        kind = "input"
        pin = 24
        debounce_s = 0.2
        """)
    by = {x.name: x for x in s.sensors}
    assert [x.name for x in s.sensors] == ["door", "motion", "reward", "lamp"]
    assert by["motion"].warmup_s == 60 and by["motion"].merge_s == 3
    assert by["motion"].debounce_s == 0.1
    assert (by["motion"].pull, by["motion"].active_state) == ("down", "high")
    assert by["door"].debounce_s == 0.05 and by["door"].warmup_s == 0
    assert (by["door"].pull, by["door"].active_state) == ("up", "low")
    assert by["reward"].debounce_s == 0.02
    assert by["lamp"].debounce_s == 0.2  # given in the file: wins over the kind default


def test_every_problem_is_collected_with_file_line_and_key():
    text = """\
        [site]
        mains_hz = 55
        pin_factroy = "mock"
        [audio]
        sample_rate = 44000
        block_frames = 1000
        [hours]
        open = "9:00"
        close = "25:00"
        days = ["mon", "fry"]
        """
    p = problems(text)
    assert len(p) == 7, p
    assert p[0].startswith("site.toml:3: site.pin_factroy: unknown key")
    assert "did you mean 'pin_factory'?" in p[0]
    assert p[1].startswith("site.toml:2: site.mains_hz: 55 is not one of 50, 60")
    assert any(x.startswith("site.toml:5: audio.sample_rate: 44000 is not one of") for x in p)
    assert any(x.startswith("site.toml:6: audio.block_frames: 1000 is not a power of two")
               for x in p)
    assert any(x.startswith("site.toml:8: hours.open:") for x in p)
    assert any(x.startswith("site.toml:9: hours.close:") for x in p)
    assert any(x.startswith("site.toml:10: hours.days: 'fry' is not one of") and
               "did you mean 'fri'?" in x for x in p)


def test_error_is_a_value_error_and_str_lists_every_problem():
    with pytest.raises(ValueError) as info:
        site("[audio]\nchannels = 0\nrender_ahead_blocks = 99\n")
    assert str(info.value).count("\n") == 1


def test_wrong_types_are_named():
    p = problems("""
        [site]
        master_trim_db = "loud"
        [audio]
        sample_rate = 48000.0
        """)
    assert "site.master_trim_db: must be a number, not a string" in p[0]
    assert "audio.sample_rate: must be a whole number, not a number" in p[1]


@pytest.mark.parametrize("bad", [256 * 3, 128, 16384])
def test_block_frames_power_of_two_within_bounds(bad):
    assert problems(f"[audio]\nblock_frames = {bad}\n")[0].startswith("site.toml:2: audio.block_frames")


@pytest.mark.parametrize("good", [256, 512, 2048, 8192])
def test_block_frames_good(good):
    assert site(f"[audio]\nblock_frames = {good}\n").audio.block_frames == good


def test_unknown_section_and_did_you_mean():
    p = problems("[sensor.door]\nkind = 'door'\npin = 17\n")
    assert p == ["site.toml:1: sensor: unknown section (did you mean 'sensors'?)"]


def test_toml_syntax_error_names_file_and_line():
    p = problems("[site]\nname = \"x\"\nmains_hz = \n")
    assert len(p) == 1
    assert p[0].startswith("site.toml:3: TOML syntax: Invalid value")


def test_a_bracket_left_open_is_reported_where_it_opened():
    # tomllib notices only where the next key begins: line 6 for a bracket of line 3.
    p = problems('[site]\nname = "x"\nmains_hz = [50\n\n# a comment\nshow = "lumon"\n')
    assert p == ["site.toml:3: TOML syntax: '[' opened on this line is not closed (the "
                 "parser stopped at line 6, column 1: Unclosed array)"]


def test_a_bad_value_inside_a_long_array_is_reported_at_the_value():
    p = problems("[site]\nname = [\n  1,\n  nope,\n]\n")
    assert p[0].startswith("site.toml:4: TOML syntax: Invalid value")


def test_pin_used_twice_names_both_sensors():
    p = problems("""
        [sensors.door]
        kind = "door"
        pin = 17
        [sensors.motion]
        kind = "pir"
        pin = 17
        """)
    assert p == ["site.toml:7: sensors.motion.pin: sensors 'door' and 'motion' both use BCM 17"]


@pytest.mark.parametrize("pin, why", [(18, "I2S bit clock"), (19, "I2S frame clock"),
                                      (20, "I2S data"), (21, "I2S data"), (2, "I2C SDA"),
                                      (3, "I2C SCL")])
def test_dac_hat_pins_are_refused_with_reason(pin, why):
    p = problems(f"[sensors.bell]\nkind = 'button'\npin = {pin}\n")
    assert len(p) == 1
    assert p[0].startswith(f"site.toml:3: sensors.bell.pin: sensor 'bell' is on BCM {pin}")
    assert why in p[0]


@pytest.mark.parametrize("pin", [-1, 28, 40])
def test_pins_outside_the_header(pin):
    p = problems(f"[sensors.bell]\nkind = 'button'\npin = {pin}\n")
    assert p == [f"site.toml:3: sensors.bell.pin: BCM {pin} is not a header GPIO (0 to 27)"]


def test_digiamp_mute_pin_is_a_warning_not_an_error():
    warnings = []
    s = site("[sensors.reward]\nkind = 'button'\npin = 22\n", warnings=warnings)
    assert s.sensors[0].pin == 22
    assert len(warnings) == 1 and "DigiAMP+" in warnings[0]
    assert warnings[0].startswith("site.toml:3: sensors.reward.pin: warning:")


def test_sensor_needs_kind_and_pin():
    p = problems("[sensors.door]\npull = 'up'\n")
    assert p == ["site.toml:1: sensors.door.kind: is required",
                 "site.toml:1: sensors.door.pin: is required"]


def test_sensor_name_must_make_event_names():
    p = problems("[sensors.cmd]\nkind = 'button'\npin = 5\n")
    assert "cannot name a sensor" in p[0]


def test_odd_pull_pairing_is_a_warning():
    warnings = []
    site("[sensors.door]\nkind = 'door'\npin = 17\nactive_state = 'high'\n", warnings=warnings)
    assert len(warnings) == 1 and "pull 'up' with active_state 'high'" in warnings[0]


def test_hours_open_equals_close_and_empty_days():
    p = problems("[hours]\nopen = '10:00'\nclose = '10:00'\ndays = []\n")
    assert len(p) == 2
    assert "same time as open" in p[0] and "never open" in p[1]


def test_hours_may_run_past_midnight_and_close_at_24():
    assert site("[hours]\nopen = '20:00'\nclose = '02:00'\n").hours.close == "02:00"
    assert site("[hours]\nopen = '08:00'\nclose = '24:00'\n").hours.close == "24:00"
    assert problems("[hours]\nopen = '24:00'\n")[0].startswith("site.toml:2: hours.open")


def test_relative_show_path_is_anchored_at_the_config(tmp_path):
    cfg = tmp_path / "etc" / "severed.toml"
    cfg.parent.mkdir()
    cfg.write_text("[site]\nshow = 'shows/mine.toml'\n")
    assert load_site(cfg).show == str(tmp_path / "etc" / "shows" / "mine.toml")
    cfg.write_text("[site]\nshow = 'lumon'\n")
    assert load_site(cfg).show == "lumon"


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_site(tmp_path / "nope.toml")
    assert info.value.problems[0].startswith(f"{tmp_path / 'nope.toml'}: cannot read")


def test_wav_device_needs_a_path():
    assert "needs a path" in problems("[audio]\ndevice = 'wav:'\n")[0]


def test_named_dac_is_kept_in_the_audio_config():
    assert site("[audio]\ndac = 'hifiberry-amp100'\n").audio.dac == "hifiberry-amp100"
    assert site("").audio.dac is None


def test_unknown_dac_name_suggests_the_nearest_and_keeps_the_generic_check():
    p = problems("""
        [audio]
        dac = "rpi-digiamp"
        [sensors.bell]
        kind = "button"
        pin = 18
        """)
    assert len(p) == 2
    assert p[0].startswith("site.toml:3: audio.dac: 'rpi-digiamp' is not a DAC severed "
                           "knows (did you mean 'rpi-digiampplus'?); known: none, ")
    assert p[1].startswith("site.toml:6: sensors.bell.pin: sensor 'bell' is on BCM 18, "
                           "which DAC HATs take (I2S bit clock (BCLK))")


def test_sensor_on_a_pin_the_named_board_takes_names_board_use_and_free_pins():
    p = problems("""
        [audio]
        dac = "rpi-digiampplus"
        [sensors.door]
        kind = "door"
        pin = 5
        [sensors.reward]
        kind = "button"
        pin = 22
        """)
    assert p == ["site.toml:9: sensors.reward.pin: sensor 'reward' is on BCM 22, which the "
                 "Raspberry Pi DigiAMP+ (formerly IQaudIO Pi-DigiAMP+) ([audio] dac = "
                 "\"rpi-digiampplus\") takes (amplifier mute line): move the sensor to a pin "
                 "free on that board (BCM 6, 12, 13, 16, 17, 23, 24, 25, 26 or 27)"]


def test_named_board_without_the_pin_gives_no_warning_and_frees_i2c():
    warnings = []
    s = site("""
        [audio]
        dac = "hifiberry-dac"
        [sensors.reward]
        kind = "button"
        pin = 22
        [sensors.bell]
        kind = "button"
        pin = 3
        """, warnings=warnings)
    assert [x.pin for x in s.sensors] == [22, 3] and warnings == []
    # Its I2S pins stay taken.
    p = problems("[audio]\ndac = 'hifiberry-dac'\n[sensors.bell]\nkind = 'button'\npin = 19\n")
    assert len(p) == 1 and "(I2S frame clock (LRCLK))" in p[0]


def test_none_keeps_the_generic_check():
    warnings = []
    site("[audio]\ndac = 'none'\n[sensors.r]\nkind = 'button'\npin = 22\n", warnings=warnings)
    assert len(warnings) == 1 and "DigiAMP+" in warnings[0]
    p = problems("[audio]\ndac = 'none'\n[sensors.r]\nkind = 'button'\npin = 2\n")
    assert len(p) == 1 and "which DAC HATs take (I2C SDA" in p[0]


def test_amp100_with_the_default_door_pin_fails():
    p = problems("""
        [audio]
        dac = "hifiberry-amp100"
        [sensors.door]
        kind = "door"
        pin = 17
        """)
    assert len(p) == 1
    assert "BCM 17, which the HiFiBerry Amp100" in p[0] and "(reset line of its DAC)" in p[0]
    assert p[0].endswith("(BCM 5, 6, 12, 13, 16, 22, 23, 24, 25, 26 or 27)")


def test_no_usual_pin_left_is_said_plainly():
    text = "[audio]\ndac = 'hifiberry-amp100'\n" + "".join(
        f"[sensors.s{pin}]\nkind = 'button'\npin = {pin}\n"
        for pin in (17, 5, 6, 12, 13, 16, 22, 23, 24, 25, 26, 27))
    p = problems(text)
    assert len(p) == 1 and p[0].startswith("site.toml:5: sensors.s17.pin: sensor 's17'")
    assert p[0].endswith("(none of the usual ones is left: free one)")
