"""install.sh and uninstall.sh against staged roots (--root): files, recorded commands,
idempotence, dry runs and reversal. No test touches the live system."""

import os
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

SOURCE_UNIT_PATH = "systemd/severed.service"
WANTS = "etc/systemd/system/multi-user.target.wants/severed.service"


def actions(root):
    log = root / "var/lib/severed/install-actions.log"
    return [shlex.split(line) for line in log.read_text().splitlines()]


def test_staged_install_on_bookworm(staged_root, install, source_tree):
    root = staged_root("firmware")
    out = install(root, "--dac", "hifiberry-dacplus").stdout

    unit = root / "etc/systemd/system/severed.service"
    assert unit.read_bytes() == (source_tree / SOURCE_UNIT_PATH).read_bytes()
    assert os.readlink(root / WANTS) == "/etc/systemd/system/severed.service"
    # The example, naming the board; no sensor had to move for a DAC+.
    example = (source_tree / "installation/severed.toml").read_text()
    assert '\n# dac = "hifiberry-dac"\n' in example
    assert (root / "etc/severed/severed.toml").read_text() == \
        example.replace('\n# dac = "hifiberry-dac"\n', '\ndac = "hifiberry-dacplus"\n')
    assert "WIRING" not in out
    # severed's own journal namespace in RAM; the system's journal is not touched.
    journald = (root / "etc/systemd/journald@severed.conf").read_text()
    assert "Storage=volatile" in journald.splitlines()
    assert not (root / "etc/systemd/journald.conf.d").exists()
    assert "LogNamespace=severed" in unit.read_text().splitlines()
    assert (root / "var/cache/severed").is_dir()
    assert (root / "var/lib/severed/install.state").read_text() == "dac=hifiberry-dacplus\n"
    assert not (root / "usr/local/bin/severed").is_symlink()  # no venv, no command link
    docs = root / "opt/severed/docs"
    assert (docs / "hardware/README.md").read_bytes() == \
        (source_tree / "hardware/README.md").read_bytes()
    assert (docs / "hardware/header.svg").is_file()
    if (source_tree / "docs/maintenance.md").is_file():  # the unit's Documentation=
        assert (docs / "maintenance.md").is_file()

    config = (root / "boot/firmware/config.txt").read_text().splitlines()
    assert config[-4:] == ["dtoverlay=", "dtparam=audio=off", "dtoverlay=hifiberry-dacplus",
                           "# --- end severed ---"]
    assert "dtoverlay=vc4-kms-v3d,noaudio" in config
    backup = root / "boot/firmware/config.txt.severed-backup"
    assert backup.read_bytes() == (Path(__file__).parent / "fixtures/config-bookworm.txt").read_bytes()
    # The Bookworm stub at /boot/config.txt is not the real one: untouched.
    assert "has moved" in (root / "boot/config.txt").read_text()

    recorded = actions(root)
    assert ["groupadd", "--system", "severed"] in recorded
    useradd = next(a for a in recorded if a[0] == "useradd")
    assert useradd[-1] == "severed"
    assert useradd[useradd.index("--groups") + 1] == "audio,gpio"
    assert useradd[useradd.index("--home-dir") + 1] == "/var/lib/severed"
    assert useradd[useradd.index("--shell") + 1] == "/usr/sbin/nologin"
    apt = next(a for a in recorded if a[:2] == ["apt-get", "install"])
    for package in ("python3-numpy", "python3-pyaudio", "python3-systemd",
                    "python3-gpiozero", "python3-lgpio", "python3-rpi.gpio"):
        assert package in apt
    assert "python3-rpi-lgpio" not in apt  # Trixie's
    assert ["chown", "severed:severed", "/var/cache/severed"] in recorded
    assert any(a[-2:] == ["/opt/severed/venv/bin/severed", "precompute"] for a in recorded)
    assert not any(a[0] in ("systemctl", "raspi-config") for a in recorded)
    assert not any("venv" in a for a in recorded)  # --no-venv
    assert "reboot needed: yes" in out
    assert "venv not built (--no-venv)" in out
    assert "plughw:CARD=sndrpihifiberry" in out


def test_trixie_gets_rpi_lgpio_in_place_of_rpi_gpio(staged_root, install):
    root = staged_root("trixie")
    install(root, "--dac", "hifiberry-dac")
    apt = next(a for a in actions(root) if a[:2] == ["apt-get", "install"])
    assert "python3-lgpio" in apt and "python3-rpi-lgpio" in apt
    assert "python3-rpi.gpio" not in apt


OLD_DROPIN = ("# Installed by severed's install.sh as /etc/systemd/journald.conf.d/severed.conf.\n"
              "[Journal]\nStorage=volatile\n")


def test_the_old_system_wide_journal_setting_is_given_back(staged_root, install):
    root = staged_root("firmware")
    dropin = root / "etc/systemd/journald.conf.d/severed.conf"
    dropin.parent.mkdir(parents=True)
    dropin.write_text(OLD_DROPIN)
    out = install(root, "--dac", "hifiberry-dac").stdout
    assert not dropin.exists()
    assert "the system's journal is stored as the system says again" in out
    assert (root / "etc/systemd/journald@severed.conf").is_file()


def test_a_journald_drop_in_of_someone_else_is_kept(staged_root, install):
    root = staged_root("firmware")
    dropin = root / "etc/systemd/journald.conf.d/severed.conf"
    dropin.parent.mkdir(parents=True)
    dropin.write_text("[Journal]\nSystemMaxUse=50M\n")
    install(root, "--dac", "hifiberry-dac")
    assert dropin.read_text() == "[Journal]\nSystemMaxUse=50M\n"


def test_second_run_changes_nothing(staged_root, install, tree_state):
    root = staged_root("firmware")
    install(root, "--dac", "rpi-digiampplus")
    before = tree_state(root)
    second = install(root)  # the DAC is remembered
    assert tree_state(root) == before
    assert "changed: nothing (everything was already in place)" in second.stdout
    assert "reboot needed: no" in second.stdout


def test_site_config_is_never_overwritten(staged_root, install):
    root = staged_root("firmware")
    install(root, "--dac", "hifiberry-dac")
    site = root / "etc/severed/severed.toml"
    site.write_text('[site]\nname = "edited on site"\n')
    out = install(root).stdout
    assert site.read_text() == '[site]\nname = "edited on site"\n'
    assert "changed: nothing" in out


def test_legacy_boot_layout(staged_root, install):
    root = staged_root("boot")
    install(root, "--dac", "rpi-dacplus")
    config = (root / "boot/config.txt").read_text()
    assert config.splitlines()[-2] == "dtoverlay=rpi-dacplus"
    assert "dtoverlay=gpio-shutdown,gpio_pin=3" in config
    assert not (root / "boot/firmware").exists()


def test_changing_the_dac(staged_root, install):
    root = staged_root("firmware")
    install(root, "--dac", "hifiberry-dac")
    out = install(root, "--dac", "wm8960").stdout
    # The site config is kept, but the technician hears that it names the old board.
    assert ('/etc/severed/severed.toml says dac = "hifiberry-dac", but this install is for '
            'wm8960: set dac = "wm8960" there') in out
    config = (root / "boot/firmware/config.txt").read_text()
    assert "dtoverlay=wm8960-soundcard" in config and "dtoverlay=hifiberry-dac\n" not in config
    assert config.count("# --- severed ---") == 1
    assert "reboot needed: yes" in out
    # The backup is the file from before the first install, not the first edit.
    backup = (root / "boot/firmware/config.txt.severed-backup").read_text()
    assert "severed" not in backup


def test_machine_without_gpio_group_gets_one_for_the_unit(staged_root, install):
    # The unit's SupplementaryGroups=audio gpio refuses to start where gpio is missing.
    root = staged_root("pi-nogpio")
    install(root, "--dac", "hifiberry-dac")
    acts = actions(root)
    assert ("groupadd", "--system", "gpio") in [tuple(a[:3]) for a in acts]
    useradd = next(a for a in acts if a[0] == "useradd")
    assert useradd[useradd.index("--groups") + 1] == "audio,gpio"


def test_plain_debian_skips_boot_config(staged_root, install):
    root = staged_root("debian")
    out = install(root).stdout  # no --dac needed off a Pi: "none"
    assert "no config.txt (not a Raspberry Pi image): boot settings skipped" in out
    assert not (root / "boot").exists()
    apt = next(a for a in actions(root) if a[:2] == ["apt-get", "install"])
    assert "python3-lgpio" not in apt
    # Plain Debian has no gpio group: install.sh makes one and remembers that it did.
    assert (root / "var/lib/severed/install.state").read_text() == \
        "dac=none\ncreated_group=gpio\n"


def test_pi_needs_a_dac_name(staged_root, install, tree_state):
    root = staged_root("firmware")
    before = tree_state(root)
    proc = install(root, check=False)
    assert proc.returncode == 1
    assert "--dac NAME" in proc.stderr and "hifiberry-dacplus" in proc.stderr
    assert tree_state(root) == before
    proc = install(root, "--dac", "hifibery-dac", check=False)
    assert proc.returncode == 1 and "unknown DAC 'hifibery-dac'" in proc.stderr
    assert tree_state(root) == before


def test_dry_run_changes_nothing(staged_root, install, tree_state):
    root = staged_root("firmware")
    before = tree_state(root)
    out = install(root, "--dac", "hifiberry-dac", "--dry-run", "--read-only").stdout
    assert tree_state(root) == before
    assert "dry run: nothing was changed." in out
    assert "would: wrote /boot/firmware/config.txt" in out
    assert "+dtoverlay=hifiberry-dac" in out  # the diff is shown


def test_read_only_is_recorded_last(staged_root, install):
    root = staged_root("firmware")
    out = install(root, "--dac", "hifiberry-dac", "--read-only").stdout
    recorded = actions(root)
    assert recorded[-1] == ["raspi-config", "nonint", "do_overlayfs", "0"]
    assert recorded[-2][:2] == ["apt-get", "install"] and recorded[-2][-1] == "overlayroot"
    assert "read-only root" in out


def test_show_prints_without_changing(staged_root, install, tree_state):
    root = staged_root("firmware")
    before = tree_state(root)
    shown = install(root, "--dac", "hifiberry-dac", "--show", "config.txt").stdout
    assert shown.endswith("dtoverlay=hifiberry-dac\n# --- end severed ---\n")
    assert install(root, "--show", "journald").stdout.startswith("# Installed by")
    assert tree_state(root) == before


@pytest.mark.parametrize("layout", ["firmware", "boot"])
def test_uninstall_reverses_the_install(staged_root, install, uninstall, tree_state, layout):
    root = staged_root(layout)
    before = tree_state(root)
    install(root, "--dac", "hifiberry-dacplus")
    kept = uninstall(root)
    assert "kept /etc/severed" in kept.stdout
    after = tree_state(root)
    assert (root / "etc/severed/severed.toml").is_file()
    assert (root / "var/cache/severed").is_dir()
    for path in ("etc/systemd/system/severed.service", WANTS, "opt/severed",
                 "etc/systemd/journald@severed.conf",
                 "var/lib/severed/install-actions.log"):
        assert path not in after
    config = "boot/firmware/config.txt" if layout == "firmware" else "boot/config.txt"
    assert after[config] == before[config]  # byte for byte, vc4 line included

    uninstall(root, "--purge")
    after = tree_state(root)
    recorded = (root / "var/lib/severed/uninstall-actions.log").read_text().splitlines()
    assert "userdel severed" in recorded
    # Only the record of the uninstall itself is left (and the directories holding it).
    leftovers = {path for path in set(after) - set(before) if after[path][0] != "dir"}
    assert leftovers == {"var/lib/severed/uninstall-actions.log"}
    assert {path: after[path] for path in before} == before


def test_uninstall_dry_run_changes_nothing(staged_root, install, uninstall, tree_state):
    root = staged_root("firmware")
    install(root, "--dac", "hifiberry-dac")
    before = tree_state(root)
    out = uninstall(root, "--dry-run", "--purge").stdout
    assert tree_state(root) == before
    assert "would: removed /etc/systemd/system/severed.service" in out


SEVERED = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "severed"


def severed_check(path):
    proc = subprocess.run([str(SEVERED), "check", str(path)], capture_output=True, text=True,
                          timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def sensor_pins(path):
    return {name: t["pin"] for name, t in tomllib.loads(path.read_text())["sensors"].items()}


def test_amp100_install_moves_the_door_off_its_reset_pin(staged_root, install, tree_state):
    root = staged_root("firmware")
    out = install(root, "--dac", "hifiberry-amp100").stdout
    site = root / "etc/severed/severed.toml"
    data = tomllib.loads(site.read_text())
    assert data["audio"]["dac"] == "hifiberry-amp100"
    assert sensor_pins(site) == {"door": 5, "motion": 27, "reward": 23}
    assert "pin = 5                       # BCM 5, header pin 29 (moved off BCM 17: " \
           "the hifiberry-amp100 takes it)" in site.read_text()
    # The summary tells the technician which wire goes where.
    notes = out[out.index("notes:"):]
    assert ("  - WIRING: sensor door: wire it to header pin 29 (BCM 5), not pin 11 (BCM 17): "
            "the HiFiBerry Amp100 takes BCM 17 (reset line of its DAC); the new site config "
            "says pin = 5") in notes.splitlines()
    # What it wrote passes the same check the service runs.
    rc, said = severed_check(site)
    assert rc == 0, said
    # A second run changes nothing and says nothing about wiring.
    before = tree_state(root)
    second = install(root).stdout
    assert tree_state(root) == before
    assert "changed: nothing (everything was already in place)" in second
    assert "WIRING" not in second


def test_the_unmoved_example_fails_check_for_an_amp100(tmp_path, source_tree):
    # What install.sh saves the technician from: the example as it is, naming the Amp100.
    text = (source_tree / "installation/severed.toml").read_text()
    site = tmp_path / "severed.toml"
    site.write_text(text.replace('# dac = "hifiberry-dac"', 'dac = "hifiberry-amp100"'))
    rc, said = severed_check(site)
    assert rc == 1 and "Traceback" not in said
    assert "sensor 'door' is on BCM 17, which the HiFiBerry Amp100" in said


@pytest.mark.parametrize("dac", ["rpi-digiampplus", "hifiberry-dac", "none"])
def test_other_boards_keep_the_default_pins_and_pass_check(staged_root, install, dac):
    root = staged_root("firmware")
    out = install(root, "--dac", dac).stdout
    site = root / "etc/severed/severed.toml"
    assert tomllib.loads(site.read_text())["audio"]["dac"] == dac
    assert sensor_pins(site) == {"door": 17, "motion": 27, "reward": 23}
    assert "WIRING" not in out
    rc, said = severed_check(site)
    assert rc == 0, said


def test_existing_site_config_is_kept_for_a_new_board(staged_root, install):
    root = staged_root("firmware")
    site = root / "etc/severed/severed.toml"
    site.parent.mkdir(parents=True)
    site.write_text('[sensors.door]\nkind = "door"\npin = 17\n')
    out = install(root, "--dac", "hifiberry-amp100").stdout
    assert site.read_text() == '[sensors.door]\nkind = "door"\npin = 17\n'
    assert "/etc/severed/severed.toml names no DAC: add dac = \"hifiberry-amp100\"" in out


def test_show_prints_the_site_config_it_would_write(staged_root, install, tree_state):
    root = staged_root("firmware")
    before = tree_state(root)
    shown = install(root, "--dac", "hifiberry-amp100", "--show", "severed.toml").stdout
    assert '\ndac = "hifiberry-amp100"\n' in shown and "\npin = 5 " in shown
    assert tree_state(root) == before


def uninstall_actions(root):
    log = root / "var/lib/severed/uninstall-actions.log"
    return [shlex.split(line) for line in log.read_text().splitlines()]


def groupdels(root):
    """The groups the recorded uninstall deletes (plain or guarded by a member check)."""
    out = []
    for a in uninstall_actions(root):
        if a[0] == "groupdel":
            out.append(a[1])
        elif a[:2] == ["sh", "-c"] and "groupdel" in a[2]:
            out.append(a[2].rsplit("groupdel ", 1)[1].split(";")[0].strip())
    return out


def test_purge_removes_the_gpio_group_install_created(staged_root, install, uninstall,
                                                      tree_state):
    root = staged_root("pi-nogpio")
    install(root, "--dac", "hifiberry-dac")
    before = tree_state(root)
    install(root)  # a second run remembers the group it made, and changes nothing
    assert tree_state(root) == before
    assert "created_group=gpio" in (root / "var/lib/severed/install.state").read_text()
    uninstall(root, "--purge")
    assert groupdels(root) == ["severed", "gpio"]
    guarded = next(a for a in uninstall_actions(root) if "groupdel gpio" in " ".join(a))
    # Only while it has no members on the target: someone may have joined it since.
    assert 'getent group gpio | cut -d: -f4' in guarded[2]


def test_purge_keeps_a_gpio_group_install_did_not_create(staged_root, install, uninstall):
    root = staged_root("firmware")  # Raspberry Pi OS: gpio is there, with pi in it
    install(root, "--dac", "hifiberry-dac")
    assert "created_group" not in (root / "var/lib/severed/install.state").read_text()
    uninstall(root, "--purge")
    assert groupdels(root) == ["severed"]
    assert "gpio:x:997:pi" in (root / "etc/group").read_text().splitlines()


def test_plain_uninstall_keeps_the_record_for_a_later_purge(staged_root, install, uninstall):
    root = staged_root("pi-nogpio")
    install(root, "--dac", "hifiberry-dac")
    out = uninstall(root).stdout
    state = root / "var/lib/severed/install.state"
    assert state.read_text() == "created_group=gpio\n"
    assert "gpio" not in groupdels(root)
    assert "kept /etc/severed" in out
    uninstall(root, "--purge")
    assert "gpio" in groupdels(root)
    assert not state.exists()
