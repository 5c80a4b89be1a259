"""Every doctor check against fixture files standing in for a Pi, and on this machine."""

import collections
import os
import shutil

import pytest

from severed.config.model import AudioConfig, SensorSpec, Show, SiteConfig
from severed.errors import ConfigError, ControlError
from severed.service import doctor
from severed.service.doctor import Context, parse_cards, run_checks

CARDS = """\
 0 [sndrpihifiberry]: HifiberryDacp - snd_rpi_hifiberry_dacplus
                      snd_rpi_hifiberry_dacplus
 1 [vc4hdmi        ]: vc4-hdmi - vc4-hdmi
                      vc4-hdmi
"""

DACS = """\
schema = 1
[gpio]
sensor_pins = [5, 6, 12, 13, 16, 17, 22, 23, 24, 25, 26, 27]
header_pins = [27, 28, 3, 5, 7, 29, 31, 26, 24, 21, 19, 23, 32, 33, 8, 10, 36, 11, 12, 35,
               38, 40, 15, 16, 18, 22, 37, 13]
unnamed_dac_pins = [2, 3, 18, 19, 20, 21]
[gpio.uses]
2 = "I2C SDA"
3 = "I2C SCL"
18 = "I2S bit clock"
19 = "I2S frame clock"
20 = "I2S data in"
21 = "I2S data out"
[dacs.none]
overlays = []
card_id = ""
pins = []
[dacs.hifiberry-dacplus]
name = "HiFiBerry DAC+"
overlays = ["hifiberry-dacplus"]
card_id = "sndrpihifiberry"
card_id_alt = []
pins = [2, 3, 18, 19, 20, 21]
[dacs.hifiberry-amp100]
name = "HiFiBerry Amp100"
overlays = ["hifiberry-amp100"]
card_id = "sndrpihifiberry"
card_id_alt = []
pins = [2, 3, 4, 17, 18, 19, 20, 21]
pin_uses = { 4 = "amplifier mute line", 17 = "reset line of its DAC" }
"""

SHOW = Show(path=None, name="lumon", initial_scene="outie", scenes={})
Usage = collections.namedtuple("Usage", "total used free")


def site(tmp_path, pins=(17, 4), device="default", dac=None):
    cache = tmp_path / "cache"
    cache.mkdir(exist_ok=True)
    return SiteConfig(path=str(tmp_path / "severed.toml"), cache_dir=str(cache),
                      audio=AudioConfig(device=device, dac=dac),
                      sensors=tuple(SensorSpec(f"s{p}", "door", p) for p in pins))


def pi(tmp_path, *, config_txt="dtparam=audio=off\ndtoverlay=hifiberry-dacplus\n",
       cmdline="console=tty1 overlayroot=tmpfs quiet", temp="48312", throttled="0x0",
       ntp="yes", pins=(17, 4), device="default", status=None, dac=None):
    """A Context that looks like a healthy Pi Zero 2 W with a HiFiBerry DAC+."""
    files = {"cards": CARDS, "config.txt": config_txt, "model": "Raspberry Pi Zero 2 W Rev 1.0",
             "dacs.toml": DACS, "temp": temp + "\n", "cmdline": cmdline}
    for name, text in files.items():
        if text is not None:
            (tmp_path / name).write_text(text)
    outputs = {"vcgencmd": (0, f"throttled={throttled}\n"), "timedatectl": (0, ntp + "\n")}
    the_site = site(tmp_path, pins, device, dac)
    return Context(config_path=the_site.path, loader=lambda path: (the_site, SHOW),
                   status=status or (lambda: {"pin_factory": "LGPIOFactory",
                                              "scene": "outie", "underruns": 0,
                                              "loudness_unmeasured": []}),
                   asound_cards=str(tmp_path / "cards"),
                   config_txt=(str(tmp_path / "firmware-config.txt"),
                               str(tmp_path / "config.txt")),
                   model=str(tmp_path / "model"), dacs_toml=str(tmp_path / "dacs.toml"),
                   thermal=str(tmp_path / "temp"), cmdline=str(tmp_path / "cmdline"),
                   run=lambda argv: outputs.get(argv[0], (None, "not found")),
                   daemon_user="no-such-user-here",
                   disk_usage=lambda path: Usage(2**34, 2**33, 3 * 2**30))


def results(ctx):
    return dict(run_checks(ctx))


def test_a_healthy_pi_passes_every_check(tmp_path):
    got = results(pi(tmp_path))
    assert {name: r.status for name, r in got.items()} == {name: "ok" for name, _ in
                                                           doctor.CHECKS}
    assert got["sound card"].message == "sound card sndrpihifiberry present (card 0)"
    assert got["DAC overlay"].message.startswith("HiFiBerry DAC+: dtoverlay=hifiberry-dacplus")
    assert got["pins"].message == "sensor pins clear of the DAC's (2, 3, 18, 19, 20, 21)"
    assert got["temperature"].message == "CPU at 48.3 C"
    assert got["disk"].message.startswith("3.0 GiB free on ")
    assert got["pin factory"].message == "GPIO pin factory LGPIOFactory"


def test_this_machine_runs_every_check_without_crashing(tmp_path):
    the_site = site(tmp_path)
    ctx = Context(config_path=the_site.path, loader=lambda p: (the_site, SHOW),
                  status=lambda: (_ for _ in ()).throw(ControlError("not running")))
    for name, result in run_checks(ctx):
        assert result.status in ("ok", "warn", "fail", "skip"), name
        assert "crashed" not in result.message, (name, result)
    assert dict(run_checks(ctx))["pin factory"].status == "skip"


def test_invalid_config_fails_and_dependent_checks_skip(tmp_path):
    ctx = pi(tmp_path)
    problems = [f"severed.toml:{i}: site.x{i}: bad" for i in range(5)]
    ctx.loader = lambda path: (_ for _ in ()).throw(ConfigError(problems))
    got = results(ctx)
    assert got["config"].status == "fail"
    assert got["config"].message.endswith("site.x2: bad (+2 more)")
    assert got["cache"].status == got["pins"].status == "skip"


def test_missing_or_unwritable_cache(tmp_path):
    ctx = pi(tmp_path)
    shutil.rmtree(tmp_path / "cache")
    got = results(ctx)["cache"]
    assert got.status == "fail" and got.message.endswith("does not exist")
    assert got.fix.startswith("sudo install -d")


def test_writable_by_reads_permission_bits(tmp_path):
    import pwd
    d = tmp_path / "d"
    d.mkdir()
    os.chmod(d, 0o755)
    nobody = pwd.getpwnam("nobody")
    assert doctor.writable_by(str(d), "root") is True
    assert doctor.writable_by(str(d), "nobody") is False
    if os.geteuid() == 0:
        os.chown(d, nobody.pw_uid, -1)
        assert doctor.writable_by(str(d), "nobody") is True


@pytest.mark.parametrize("cards, device, status, text", [
    ("", "default", "fail", "no sound card matching 'sndrpihifiberry' (cards: none)"),
    (CARDS, "plughw:CARD=sndrpihifiberry,DEV=0", "ok", "sound card sndrpihifiberry present"),
    (CARDS, "plughw:CARD=IQaudIODAC", "fail", "no sound card matching 'IQaudIODAC' "
                                              "(cards: 0:sndrpihifiberry, 1:vc4hdmi)"),
    (CARDS, "null", "skip", "skipped: audio device is 'null': no sound card used"),
])
def test_sound_card_by_name(tmp_path, cards, device, status, text):
    ctx = pi(tmp_path, device=device)
    (tmp_path / "cards").write_text(cards)
    got = results(ctx)["sound card"]
    assert got.status == status and got.message.startswith(text)


def test_parse_cards():
    assert parse_cards(CARDS) == [
        (0, "sndrpihifiberry", "HifiberryDacp - snd_rpi_hifiberry_dacplus"),
        (1, "vc4hdmi", "vc4-hdmi - vc4-hdmi")]


def test_dac_overlay_missing_commented_or_with_onboard_audio(tmp_path):
    got = results(pi(tmp_path, config_txt="#dtoverlay=hifiberry-dacplus\n"
                                          "dtoverlay=vc4-kms-v3d\n"))
    assert got["DAC overlay"].status == "warn"
    assert got["DAC overlay"].message.endswith("(overlays: vc4-kms-v3d)")
    assert got["pins"].status == "skip"
    got = results(pi(tmp_path, config_txt="dtparam=audio=on\n"
                                          "dtoverlay=hifiberry-dacplus,slave\n"))
    assert got["DAC overlay"].status == "warn"
    assert "on-board audio is still on" in got["DAC overlay"].message


def test_no_dac_table_skips_gracefully(tmp_path):
    ctx = pi(tmp_path)
    os.unlink(tmp_path / "dacs.toml")
    got = results(ctx)
    assert got["DAC overlay"].message.startswith("skipped: no DAC table at")
    assert got["pins"].status == "skip"


def test_sensor_on_a_dac_pin_fails(tmp_path):
    got = results(pi(tmp_path, pins=(17, 18, 3)))["pins"]
    assert got.status == "fail"
    assert got.message == "sensor pins used by the hifiberry-dacplus DAC: s18 on GPIO18 " \
                          "(I2S bit clock), s3 on GPIO3 (I2C SCL)"
    assert got.fix.startswith("move them to free pins (BCM 5, 6, 12, 13, 16, 22, 23, 24, 25, "
                              "26, 27 are free on this board; it takes GPIO 2, 3, 18, 19, "
                              "20, 21)")


def test_site_dac_decides_the_pin_check(tmp_path):
    # config.txt loads the DAC+ (17 free), but the site says an Amp100 is fitted.
    ctx = pi(tmp_path, pins=(17, 27), dac="hifiberry-amp100")
    got = results(ctx)["pins"]
    assert got.status == "fail"
    assert got.message == ("sensor pins used by the hifiberry-amp100 DAC: s17 on GPIO17 "
                           "(reset line of its DAC)")
    assert "BCM 5, 6, 12, 13, 16, 22, 23, 24, 25, 26 are free" in got.fix
    # Named, with no DAC overlay in config.txt at all: still checked.
    got = results(pi(tmp_path, pins=(5, 27), dac="hifiberry-amp100",
                     config_txt="dtoverlay=vc4-kms-v3d\n"))["pins"]
    assert got.status == "ok" and got.message.endswith("(2, 3, 4, 17, 18, 19, 20, 21)")


def test_site_dac_and_config_txt_disagree(tmp_path):
    got = results(pi(tmp_path, pins=(5,), dac="hifiberry-amp100"))["DAC overlay"]
    assert got.status == "warn"
    assert got.message == (f"{tmp_path / 'severed.toml'} names the HiFiBerry Amp100 (dac = "
                           f"\"hifiberry-amp100\"), but {tmp_path / 'config.txt'} loads "
                           "dtoverlay=hifiberry-dacplus (HiFiBerry DAC+)")
    assert got.fix.startswith("sudo installation/install.sh --dac hifiberry-amp100 writes "
                              "dtoverlay=hifiberry-amp100 into ")
    assert 'set [audio] dac = "hifiberry-dacplus"' in got.fix


def test_site_dac_matching_config_txt_or_no_hat(tmp_path):
    amp = "dtparam=audio=off\ndtoverlay=hifiberry-amp100\n"
    got = results(pi(tmp_path, pins=(5,), dac="hifiberry-amp100", config_txt=amp))
    assert got["DAC overlay"].status == "ok"
    assert got["DAC overlay"].message.startswith("HiFiBerry Amp100: dtoverlay=hifiberry-amp100")
    # No HAT named and none loaded: nothing to warn about.
    got = results(pi(tmp_path, dac="none", config_txt="dtoverlay=vc4-kms-v3d\n"))
    assert got["DAC overlay"].status == "ok" and "as" in got["DAC overlay"].message
    # No HAT named but an overlay loaded: say which one.
    got = results(pi(tmp_path, dac="none"))["DAC overlay"]
    assert got.status == "warn" and "says dac = \"none\" (no HAT)" in got.message
    # Named but nothing loaded: the fix names the board.
    got = results(pi(tmp_path, dac="hifiberry-amp100",
                     config_txt="dtoverlay=vc4-kms-v3d\n"))["DAC overlay"]
    assert got.status == "warn"
    assert got.fix.startswith("sudo installation/install.sh --dac hifiberry-amp100, then reboot")


def test_mock_pin_factory_on_a_pi_fails(tmp_path):
    got = results(pi(tmp_path, status=lambda: {"pin_factory": "MockFactory"}))
    assert got["pin factory"].status == "fail"


@pytest.mark.parametrize("value, status, text", [
    ("0x0", "ok", "no under-voltage"),
    ("0x50000", "warn", "since boot: under-voltage, throttled (throttled=0x50000)"),
    ("0x50005", "fail", "now: under-voltage, throttled (throttled=0x50005)"),
    ("0x8", "fail", "now: soft temperature limit"),
])
def test_throttling_bits(tmp_path, value, status, text):
    got = results(pi(tmp_path, throttled=value))["power"]
    assert got.status == status and got.message.startswith(text)


@pytest.mark.parametrize("milli_c, status", [("69999", "ok"), ("70000", "warn"),
                                             ("85000", "fail"), ("junk", "warn")])
def test_temperature_thresholds(tmp_path, milli_c, status):
    assert results(pi(tmp_path, temp=milli_c))["temperature"].status == status


@pytest.mark.parametrize("free_mib, status", [(50, "fail"), (300, "warn"), (600, "ok")])
def test_free_disk_thresholds(tmp_path, free_mib, status):
    ctx = pi(tmp_path)
    ctx.disk_usage = lambda path: Usage(2**34, 0, free_mib * 2**20)
    assert results(ctx)["disk"].status == status


def test_read_only_root_and_clock(tmp_path):
    got = results(pi(tmp_path, cmdline="console=tty1 quiet", ntp="no"))
    assert got["read-only root"].status == "warn"
    assert "do_overlayfs 0" in got["read-only root"].fix
    assert got["clock"].status == "warn"


def test_a_crashing_check_is_reported_not_raised(tmp_path):
    def broken(ctx):
        raise KeyError("x")

    (name, result), = run_checks(pi(tmp_path), checks=(("broken", broken),))
    assert result.status == "fail" and result.message == "check crashed: KeyError: 'x'"


@pytest.mark.parametrize("status, verdict, text", [
    ({"scene": "innie", "underruns": 0}, "ok", "severed playing scene innie, no underruns"),
    ({"scene": "innie", "underruns": 4}, "warn", "4 underruns since start"),
    ({"scene": "outie", "safe_mode": True}, "fail", "severed runs in safe mode"),
    (None, "warn", "severed is not running"),
])
def test_daemon_state(tmp_path, status, verdict, text):
    def ask():
        if status is None:
            raise ControlError("not running")
        return status

    got = results(pi(tmp_path, status=ask))["daemon"]
    assert got.status == verdict and got.message.startswith(text)


def test_a_unit_past_its_start_limit_names_the_way_back(tmp_path):
    # After a crash loop systemd refuses even `systemctl restart`: say what works.
    def down():
        raise ControlError("not running")

    ctx = pi(tmp_path, status=down)
    ctx.run = lambda argv: ((0, "ActiveState=failed\nResult=start-limit-hit\n")
                            if argv[0] == "systemctl" else (None, "not found"))
    got = results(ctx)["daemon"]
    assert got.status == "fail" and "start limit hit" in got.message
    assert "sudo severed restart" in got.fix and "systemctl reset-failed severed" in got.fix


def test_onboard_audio_judged_by_the_last_uncommented_line():
    from severed.service.doctor import onboard_audio_on

    stock = "dtparam=audio=on\n"
    assert onboard_audio_on(stock)
    assert not onboard_audio_on(stock + "# --- severed ---\ndtparam=audio=off\n")
    assert not onboard_audio_on("#dtparam=audio=on\n")
    assert onboard_audio_on("dtparam=audio=off\ndtparam=audio = on  # back on\n")


def test_scenes_not_measured_for_loudness_are_a_warning_with_the_fix(tmp_path):
    status = {"pin_factory": "LGPIOFactory", "scene": "outie", "underruns": 0,
              "loudness_unmeasured": ["innie", "outie"]}
    got = results(pi(tmp_path, status=lambda: status))["loudness"]
    assert got.status == "warn"
    assert got.message.startswith("scenes innie, outie play at their layers' gains")
    assert "severed precompute" in got.fix
