import shutil
import tempfile
import threading
import types

import numpy as np
import pytest

from severed.config.model import SceneSpec, SensorSpec, Show, SiteConfig


class FakeLoop:
    """The render loop's public face, rendering a 1 kHz sine on its own thread."""

    def __init__(self, sample_rate=8000, channels=2, block_frames=256):
        self.sample_rate = sample_rate
        self.channels = channels
        self.block_frames = block_frames
        self.events = []
        self.reloads = []
        self.blocks_rendered = 0
        self._taps = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self.state = {"scene": "outie", "overlays": [], "tension": 0.25, "volume_db": 0.0,
                      "muted": False, "underruns": 0, "sensors": {"door": "open",
                                                                   "motion": "stop"},
                      "faults": [], "engine_s": 12.5, "peak_dbfs": -float("inf"),
                      "rms_dbfs": -20.0}

    def post(self, event):
        with self._lock:
            self.events.append(event)

    def status(self):
        with self._lock:
            return dict(self.state, blocks_rendered=self.blocks_rendered)

    def add_tap(self, fn):
        with self._lock:
            self._taps = self._taps + [fn]

    def remove_tap(self, fn):
        with self._lock:
            self._taps = [t for t in self._taps if t is not fn]

    def request_reload(self, site, show):
        self.reloads.append((site, show))

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        n = self.block_frames
        period_s = n / self.sample_rate / 8  # eight times faster than real time
        while not self._stop.wait(period_s):
            start = self.blocks_rendered * n
            t = (start + np.arange(n)) / self.sample_rate
            block = np.repeat((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[:, None],
                              self.channels, axis=1)
            for tap in self._taps:
                tap(block)
            self.blocks_rendered += 1

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join()


@pytest.fixture
def fake_loop():
    loop = FakeLoop()
    yield loop
    loop.stop()


@pytest.fixture
def short_dir():
    # AF_UNIX paths must fit in 108 bytes: pytest's tmp_path may not.
    path = tempfile.mkdtemp(prefix="sv-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


SITE = SiteConfig(path="/etc/severed/severed.toml", name="lobby", sensors=(
    SensorSpec("door", "door", 17), SensorSpec("motion", "pir", 4, required=True),
    SensorSpec("reward", "button", 27)))
SHOW = Show(path=None, name="lumon", initial_scene="outie", scenes={
    "outie": SceneSpec("outie", ()), "innie": SceneSpec("innie", ()),
    "barrier": SceneSpec("barrier", (), overlay=True)})


class Loader:
    """Stands in for loading the config: returns ``result`` or raises it."""

    def __init__(self):
        self.result = (SITE, SHOW)
        self.calls = []

    def __call__(self, path):
        self.calls.append(path)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture
def cfg():
    return types.SimpleNamespace(site=SITE, show=SHOW, Loader=Loader)
