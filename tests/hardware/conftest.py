"""A sound card for CI: ALSA ``file`` PCMs over the ``null`` PCM, defined in an asoundrc.

PortAudio sees each as an ordinary output device; the file plugin writes every sample
it is given to a file (raw, in the stream's sample format), and the null PCM behind it
takes them as fast as they come (not paced in real time). ALSA reads ``~/.asoundrc``
through the system alsa.conf, so a subprocess with HOME pointing here gets these
devices and nothing is installed system-wide.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ASOUNDRC = """\
pcm.!default {{
    type file
    slave.pcm "null"
    file "{default}"
    format "raw"
}}
pcm.severedtest {{
    type file
    slave.pcm "null"
    file "{named}"
    format "raw"
}}
"""


def make_home(tmp_path):
    """A HOME whose .asoundrc defines ``default`` and ``severedtest``; returns
    (home, {"default": Path, "severedtest": Path}) with the capture files."""
    home = Path(tmp_path) / "home"
    home.mkdir(parents=True, exist_ok=True)
    captures = {"default": Path(tmp_path) / "default.raw",
                "severedtest": Path(tmp_path) / "severedtest.raw"}
    (home / ".asoundrc").write_text(ASOUNDRC.format(default=captures["default"],
                                                    named=captures["severedtest"]))
    return home, captures


def alsa_available():
    return Path("/usr/share/alsa/alsa.conf").exists()


def run_python(home, code, *args, timeout=60):
    """Run ``code`` in a fresh interpreter whose ALSA sees ``home``/.asoundrc."""
    env = dict(os.environ, HOME=str(home))
    env.pop("ALSA_CONFIG_PATH", None)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code, *args], env=env, text=True,
                          capture_output=True, timeout=timeout)


@pytest.fixture
def alsa_home(tmp_path):
    """(home, captures): see make_home."""
    if not alsa_available():
        pytest.skip("no ALSA configuration on this machine")
    return make_home(tmp_path)


@pytest.fixture
def run_in_alsa_home():
    """run_python, for tests that take alsa_home."""
    return run_python
