"""The systemd unit, checked offline with systemd-analyze."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "severed.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed "
                                   "(apt-get install systemd)")


def analyze(*args):
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, timeout=60)


@needs_analyze
def test_unit_verifies_cleanly(tmp_path):
    # ExecStart names the installed venv; on a machine without it, verify only
    # complains about that. A copy pointing at an existing program must verify silently.
    text = UNIT.read_text()
    copy = tmp_path / "severed.service"
    copy.write_text(re.sub(r"(?m)^ExecStart=\S+", "ExecStart=/bin/true", text))
    done = analyze("verify", str(copy))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    done = analyze("verify", str(UNIT))
    if os.access("/opt/severed/venv/bin/severed", os.X_OK):
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    else:
        assert done.stderr.strip() == ("severed.service: Command /opt/severed/venv/bin/severed"
                                       " is not executable: No such file or directory")


@needs_analyze
def test_unit_exposure_is_at_most_2_5():
    done = analyze("security", "--offline=yes", str(UNIT))
    match = re.search(r"Overall exposure level for severed.service: (\d+\.\d+)", done.stdout)
    assert match, done.stdout[-500:] + done.stderr
    assert float(match.group(1)) <= 2.5


def test_every_setting_line_has_a_reason():
    lines = UNIT.read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            previous = lines[i - 1] if i else ""
            assert previous.startswith("#") or "=" in previous, f"no comment above: {line}"


def test_unit_keeps_what_audio_gpio_and_real_time_need():
    settings = [l for l in UNIT.read_text().splitlines() if l and not l.startswith("#")]
    for needed in ("Type=notify", "PrivateDevices=no", "DeviceAllow=char-alsa rw",
                   "DeviceAllow=char-gpiochip rw", "RuntimeDirectory=severed",
                   "Environment=LG_WD=/run/severed", "SupplementaryGroups=audio gpio",
                   "ProtectSystem=strict", "Restart=on-failure"):
        assert needed in settings, needed
    assert not any(l.startswith("RestrictRealtime=yes") for l in settings)
    assert any(l.startswith("LimitRTPRIO=") for l in settings)


def test_start_limit_leaves_room_for_manual_restarts_after_a_crash_loop():
    # The boot test's restarts after a crash loop were refused ("start of the service
    # was attempted too often"), and so would a technician's be.
    from severed.service.safemode import CrashCounter

    settings = dict(l.split("=", 1) for l in UNIT.read_text().splitlines()
                    if l.startswith("StartLimit"))
    burst, interval = int(settings["StartLimitBurst"]), int(settings["StartLimitIntervalSec"])
    counter = CrashCounter("/nonexistent")
    assert interval >= counter.window_s  # a loop is judged over the same window
    automatic = counter.limit + 1  # unclean starts, then the one in safe mode
    assert burst - automatic >= 15
    # ... and a loop that even safe mode cannot end (RestartSec=2, a 3 s start) is
    # stopped within half the window.
    assert burst * (2 + 3) <= interval / 2
