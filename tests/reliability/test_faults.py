"""Fault injection: the sound card vanishing, the cache damaged or deleted, a stem cut
short, a full disk, sensors that stick or flap, a layer that raises, a broken reload.
Each ends in the documented behaviour with the render loop still producing sound
where the show is audible (measured block by block)."""

import dataclasses
import glob
import logging
import os
import re
import subprocess
import sys
import threading
import time
import wave

import numpy as np
import pytest

from severed.config import load_show_text
from severed.loop import EventLog, RenderLoop
from severed.precompute.cache import Cache

from capture_sink import Capture

SR = 48000

# Two scenes of steady, known sound: a 220 Hz tone at -12 dB (RMS -15 dBFS) with a
# quiet noise bed; the door moves between them.
STEADY = """
[show]
name = "steady"
initial_scene = "main"
crossfade_s = 0.1

[scenes.main.layers.tone]
type = "tone"
freq_hz = 220
gain_db = -12

[scenes.main.layers.bed]
type = "noise"
color = "pink"
gain_db = -40

[scenes.other.layers.tone]
type = "tone"
freq_hz = 330
gain_db = -12

[[transitions]]
from = "main"
to = "other"
on = "door.closed"

[[transitions]]
from = "other"
to = "main"
on = "door.open"
"""

# A sampler looping a cached recipe (a long steady sine at 330 Hz) over a tone.
SAMPLED = """
[show]
name = "sampled"
initial_scene = "main"

[scenes.main.layers.tone]
type = "tone"
freq_hz = 220
gain_db = -18

[scenes.main.layers.ping]
type = "sampler"
recipe = "sine_ping"
recipe_params = { length_s = LENGTH, decay_s = 1000.0, freq_hz = 330.0, amplitude = 0.3 }
mode = "loop"
gain_db = -6
"""


def sampled_show(length_s=4.0):
    return load_show_text(SAMPLED.replace("LENGTH", repr(float(length_s))), "sampled.toml")


def stem_show(path):
    return load_show_text(SAMPLED.replace(
        'recipe = "sine_ping"\nrecipe_params = { length_s = LENGTH, decay_s = 1000.0, '
        'freq_hz = 330.0, amplitude = 0.3 }', f'file = "{path}"'), "stem.toml")


@pytest.fixture(scope="module")
def site():
    from severed.commands.common import load_inputs
    return load_inputs()[0]


def block_rms_db(audio, frames=2048):
    n = len(audio) // frames
    x = audio[:n * frames].reshape(n, frames, -1).astype(np.float64)
    return 10 * np.log10(np.mean(x ** 2, axis=(1, 2)) + 1e-24)


def band_db(audio, freq_hz, sr=SR):
    """Level (dB of amplitude) of the mono sum at ``freq_hz`` (Hann-windowed FFT)."""
    m = audio.mean(axis=1).astype(np.float64)
    spec = np.abs(np.fft.rfft(m * np.hanning(len(m)))) / (len(m) / 4)
    k = int(round(freq_hz * len(m) / sr))
    return 20 * np.log10(spec[k - 2:k + 3].max() + 1e-12)


# ---------------------------------------------------------------- the sound card


class FakeStream:
    def __init__(self, world):
        self.world = world
        self.data = []

    def write(self, data, frames, exception_on_underflow=False):
        w = self.world
        with w.lock:
            w.writes += 1
            if w.fail_at is not None and w.writes >= w.fail_at:
                w.fail_at = None
                w.present = w.comes_back_after is None and w.present
                raise OSError(-9999, "Unanticipated host error")
            self.data.append(bytes(data))
        time.sleep(w.write_s)

    def stop_stream(self):
        pass

    def close(self):
        pass


class FakeWorld:
    """A DAC HAT behind a fake PortAudio: it fails on the ``fail_at``-th write, is gone
    for ``comes_back_after`` open attempts (None: only the write fails)."""

    def __init__(self, fail_at, comes_back_after=None, write_s=0.004):
        self.lock = threading.Lock()
        self.present = True
        self.fail_at = fail_at
        self.comes_back_after = comes_back_after
        self.write_s = write_s
        self.writes = 0
        self.opens = 0
        self.streams = []

    def factory(self):
        self.opens += 1
        if self.comes_back_after is not None and self.opens > 1:
            self.present = self.opens > 1 + self.comes_back_after
        return FakePA(self)


class FakePA:
    def __init__(self, world):
        self.world = world
        self.devices = [{"name": "bcm2835 Headphones: - (hw:0,0)", "maxOutputChannels": 8,
                         "defaultSampleRate": 44100.0}]
        if world.present:
            self.devices.append({"name": "snd_rpi_hifiberry_dac: HifiBerry DAC HiFi "
                                         "pcm5102a-hifi-0 (hw:1,0)",
                                 "maxOutputChannels": 2, "defaultSampleRate": 48000.0})

    def get_device_count(self):
        return len(self.devices)

    def get_device_info_by_index(self, i):
        return dict(self.devices[i], index=i)

    def is_format_supported(self, rate, **kw):
        return True

    def open(self, **kw):
        stream = FakeStream(self.world)
        self.world.streams.append(stream)
        return stream

    def terminate(self):
        pass


@pytest.mark.parametrize("comes_back_after", [None, 3], ids=["write-error", "vanishes"])
def test_sound_card_failing_or_vanishing_and_coming_back(site, comes_back_after, caplog):
    pytest.importorskip("pyaudio")
    from severed.hardware.pyaudio_sink import PyAudioSink

    frames = 256
    world = FakeWorld(fail_at=40, comes_back_after=comes_back_after)
    sink = PyAudioSink("hifiberry", SR, 2, "int16", block_frames=frames,
                       render_ahead_blocks=2, pa_factory=world.factory,
                       backoff_s=(0.01, 0.04))
    show = load_show_text(STEADY, "steady.toml")
    loop = RenderLoop(show, site, sink, block_frames=frames, live=True)
    rendered = Capture()
    loop.add_tap(rendered.write)
    with caplog.at_level(logging.WARNING, logger="severed.hardware"):
        sink.open()
        deadline = time.monotonic() + 10.0
        # past the 2 s fade-in, and 200 blocks into the second stream
        while (sink.reopens == 0 or len(world.streams[-1].data) < 200 or loop.t < 3.0) \
                and time.monotonic() < deadline:
            loop.render_block()  # never raises, never stalls for long
        sink.close()
    assert sink.reopens == 1, caplog.text
    assert len(world.streams) == 2
    if comes_back_after:
        assert world.opens == 2 + comes_back_after
        assert sink.dropped_blocks >= 1
    # The loop went on rendering the show at its level, through the whole outage.
    levels = block_rms_db(rendered.audio()[SR // 2:], frames)  # from half-way up the fade-in
    assert levels.min() > -40.0
    # ... and after the card came back it plays the show again: 220 Hz, tone at -12 dB.
    # (blocks of zeros are the writer's fill while the renderer was late: left out)
    blocks = [b for b in world.streams[1].data if any(b)]
    back = np.frombuffer(b"".join(blocks[-150:]), np.int16).reshape(-1, 2)
    back = back.astype(np.float32) / 32767
    assert len(back) == 150 * frames
    assert band_db(back, 220.0) == pytest.approx(-12.0, abs=1.0)
    assert "is back" in caplog.text or comes_back_after is None


# ---------------------------------------------------------------- the cache


def render(show, site, cache, seconds, block=2048):
    sink = Capture()
    loop = RenderLoop(show, site, sink, block_frames=block, cache=cache)
    loop.run(seconds=seconds)
    return loop, sink.audio()


def test_cache_deleted_while_playing_changes_nothing(site, tmp_path):
    """Entries are memory mapped or in memory: removing them (a prune, a technician's
    rm -r) leaves the running show playing the same samples."""
    show = sampled_show(length_s=20.0)
    _, reference = render(show, site, Cache(str(tmp_path / "ref")), 12.0)
    sink = Capture()
    loop = RenderLoop(show, site, sink, cache=Cache(str(tmp_path / "c")))
    loop.run(seconds=70 * 2048 / SR)  # whole blocks: the same block grid as the reference
    files = glob.glob(str(tmp_path / "c" / "*"))
    assert len(files) == 2
    for f in files:
        os.remove(f)
    loop.run(seconds=12.0)
    audio = sink.audio()
    assert np.array_equal(audio, reference)
    assert band_db(audio[-2 * SR:], 330.0) > -30.0


@pytest.mark.parametrize("damage", ["truncate", "garbage", "sidecar", "audio-gone",
                                    "sidecar-gone"])
def test_cache_damaged_between_runs_is_rendered_again(site, tmp_path, caplog, damage):
    show = sampled_show()
    cache_dir = str(tmp_path / "c")
    _, first = render(show, site, Cache(cache_dir), 5.0)
    (npy,) = glob.glob(cache_dir + "/*.npy")
    side = npy[:-4] + ".json"
    if damage == "truncate":
        with open(npy, "r+b") as f:
            f.truncate(os.path.getsize(npy) // 2)
    elif damage == "garbage":
        with open(npy, "r+b") as f:
            f.write(os.urandom(4096))
    elif damage == "sidecar":
        with open(side, "w") as f:
            f.write("{not json")
    elif damage == "audio-gone":
        os.remove(npy)
    else:
        os.remove(side)
    with caplog.at_level(logging.WARNING):
        _, second = render(show, site, Cache(cache_dir), 5.0)
    assert np.array_equal(first, second)  # the same samples as before the damage
    assert band_db(second[-2 * SR:], 330.0) > -30.0
    assert "sine_ping" in caplog.text  # rendered again, and said so
    assert Cache(cache_dir).status(_item(show)) == "present"


def _item(show):
    from severed.precompute.recipes import Recipe
    spec = show.scenes["main"].layers[1]
    return Recipe("sine_ping", dict(spec.params["recipe_params"]))


def test_non_finite_samples_in_a_cache_entry_do_not_poison_the_output(site, tmp_path):
    """Bit rot in the middle of an entry (an SD card's failing block) is not seen by the
    sidecar's checksums of the first and last 4096 frames. The sound must go on: the
    output must stay finite, and the rest of the scene (the 220 Hz tone) audible."""
    show = sampled_show(length_s=4.0)
    cache_dir = str(tmp_path / "c")
    render(show, site, Cache(cache_dir), 0.1)
    (npy,) = glob.glob(cache_dir + "/*.npy")
    a = np.load(npy, mmap_mode="r+")
    a[96000:96100] = np.nan  # two seconds in
    a.flush()
    del a
    assert Cache(cache_dir).status(_item(show)) == "present"  # the damage is not seen
    _, audio = render(show, site, Cache(cache_dir), 8.0)
    finite = np.isfinite(audio).all(axis=1)
    assert finite.all(), f"{(~finite).sum()} non-finite frames from {np.argmin(finite) / SR:.2f} s"
    assert band_db(audio[-2 * SR:], 220.0) > -30.0


TRUNCATE_WHILE_PLAYING = r"""
import glob, os, sys
sys.path.insert(0, sys.argv[2])
sys.path.insert(0, os.path.dirname(sys.argv[2]))
from capture_sink import Capture
from test_faults import sampled_show
from severed.commands.common import load_inputs
from severed.loop import RenderLoop
from severed.precompute.cache import Cache
site = load_inputs()[0]
show = sampled_show(length_s=30.0)
loop = RenderLoop(show, site, Capture(), cache=Cache(sys.argv[1]))
loop.run(seconds=2.0)
(npy,) = glob.glob(sys.argv[1] + "/*.npy")
with open(npy, "r+b") as f:
    f.truncate(4096)
loop.run(seconds=40.0)
print("still playing", loop.t)
"""


def test_cache_entry_truncated_while_playing(tmp_path):
    """The daemon would be restarted by systemd and render the entry again, but the
    sound stops for the restart; here the process must survive."""
    here = os.path.dirname(os.path.abspath(__file__))
    result = subprocess.run([sys.executable, "-c", TRUNCATE_WHILE_PLAYING,
                             str(tmp_path / "c"), here],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (result.returncode, result.stderr[-500:])
    assert "still playing" in result.stdout


# ---------------------------------------------------------------- stems


def write_wav(path, seconds, freq_hz=330.0, amplitude=0.3):
    t = np.arange(int(seconds * SR)) / SR
    x = (amplitude * np.sin(2 * np.pi * freq_hz * t) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(x.tobytes())


@pytest.mark.parametrize("keep", ["half", "header", "nothing"])
def test_stem_truncated_between_runs(site, tmp_path, caplog, keep):
    """A stem cut short (a copy interrupted): what is there plays; with no audio left
    the layer is silent, logged, and the rest of the scene plays on."""
    stem = tmp_path / "tune.wav"
    write_wav(stem, 4.0)
    show = stem_show(stem)
    cache = str(tmp_path / "c")
    _, before = render(show, site, Cache(cache), 4.0)
    size = os.path.getsize(stem)
    cut = {"half": 44 + (size - 44) // 2, "header": 44, "nothing": 0}[keep]
    with open(stem, "r+b") as f:
        f.truncate(cut)
    with caplog.at_level(logging.WARNING):
        loop, after = render(show, site, Cache(cache), 4.0)
    slot = loop.engine.scenes["main"].slots[1]
    assert band_db(after[-2 * SR:], 220.0) == pytest.approx(band_db(before[-2 * SR:], 220.0),
                                                            abs=0.5)
    if keep == "half":
        assert slot.layer.fault is None
        assert band_db(after[-SR:], 330.0) == pytest.approx(band_db(before[-SR:], 330.0),
                                                            abs=1.0)
    else:
        assert slot.layer.fault and str(stem.name) in slot.layer.fault
        assert band_db(after[-2 * SR:], 330.0) < band_db(before[-2 * SR:], 330.0) - 40
        assert "stays silent" in caplog.text


# ---------------------------------------------------------------- a full disk


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a 64 KiB tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_disk_full_while_caching_plays_from_memory(site, tiny_disk, caplog):
    """The entry (4 s, 768 KiB) does not fit: a warning names the directory and the
    reason, the audio is kept in memory, the show plays it, no temporary file stays."""
    show = sampled_show(length_s=4.0)
    with caplog.at_level(logging.WARNING, logger="severed.precompute"):
        _, audio = render(show, site, Cache(str(tiny_disk)), 3.0)
    assert "cannot be written" in caplog.text and str(tiny_disk) in caplog.text
    assert "in memory" in caplog.text
    assert band_db(audio[-2 * SR:], 330.0) > -30.0
    assert os.listdir(tiny_disk) == []


def test_disk_full_warning_says_the_disk_is_full(site, tiny_disk, caplog):
    show = sampled_show(length_s=4.0)
    with caplog.at_level(logging.WARNING, logger="severed.precompute"):
        render(show, site, Cache(str(tiny_disk)), 0.5)
    assert "the disk is full" in caplog.text


def test_disk_full_during_the_precompute_command(site, tiny_disk, tmp_path):
    """``severed precompute`` on a full disk: a message naming the layer, the recipe and
    the directory that cannot be written, a failing exit status, no traceback, nothing
    half-written left behind. (The tmp path holds the test's name, "disk_full": the
    warning's wording is checked by test_disk_full_warning_says_the_disk_is_full.)"""
    show_path = tmp_path / "sampled.toml"
    show_path.write_text(SAMPLED.replace("LENGTH", "4.0"))
    env = dict(os.environ, SEVERED_CACHE=str(tiny_disk))
    result = subprocess.run([sys.executable, "-m", "severed", "precompute", "--show",
                             str(show_path)], capture_output=True, text=True, env=env,
                            timeout=120)
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out
    assert f"scenes.main.layers.ping: sine_ping: rendered but {tiny_disk} cannot be " \
        "written" in out, out
    assert result.returncode != 0, out
    assert [f for f in os.listdir(tiny_disk) if f.endswith(".npy")] == []


# ---------------------------------------------------------------- sensors


class ManualClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def live_with_bank(site, specs, show_text=STEADY):
    """A live loop fed by a SensorBank on gpiozero's MockFactory, on a manual clock."""
    from severed.hardware.sensors import SensorBank
    clock = ManualClock()
    site = dataclasses.replace(site, sensors=tuple(specs))
    show = load_show_text(show_text, "steady.toml")
    log = EventLog(keep=None)
    capture = Capture()
    loop = RenderLoop(show, site, capture, block_frames=1024, live=True, clock=clock,
                      event_log=log)
    bank = SensorBank(specs, pin_factory="mock", on_edge=loop.post_edge, clock=clock)
    assert bank.factory_name == "mock"

    def play(seconds):
        for _ in range(int(round(seconds * SR / 1024))):
            clock.now += 1024 / SR
            loop.render_block()

    return loop, bank, clock, log, capture, play


def faults(log):
    return [(r["sensor"], r["state"], r.get("reason")) for r in log.recent
            if r["type"] == "fault"]


def test_flapping_door_is_quarantined_and_the_show_goes_on(site):
    door = dataclasses.replace(next(s for s in site.sensors if s.kind == "door"),
                               flap_limit=10, flap_window_s=5.0, quarantine_s=3.0)
    loop, bank, clock, log, capture, play = live_with_bank(site, [door])
    try:
        play(2.5)  # past the fade-in
        for i in range(30):  # a loose wire: 30 changes in 1.5 s
            bank.drive("door", i % 2 == 0)
            clock.now += 0.05
            loop.render_block()
        bank.drive("door", 0)
        play(6.0)  # quarantine ends 3 s after the flapping stops
    finally:
        bank.close()
    got = faults(log)
    assert got[0][:2] == ("door", "fault") and "flap" in (got[0][2] or ""), got
    assert ("door", "recovered") in [g[:2] for g in got], got
    scenes = [r for r in log.recent if r["type"] == "scene"]
    assert len(scenes) <= 2, scenes  # the flapping did not drive the show around
    levels = block_rms_db(capture.audio()[int(2.5 * SR):], 1024)
    assert levels.min() > -20.0  # the tone (RMS -15 dBFS) never stopped


def test_door_stuck_closed_is_a_fault_and_the_show_goes_on(site):
    door = dataclasses.replace(next(s for s in site.sensors if s.kind == "door"),
                               stuck_after_s=2.0)
    loop, bank, clock, log, capture, play = live_with_bank(site, [door])
    try:
        play(2.5)
        bank.drive("door", 1)  # closed, and it stays so
        play(4.0)
        bank.drive("door", 0)
        play(1.0)
    finally:
        bank.close()
    got = faults(log)
    assert ("door", "fault") in [g[:2] for g in got], got
    assert "stuck" in str([g[2] for g in got if g[1] == "fault"]), got
    assert ("door", "recovered") in [g[:2] for g in got], got
    levels = block_rms_db(capture.audio()[int(2.5 * SR):], 1024)
    assert levels.min() > -20.0


# ---------------------------------------------------------------- layers and reloads


def test_a_layer_that_raises_is_silenced_and_the_scene_goes_on(site, caplog):
    show = load_show_text(STEADY, "steady.toml")
    sink = Capture()
    loop = RenderLoop(show, site, sink, block_frames=1024)
    loop.run(seconds=3.0)
    slot = loop.engine.scenes["main"].slots[1]  # the noise bed
    calls = {"n": 0}
    real = slot.layer.process

    def broken(out, frames, controls):
        calls["n"] += 1
        if calls["n"] > 5:
            raise FloatingPointError("a bug in the layer")
        real(out, frames, controls)

    slot.layer.process = broken
    with caplog.at_level(logging.ERROR, logger="severed.engine"):
        loop.run(seconds=8.0)
    assert not slot.enabled and slot.fault
    assert "main.bed" in caplog.text and "FloatingPointError" in caplog.text
    audio = sink.audio()
    after = audio[int(4 * SR):]
    assert band_db(after, 220.0) == pytest.approx(-12.0, abs=0.5)  # the tone plays on
    assert block_rms_db(after, 1024).min() > -16.0
    assert np.isfinite(audio).all()


def test_reload_of_a_broken_show_keeps_the_running_one_playing(site, tmp_path):
    from severed.service.handler import ControlHandler
    show_path = tmp_path / "steady.toml"
    show_path.write_text(STEADY)
    site_path = tmp_path / "site.toml"
    from severed.commands.common import dev_site_path
    site_path.write_text(open(dev_site_path()).read().replace('show = "lumon"',
                                                             f'show = "{show_path}"'))
    show = load_show_text(STEADY, str(show_path))
    sink = Capture()
    log = EventLog(keep=None)
    loop = RenderLoop(show, site, sink, block_frames=1024, live=True, event_log=log)
    handler = ControlHandler(loop, site, show, config_path=str(site_path))
    loop.run(seconds=2.5)
    show_path.write_text(STEADY.replace('freq_hz = 220', 'freq_hz = "high"'))
    reply = handler({"cmd": "reload"})
    assert reply["ok"] is False and "unchanged" in reply["error"]
    assert any("freq_hz" in p for p in reply["problems"]), reply
    loop.run(seconds=5.0)
    assert loop.show is show and handler.show is show
    assert not [r for r in log.recent if r["type"] == "reload"]
    after = sink.audio()[int(2.5 * SR):]
    assert block_rms_db(after, 1024).min() > -16.0
    assert band_db(after, 220.0) == pytest.approx(-12.0, abs=0.5)


def test_recording_onto_a_full_disk_fails_cleanly_and_the_show_goes_on(site, tiny_disk):
    """``severed record`` into a directory that fills up: the take is reported failed
    with the path, no partial file stays, the render loop never sees an error."""
    from severed.service.record import Recording
    show = load_show_text(STEADY, "steady.toml")
    sink = Capture()
    loop = RenderLoop(show, site, sink, block_frames=1024)
    loop.run(seconds=2.5)
    path = str(tiny_disk / "take.wav")
    take = Recording(loop, path, 1.0)  # 188 KiB of 16-bit stereo: more than the disk
    take.start()
    loop.run(seconds=4.0)
    take.wait(5.0)
    assert take.state == "failed" and path in take.error, take.info()
    assert os.listdir(tiny_disk) == []
    loop.run(seconds=5.0)
    after = sink.audio()[int(2.5 * SR):]
    assert block_rms_db(after, 1024).min() > -16.0


# A booth: motion keeps the show inside; five minutes without it, the room rests.
BOOTH = """
[show]
name = "booth"
initial_scene = "innie"

[scenes.innie.layers.tone]
type = "tone"
freq_hz = 220

[scenes.idle.layers.tone]
type = "tone"
freq_hz = 110

[[transitions]]
from = "innie"
to = "idle"
after_s = 300
if_no_motion_for_s = 300
"""

PIR_SITE = """
[site]
name = "booth"

[sensors.motion]
kind = "pir"
pin = 27
"""


def test_a_pir_stuck_high_is_a_fault_by_default_and_the_show_falls_back_to_its_timers():
    """A PIR stuck high (supply noise, a failing sensor) once held the show in innie for
    1 100 s, because a pir's ``stuck_after_s`` defaulted to 0 (never). With the site
    config's default it is a fault after 10 min, and the guards then ignore it."""
    from severed.config import load_site_text
    from severed.hardware.conditioning import Conditioner
    from severed.show.machine import ShowMachine

    (spec,) = load_site_text(PIR_SITE, "site.toml").sensors
    assert spec.stuck_after_s == 600.0
    machine = ShowMachine(load_show_text(BOOTH, "booth.toml"))
    state = machine.initial(0.0)
    cond = Conditioner([spec], 0.0)
    events = cond.edge(61.0, "motion", 1)  # after the warm-up; it never goes low again
    left_at, fault_at = None, None
    for t in np.arange(61.0, 3600.0, 1.0):
        events += cond.poll(t)
        for event in events:
            if event.type == "motion.fault":
                fault_at = event.t
            state, _ = machine.step(state, event)
        events = []
        state, _ = machine.tick(state, t)
        if state.scene == "idle":
            left_at = t
            break
    assert fault_at == pytest.approx(61.0 + 0.1 + 600.0, abs=1.0)
    assert left_at is not None and left_at <= fault_at + 1.0, (fault_at, left_at)


# ---------------------------------------------------------------- the event log


def test_event_log_on_a_full_disk_never_stops_the_sound(site, caplog):
    """A write error used to end the render loop and the process (ENOSPC in
    ``EventLog.write``). /dev/full fails every write with ENOSPC, as a full disk does:
    the loop must play on, say so once, and count what it could not write."""
    show = load_show_text(STEADY, "steady.toml")
    sink = Capture()
    with caplog.at_level(logging.WARNING, logger="severed.loop"):
        log = EventLog("/dev/full")
        loop = RenderLoop(show, site, sink, block_frames=1024, live=True, event_log=log)
        for i in range(200):  # a command flood: a record every block
            loop.post(_volume(-6.0 - i % 3))
            loop.render_block()
    assert log.failing == "the disk is full" and log.lost >= 200
    errors = [r for r in caplog.records if "event log" in r.getMessage()]
    assert len(errors) == 1 and "/dev/full" in errors[0].getMessage(), caplog.text
    assert "plays on" in errors[0].getMessage()
    after = sink.audio()[int(2.5 * SR):]
    assert block_rms_db(after, 1024).min() > -25.0  # -6..-8 dB of a -15 dBFS tone


def _volume(db):
    from severed.show.events import Event
    return Event(0.0, "cmd.volume", data={"db": db})


def test_event_log_directory_missing_then_created(site, tmp_path):
    """At start, a directory that does not exist (FileNotFoundError, safe mode too) must
    not stop the daemon; once it exists the log resumes, saying what it lost."""
    clock = ManualClock()
    path = tmp_path / "logs" / "events.jsonl"
    log = EventLog(str(path), retry_s=60.0, clock=clock)
    loop = RenderLoop(load_show_text(STEADY, "steady.toml"), site, Capture(),
                      block_frames=1024, live=True, clock=clock, event_log=log)
    loop.post(_volume(-3.0))
    loop.render_block()
    # start, the command, the volume it set
    assert log.failing == "no such directory" and log.lost == 3
    path.parent.mkdir()
    clock.now += 30.0
    loop.post(_volume(-4.0))
    loop.render_block()
    assert not path.exists()  # not tried again before retry_s
    clock.now += 31.0
    loop.post(_volume(-5.0))
    loop.render_block()
    import json
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[0]["type"] == "lost" and records[0]["records"] == 5
    assert records[1]["command"] == "cmd.volume" and records[1]["db"] == -5.0
    assert log.failing is None and log.lost == 0


def test_event_log_is_capped_and_rotated(tmp_path):
    import json
    path = tmp_path / "events.jsonl"
    log = EventLog(str(path), max_bytes=4096)
    for i in range(2000):
        log.write({"t": i * 0.1, "type": "sensor", "sensor": "door", "state": "closed"})
    old = tmp_path / "events.jsonl.1"
    assert path.stat().st_size <= 4096 and old.stat().st_size <= 4096
    assert sorted(os.listdir(tmp_path)) == ["events.jsonl", "events.jsonl.1"]
    last = [json.loads(line) for line in path.read_text().splitlines()]
    assert last[-1]["t"] == pytest.approx(199.9)
    first = [json.loads(line) for line in old.read_text().splitlines()]
    assert first[-1]["t"] == pytest.approx(last[0]["t"] - 0.1)  # nothing lost between


def test_daemon_starts_with_its_event_log_directory_missing(site, tmp_path):
    from severed.hardware.sinks import NullSink
    from severed.service.daemon import Daemon
    bad = dataclasses.replace(site, event_log=str(tmp_path / "no" / "events.jsonl"))
    daemon = Daemon(bad, load_show_text(STEADY, "steady.toml"), simulate=True)
    daemon.sink = NullSink()
    daemon._start_loop()  # raised FileNotFoundError
    daemon.loop.run(seconds=0.5)
    assert "no such directory" in daemon.loop.event_log.failing


def write_site(tmp_path, show_path, **site_keys):
    from severed.commands.common import dev_site_path
    text = open(dev_site_path()).read().replace('show = "lumon"', f'show = "{show_path}"')
    for key, value in site_keys.items():
        line = f"{key} = {value!r}".replace("'", '"')
        text, n = re.subn(rf"^{key}\s*=.*$", line, text, count=1, flags=re.M)
        if not n:
            text = text.replace("[site]\n", f"[site]\n{line}\n", 1)
    path = tmp_path / "site.toml"
    path.write_text(text)
    return path


def check(*files):
    import argparse
    import io
    from severed.commands import check as check_cmd
    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(files=[str(f) for f in files], kind=None, site=None,
                              show=None, quiet=False)
    code = check_cmd.run(args, out, err)
    return code, out.getvalue() + err.getvalue()


def reload_rig(site, tmp_path, show_text=STEADY):
    """A live loop playing ``show_text`` from a file, and a control handler reloading
    the site config at tmp_path/site.toml."""
    from severed.service.handler import ControlHandler
    show_path = tmp_path / "show.toml"
    show_path.write_text(show_text)
    site_path = write_site(tmp_path, show_path)
    show = load_show_text(show_text, str(show_path))
    sink = Capture()
    log = EventLog(keep=None)
    loop = RenderLoop(show, site, sink, block_frames=1024, live=True, event_log=log)
    handler = ControlHandler(loop, site, show, config_path=str(site_path))
    return loop, handler, sink, show, show_path, site_path


def test_check_and_reload_refuse_an_event_log_that_cannot_be_written(site, tmp_path):
    loop, handler, sink, show, show_path, site_path = reload_rig(site, tmp_path)
    missing = tmp_path / "nowhere" / "events.jsonl"
    site_path = write_site(tmp_path, show_path, event_log=str(missing))
    code, text = check(site_path)
    assert code == 1 and f"site.event_log: {missing.parent}: no such directory" in text, text
    loop.run(seconds=1.0)
    reply = handler({"cmd": "reload"})
    assert reply["ok"] is False and str(missing.parent) in str(reply["problems"]), reply
    assert loop.show is show
    (tmp_path / "nowhere").mkdir()
    assert check(site_path)[0] == 0


def test_a_reload_moves_the_event_log_at_once(site, tmp_path):
    """``reload`` answered ok:true without applying a new event_log: it takes effect
    now (nothing in the event log waits for a restart)."""
    import json
    from severed.hardware.sinks import NullSink
    from severed.service.daemon import Daemon
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    show = load_show_text(STEADY, "steady.toml")
    daemon = Daemon(dataclasses.replace(site, event_log=str(first)), show, simulate=True)
    daemon.sink = NullSink()
    daemon._start_loop()
    daemon.loop.run(seconds=0.2)
    daemon.apply_reload(dataclasses.replace(site, event_log=str(second),
                                            event_log_max_mb=1.0), show)
    daemon.loop.run(seconds=0.5)
    daemon.loop.event_log.close()
    assert [json.loads(x)["type"] for x in first.read_text().splitlines()] == ["start"]
    assert [json.loads(x)["type"] for x in second.read_text().splitlines()] == ["reload"]
    assert daemon.loop.event_log.max_bytes == 1024 * 1024


# ---------------------------------------------------------------- stems: missing, corrupt, too big


def damaged_stem(path, kind):
    if kind == "missing":
        return
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "header-only":
        write_wav(path, 1.0)
        with open(path, "r+b") as f:
            f.truncate(44)
    elif kind == "absurd-rate":  # a damaged header: 4 GHz would mean a filter of
        write_wav(path, 0.1)      # billions of taps (the fuzzer's find: memory ran out)
        with open(path, "r+b") as f:
            f.seek(24)
            f.write((4_000_000_000).to_bytes(4, "little"))
    else:  # random bytes under the stem's name
        path.write_bytes(np.random.default_rng(7).bytes(50_000))


@pytest.mark.parametrize("kind,name", [("missing", "tune.wav"), ("empty", "tune.wav"),
                                       ("header-only", "tune.wav"), ("random", "tune.wav"),
                                       ("absurd-rate", "tune.wav"),
                                       ("random", "tune.flac")])
def test_missing_or_corrupt_stems_fail_check_and_reload(site, tmp_path, kind, name):
    """They were accepted: reload answered ok:true and the layer went silent; check
    exited 0. The message names the path the daemon resolves (next to the show file),
    and the running show keeps playing."""
    loop, handler, sink, show, show_path, site_path = reload_rig(site, tmp_path)
    stems = tmp_path / "stems"
    stems.mkdir()
    damaged_stem(stems / name, kind)
    code, text = check(show_path)
    assert code == 0, text
    loop.run(seconds=2.5)
    show_path.write_text(STEADY + f"""
[scenes.main.layers.muzak]
type = "sampler"
file = "stems/{name}"
""")
    resolved = str(stems / name)
    code, text = check(show_path)
    assert code == 1 and "scenes.main.layers.muzak.file" in text and resolved in text, text
    code, text = check(site_path)
    assert code == 1 and resolved in text, text
    reply = handler({"cmd": "reload"})
    assert reply["ok"] is False and resolved in str(reply["problems"]), reply
    loop.run(seconds=3.0)
    assert loop.show is show
    after = sink.audio()[int(2.5 * SR):]
    assert band_db(after, 220.0) == pytest.approx(-12.0, abs=0.5)


def test_a_stem_over_the_budget_is_refused_by_name(site, tmp_path, caplog):
    """A 90-minute WAV (1 GB) took the daemon to 3 158 MiB. The budget is checked from
    the header, before anything converts the file: here 10 s of mono at 48 kHz (1.8 MiB
    converted) against a budget of 1 MiB."""
    loop, handler, sink, show, show_path, site_path = reload_rig(site, tmp_path)
    write_wav(tmp_path / "long.wav", 10.0)
    show_path.write_text(STEADY + """
[scenes.main.layers.muzak]
type = "sampler"
file = "long.wav"
""")
    site_path = write_site(tmp_path, show_path, stem_budget_mb=1.0)
    code, text = check(site_path)
    assert code == 1, text
    assert str(tmp_path / "long.wav") in text and "stem budget of 1 MiB" in text, text
    assert "stem_budget_mb" in text and str(site_path) in text
    loop.run(seconds=1.0)
    reply = handler({"cmd": "reload"})
    assert reply["ok"] is False and "stem budget" in str(reply["problems"]), reply
    assert loop.show is show
    # ... and the cache never converts it, whoever asks (a daemon starting with it).
    small = dataclasses.replace(site, stem_budget_mb=1.0)
    cache = Cache.for_site(small, override=str(tmp_path / "c"))
    with caplog.at_level(logging.ERROR):
        big = load_show_text(show_path.read_text(), str(show_path))
        loop2, _ = render(big, small, cache, 0.5)
    layer = loop2.engine.scenes["main"].slots[-1].layer
    assert "stem budget of 1 MiB" in layer.fault
    assert not glob.glob(str(tmp_path / "c" / "*.npy"))


def test_a_long_stem_is_converted_without_being_held_whole(tmp_path):
    """Conversion writes the cache entry block by block: the memory it allocates stays
    far below the stem's converted size (tracemalloc counts numpy's buffers; the
    entry is then memory mapped, as every entry over 16 MiB is). Before,
    a stem up to 32 MiB was built whole in memory, a longer one in a mapped file whose
    pages the process held to the end (with those of the mapped WAV it read)."""
    import tracemalloc
    from severed.precompute.stems import Stem
    path = tmp_path / "long.wav"
    t = np.arange(60 * 44100) / 44100
    x = (0.3 * np.sin(2 * np.pi * 330.0 * t) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(np.repeat(x, 2).tobytes())
    cache = Cache(str(tmp_path / "c"), sample_rate=SR)
    stem = Stem(str(path), work_dir=cache.directory)
    stem.key_parts(SR)  # the content hash (read in 1 MiB pieces) is not what is measured
    converted = 60 * SR * 2 * 4  # 22 MiB: memory mapped once in the cache (16 MiB on)
    tracemalloc.start()
    try:
        audio, what = cache.ensure(stem, SR)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert what == "rendered" and audio.shape == (60 * SR, 2)
    assert peak < converted / 4, f"{peak / 2**20:.1f} MiB allocated at once"
    assert Cache(cache.directory, sample_rate=SR).status(stem) == "present"
    assert band_db(np.asarray(audio[SR:3 * SR]), 330.0) == pytest.approx(
        20 * np.log10(0.3), abs=0.3)


def test_converting_a_new_stem_does_not_hold_up_the_control_socket(site, tmp_path):
    """A reload that adds a long stem converted it on the control socket's thread: no
    client was answered for 17 s. The reply now comes at once (the conversion is held
    back here until the reply is in), saying the swap follows; the show swaps when the
    stem is in the cache, the old one playing meanwhile."""
    from severed.hardware.sinks import NullSink
    from severed.precompute.stems import Stem
    from severed.service.daemon import Daemon, _ReloadingLoop
    from severed.service.handler import ControlHandler

    show_path = tmp_path / "show.toml"
    show_path.write_text(STEADY)
    site_path = write_site(tmp_path, show_path, cache_dir=str(tmp_path / "c"))
    show = load_show_text(STEADY, str(show_path))
    here = dataclasses.replace(site, cache_dir=str(tmp_path / "c"), path=str(site_path))
    daemon = Daemon(here, show, config_path=str(site_path), simulate=True)
    daemon.sink = NullSink()
    daemon._start_loop()
    handler = ControlHandler(_ReloadingLoop(daemon), here, show, config_path=str(site_path))
    write_wav(tmp_path / "tune.wav", 3.0)
    show_path.write_text(STEADY + '\n[scenes.main.layers.muzak]\ntype = "sampler"\n'
                         'file = "tune.wav"\n')
    release, converting = threading.Event(), threading.Event()
    real = Stem.render_blocks

    def slow(self, rate):
        converting.set()
        assert release.wait(10.0)
        return real(self, rate)

    Stem.render_blocks = slow
    try:
        reply = handler({"cmd": "reload"})
        assert reply.get("ok", True) and "converting" in reply["pending"], reply
        assert converting.wait(10.0)
        daemon.loop.run(seconds=0.5)
        assert daemon.loop.show is show  # the old show plays while the stem converts
    finally:
        release.set()
        Stem.render_blocks = real
    deadline = time.monotonic() + 20.0
    while daemon.reload_pending and time.monotonic() < deadline:
        time.sleep(0.02)
    daemon.loop.run(seconds=1.0)  # engine time: half a second more
    assert daemon.loop.show is not show
    muzak = [s for s in daemon.loop.engine.scenes["main"].slots if s.spec.name == "muzak"]
    assert muzak and muzak[0].layer.fault is None


# ---------------------------------------------------------------- memory across reloads


def test_engines_replaced_by_reloads_are_freed_soon(site):
    """RSS grew with reloads (113 -> 243 MiB after 180, most of it when reloads came
    back to back). The growth itself is measured by benchmarks/bench_reload_memory.py
    (the allocator's part of it shows only in the resident size); this guards the
    daemon's part: every engine a reload replaces, including one dropped mid-crossfade
    by the next reload, is counted and gone after the daemon's collection, with the
    collector otherwise off; the one frozen at start after the settling pass."""
    import gc
    import weakref
    from severed.hardware.sinks import NullSink
    from severed.service.daemon import Daemon
    show = load_show_text(STEADY, "steady.toml")
    daemon = Daemon(site, show, simulate=True)
    daemon.sink = NullSink()
    daemon._start_loop()
    loop = daemon.loop
    # (what the daemon's main thread does between its other chores)
    collect = getattr(daemon, "collect_retired_engines", lambda: None)
    gc.collect()
    gc.freeze()  # as the daemon does once it plays
    gc.disable()  # no collection but the daemon's own
    try:
        engines = [weakref.ref(loop.engine)]
        for i in range(6):
            daemon.apply_reload(site, show)
            seconds = 3.0 if i % 2 else 0.2  # every other one mid-crossfade
            loop.run(seconds=loop.t + seconds)
            engines.append(weakref.ref(loop.engine))
            collect()
        loop.run(seconds=loop.t + 3.0)
        collect()
        # The engine frozen at start waits for the settling pass; none of the others.
        alive = [i for i, ref in enumerate(engines[:-1]) if ref() is not None]
        assert alive in ([], [0]), f"engines {alive} of {len(engines) - 1} replaced alive"
        daemon.settle_memory_if_due(float("inf"))
        assert engines[0]() is None
        assert loop.engines_retired == 6
    finally:
        gc.enable()
        gc.unfreeze()


def test_render_refuses_an_event_log_it_cannot_write(tmp_path):
    """Offline there is no show to keep playing: ``severed render --events`` into a
    directory that does not exist fails before rendering, naming it (the event log
    would otherwise report it and render on, and the file would be missing)."""
    missing = tmp_path / "nowhere" / "events.jsonl"
    proc = subprocess.run([sys.executable, "-m", "severed", "render", "--show", "safe",
                           "--seconds", "0.5", "--out", str(tmp_path / "out.wav"),
                           "--events", str(missing), "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert f"{missing.parent}: no such directory" in proc.stderr
    assert not (tmp_path / "out.wav").exists()


def test_a_newer_reload_wins_over_one_still_converting(site, tmp_path):
    """A reload whose stem is converting, then another (the stem taken out again):
    the second applies at once, and the first, when its conversion ends, gives way
    rather than bringing back the config it read."""
    from severed.hardware.sinks import NullSink
    from severed.precompute.stems import Stem
    from severed.service.daemon import Daemon

    here = dataclasses.replace(site, cache_dir=str(tmp_path / "c"))
    steady = load_show_text(STEADY, str(tmp_path / "show.toml"))
    daemon = Daemon(here, steady, simulate=True)
    daemon.sink = NullSink()
    daemon._start_loop()
    write_wav(tmp_path / "tune.wav", 1.0)
    with_stem = load_show_text(STEADY + '\n[scenes.main.layers.muzak]\ntype = "sampler"\n'
                               'file = "tune.wav"\n', str(tmp_path / "show.toml"))
    other = load_show_text(STEADY.replace('name = "steady"', 'name = "other"'),
                           str(tmp_path / "show.toml"))
    release, converting = threading.Event(), threading.Event()
    real = Stem.render_blocks

    def slow(self, rate):
        converting.set()
        assert release.wait(10.0)
        return real(self, rate)

    Stem.render_blocks = slow
    try:
        daemon.apply_reload(here, with_stem)
        assert converting.wait(10.0) and daemon.reload_pending
        daemon.apply_reload(here, other)  # no stems: applies now
        assert daemon.reload_pending is None
    finally:
        release.set()
        Stem.render_blocks = real
    for thread in threading.enumerate():
        if thread.name == "severed-reload":
            thread.join(10.0)
    daemon.loop.run(seconds=1.0)
    assert daemon.loop.show is other and daemon.show is other


def test_event_log_filling_a_disk_then_room_again(tiny_disk):
    """A real full disk (a 64 KiB tmpfs): a record cut short where the disk filled up
    is ended before the next one, the loss is recorded, and every other line parses."""
    import json
    clock = ManualClock()
    filler = tiny_disk / "filler"
    filler.write_bytes(b"x" * 40_000)
    log = EventLog(str(tiny_disk / "events.jsonl"), retry_s=60.0, clock=clock)
    for i in range(400):
        log.write({"t": float(i), "type": "sensor", "sensor": "door", "state": "closed",
                   "pad": "p" * 40})
    assert log.failing == "the disk is full" and log.lost > 0
    filler.unlink()
    clock.now += 61.0
    log.write({"t": 1000.0, "type": "sensor", "sensor": "door", "state": "open"})
    log.close()
    lines = (tiny_disk / "events.jsonl").read_text().splitlines()
    parsed, broken = [], []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            broken.append(line)
    assert len(broken) <= 1, broken  # the one cut short, on a line of its own
    assert parsed[-2]["type"] == "lost" and parsed[-2]["records"] >= 1
    assert parsed[-1]["state"] == "open"


def test_the_stem_budget_counts_each_file_once_and_all_files_together(tmp_path):
    """Three layers, two files of 0.9 MiB once converted (5 s mono at 48 kHz): one
    file named twice fits a budget of 1 MiB; both files together do not, and the
    message names the larger and the total."""
    from severed.config.model import SiteConfig
    from severed.preflight import check_stems
    write_wav(tmp_path / "a.wav", 5.0)
    write_wav(tmp_path / "b.wav", 4.0)
    layers = "".join(f'\n[scenes.main.layers.{name}]\ntype = "sampler"\nfile = "{f}"\n'
                     for name, f in (("one", "a.wav"), ("again", "a.wav"), ("two", "b.wav")))
    both = load_show_text(STEADY + layers, str(tmp_path / "show.toml"))
    once = load_show_text(STEADY + layers.replace("b.wav", "a.wav"), str(tmp_path / "show.toml"))
    assert check_stems(SiteConfig(stem_budget_mb=1.0), once) == []
    (problem,) = check_stems(SiteConfig(stem_budget_mb=1.0), both)
    assert str(tmp_path / "a.wav") in problem and "scenes.main.layers.one.file" in problem
    assert "come to 2 MiB, over the stem budget of 1 MiB" in problem, problem
