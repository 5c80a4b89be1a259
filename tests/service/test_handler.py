"""Every control command end to end: client -> socket -> handler -> fake loop."""

import os
import time
import wave

import numpy as np
import pytest

from severed.config.model import SceneSpec, Show, SiteConfig
from severed.errors import ConfigError, ControlError
from severed.service.control import ControlClient, ControlServer
from severed.service.handler import ControlHandler

@pytest.fixture
def rig(fake_loop, short_dir, cfg):
    loader = cfg.Loader()
    handler = ControlHandler(fake_loop, cfg.site, cfg.show, loader=loader,
                             info=lambda: {"pin_factory": "mock", "safe_mode": False})
    server = ControlServer(os.path.join(short_dir, "c.sock"), handler).start()
    client = ControlClient(server.path)
    yield client, fake_loop, loader, handler
    client.close()
    server.stop()


def error_of(client, cmd, **args):
    with pytest.raises(ControlError) as err:
        client.request(cmd, **args)
    return str(err.value)


def test_status_merges_loop_and_daemon_facts(rig):
    client, loop, _, _ = rig
    status = client.request("status")["status"]
    assert status["scene"] == "outie" and status["tension"] == 0.25
    assert status["peak_dbfs"] is None  # -inf travels as null
    assert status["pin_factory"] == "mock" and status["site"] == "lobby"
    assert status["show"] == "lumon" and status["pid"] == os.getpid()
    assert status["config_path"] == "/etc/severed/severed.toml"


def test_sensors_lists_specs_with_live_states(rig):
    client, _, _, _ = rig
    rows = client.request("sensors")["sensors"]
    assert [(r["name"], r["kind"], r["pin"], r["state"]) for r in rows] == [
        ("door", "door", 17, "open"), ("motion", "pir", 4, "stop"),
        ("reward", "button", 27, None)]
    assert rows[1]["required"] is True


def test_commands_post_exact_events(rig):
    client, loop, _, _ = rig
    client.request("scene", name="innie")
    client.request("volume", db=-6)
    client.request("mute")
    client.request("unmute")
    client.request("trigger", event="reward.press")
    client.request("test_tone", channel="left", freq_hz=1000, seconds=2)
    client.request("test_tone")
    posted = [(e.t, e.type, e.data) for e in loop.events]
    assert posted == [
        (12.5, "cmd.scene", {"scene": "innie"}),
        (12.5, "cmd.volume", {"db": -6.0}),
        (12.5, "cmd.mute", {}),
        (12.5, "cmd.unmute", {}),
        (12.5, "cmd.trigger", {"event": "reward.press"}),
        (12.5, "cmd.test_tone", {"channel": "left", "freq_hz": 1000.0, "seconds": 2.0}),
        (12.5, "cmd.test_tone", {"channel": "both", "freq_hz": 440.0, "seconds": 3.0}),
    ]


@pytest.mark.parametrize("cmd, args, message", [
    ("scene", {"name": "innee"}, "scene: no scene 'innee' in show lumon (scenes: outie, "
                                 "innie, barrier); did you mean 'innie'?"),
    ("scene", {"name": "barrier"}, "scene: 'barrier' is an overlay, not a scene to switch to"),
    ("scene", {}, "scene: name: expected a name, got None"),
    ("volume", {"db": 20}, "volume: db: 20 is outside -80..12"),
    ("volume", {"db": "loud"}, "volume: db: expected a number, got 'loud'"),
    ("volume", {"db": True}, "volume: db: expected a number, got True"),
    ("trigger", {"event": "door.slammed"}, "trigger: no sensor event 'door.slammed' on this "
                                           "site (events: door.closed, door.open, "
                                           "motion.start, motion.stop, reward.press, "
                                           "reward.release); did you mean 'door.closed'?"),
    ("test_tone", {"channel": "middle"}, "test_tone: channel: 'middle' is not one of left, "
                                         "right, both"),
    ("test_tone", {"freq_hz": 5}, "test_tone: freq_hz: 5 is outside 20..20000"),
    ("test_tone", {"seconds": 600}, "test_tone: seconds: 600 is outside 0.1..60"),
    ("record_status", {}, "record_status: nothing has been recorded since the daemon started"),
    ("dance", {}, "unknown command 'dance'; known: config, mute, ping, record, "
                  "record_status, reload, scene, sensors, status, test_tone, trigger, "
                  "unmute, volume"),
])
def test_bad_arguments_are_named_and_nothing_is_posted(rig, cmd, args, message):
    client, loop, _, _ = rig
    assert error_of(client, cmd, **args) == message
    assert loop.events == []


def test_config_is_the_effective_site_config(rig):
    client, _, _, _ = rig
    reply = client.request("config")
    assert reply["config"]["name"] == "lobby"
    assert reply["config"]["audio"]["sample_rate"] == 48000
    assert reply["config"]["sensors"][1] == {**reply["config"]["sensors"][1],
                                             "name": "motion", "pin": 4, "kind": "pir"}
    assert reply["show"]["scenes"] == ["outie", "innie", "barrier"]


def test_reload_applies_a_valid_config(rig, cfg):
    client, loop, loader, handler = rig
    new_show = Show(path="/etc/severed/show.toml", name="other", initial_scene="a",
                    scenes={"a": SceneSpec("a", ())})
    new_site = SiteConfig(path=cfg.site.path, name="lobby", sensors=cfg.site.sensors[:1])
    loader.result = (new_site, new_show)
    reply = client.request("reload")
    assert loader.calls == ["/etc/severed/severed.toml"]
    assert loop.reloads == [(new_site, new_show)]
    assert reply["show"] == "other" and reply["restart_needed"] == []
    assert "sensors_kept" not in reply
    assert handler.show is new_show
    assert error_of(client, "scene", name="outie").startswith("scene: no scene 'outie'")


def test_a_sound_card_change_taken_back_needs_no_restart(rig, cfg):
    import dataclasses
    client, _, loader, _ = rig
    changed = dataclasses.replace(cfg.site, audio=dataclasses.replace(
        cfg.site.audio, device="hw:CARD=other"))
    loader.result = (changed, cfg.show)
    assert client.request("reload")["restart_needed"] == ["audio"]
    loader.result = (cfg.site, cfg.show)  # reverted: the card in use is the one named
    assert client.request("reload")["restart_needed"] == []


def test_a_refused_reload_lists_every_problem_in_the_journal(rig, caplog):
    import logging
    client, _, loader, _ = rig
    loader.result = ConfigError(["severed.toml: site.mains_hz: must be 50 or 60, not 55",
                                 "lumon.toml: scenes.x.layers.y.type: unknown layer type"])
    with caplog.at_level(logging.INFO, logger="severed.service.handler"):
        with pytest.raises(ControlError):
            client.request("reload")
    logged = [r.getMessage() for r in caplog.records]
    assert "reload refused, keeping the running show: severed.toml: site.mains_hz: must be " \
           "50 or 60, not 55" in logged
    assert any("unknown layer type" in line for line in logged)


def test_reload_says_when_the_daemon_kept_the_old_sensors(rig, cfg, monkeypatch):
    client, loop, loader, handler = rig
    new_site = SiteConfig(path=cfg.site.path, name="lobby", sensors=cfg.site.sensors[:1])
    loader.result = (new_site, cfg.show)
    # The daemon could not open the new pins and reports the site now in force.
    monkeypatch.setattr(loop, "request_reload", lambda site, show: cfg.site)
    reply = client.request("reload")
    assert reply["sensors_kept"].startswith("the new sensor pins could not be opened")
    assert handler.site is cfg.site


def test_reload_refuses_an_invalid_config_and_keeps_the_show(rig, cfg):
    client, loop, loader, handler = rig
    loader.result = ConfigError(["severed.toml: site.mains_hz: must be 50 or 60, not 55",
                                 "lumon.toml: scenes.x.layers.y.type: unknown layer type"])
    with pytest.raises(ControlError) as err:
        client.request("reload")
    assert str(err.value) == ("config not reloaded: 2 problem(s); the running show is "
                              "unchanged")
    assert err.value.reply["problems"][0].startswith("severed.toml: site.mains_hz")
    assert loop.reloads == [] and handler.show is cfg.show
    loader.result = FileNotFoundError(2, "No such file or directory", "/etc/severed/x.toml")
    assert error_of(client, "reload") == ("config not reloaded: cannot read "
                                          "/etc/severed/x.toml: No such file or directory")


def test_record_writes_the_played_sound(rig, tmp_path):
    client, loop, _, _ = rig
    loop.start()
    path = str(tmp_path / "take.wav")
    reply = client.request("record", seconds=0.5, path=path)
    assert reply["recording"]["state"] == "recording"
    assert error_of(client, "record", seconds=1, path=path).startswith(
        "record: already recording into")
    deadline = time.monotonic() + 5
    while client.request("record_status")["recording"]["state"] == "recording":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    info = client.request("record_status")["recording"]
    assert info["state"] == "done" and info["recorded_s"] == 0.5
    with wave.open(path) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == \
            (2, 2, 8000, 4000)
        samples = np.frombuffer(w.readframes(4000), "<i2").reshape(-1, 2) / 32767.0
    # The fake loop plays a 0.5-amplitude 1 kHz sine: the take must hold exactly that.
    rms = np.sqrt(np.mean(samples ** 2))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)
    spectrum = np.abs(np.fft.rfft(samples[:, 0]))
    assert np.argmax(spectrum) * 8000 / 4000 == pytest.approx(1000, abs=2)
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert loop._taps == []  # the tap is gone after the take


@pytest.mark.parametrize("path, message", [
    ("take.wav", "give an absolute path"),
    ("/tmp/take.mp3", "the file name must end in .wav"),
    ("/no/such/dir/take.wav", "no directory /no/such/dir"),
])
def test_record_refuses_paths_it_cannot_write(rig, path, message):
    client, loop, _, _ = rig
    assert message in error_of(client, "record", seconds=1, path=path)
    assert loop._taps == []


def test_record_bare_name_goes_to_the_recordings_dir(fake_loop, cfg, tmp_path):
    handler = ControlHandler(fake_loop, cfg.site, cfg.show, recordings_dir=str(tmp_path))
    fake_loop.start()
    reply = handler({"cmd": "record", "seconds": 0.2, "path": "take.wav", "cwd": "/"})
    assert reply["recording"]["path"] == str(tmp_path / "take.wav")
    handler.recording.wait(5)
    assert (tmp_path / "take.wav").exists()
    # Without a recordings directory (started by hand): the client's directory.
    handler = ControlHandler(fake_loop, cfg.site, cfg.show)
    reply = handler({"cmd": "record", "seconds": 0.2, "path": "sub/../b.wav",
                     "cwd": str(tmp_path)})
    assert reply["recording"]["path"] == str(tmp_path / "b.wav")
    handler.recording.wait(5)


@pytest.mark.parametrize("path, message", [
    ("/tmp/a\0b.wav", "control characters"),
    ("/tmp/a\nb.wav", "control characters"),
    ("/tmp/" + "x" * 300 + ".wav", "at most 255 bytes"),
    ("/tmp/" + "x/" * 600 + "a.wav", "longer than 1024 bytes"),
])
def test_record_refuses_names_that_would_break_the_writer(rig, path, message):
    # A NUL byte once killed the writer thread: `record` then said "already
    # recording" until the daemon restarted.
    client, loop, _, _ = rig
    assert message in error_of(client, "record", seconds=1, path=path)
    assert loop._taps == []


def test_record_refuses_a_take_the_disk_cannot_hold(rig, tmp_path, monkeypatch):
    from severed.service import record
    client, loop, _, _ = rig
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    monkeypatch.setattr(record, "KEEP_FREE_BYTES", free)  # nothing left for a take
    text = error_of(client, "record", seconds=1, path=str(tmp_path / "t.wav"))
    assert f"not enough free space in {tmp_path}" in text and "must stay free" in text
    assert loop._taps == []


def test_a_writer_that_fails_ends_the_take_with_its_error(rig, tmp_path, monkeypatch):
    from severed.service import record
    client, loop, _, handler = rig
    loop.start()

    def broken(path, block, sample_rate):
        raise RuntimeError("the writer broke")

    monkeypatch.setattr(record, "write_wav", broken)
    client.request("record", seconds=0.2, path=str(tmp_path / "t.wav"))
    handler.recording.wait(5)
    info = client.request("record_status")["recording"]
    assert info["state"] == "failed" and "the writer broke" in info["error"]
    monkeypatch.undo()
    # The next take is not refused with "already recording".
    assert client.request("record", seconds=0.2, path=str(tmp_path / "t.wav"))["ok"]
    handler.recording.wait(5)
    assert client.request("record_status")["recording"]["state"] == "done"


class TapOnlyLoop:
    """A render loop reduced to its taps: the test feeds blocks when it likes."""

    sample_rate, channels = 8000, 2

    def __init__(self):
        self.taps = []

    def add_tap(self, fn):
        self.taps.append(fn)

    def remove_tap(self, fn):
        self.taps.remove(fn)

    def feed(self, frames):
        for tap in list(self.taps):
            tap(np.full((frames, 2), 0.25, np.float32))


def test_record_that_stops_getting_sound_fails_cleanly(tmp_path, monkeypatch):
    from severed.service import record
    monkeypatch.setattr(record, "STALL_S", 0.2)
    loop = TapOnlyLoop()
    rec = record.Recording(loop, str(tmp_path / "x.wav"), seconds=1.0)
    rec.start()
    loop.feed(2000)  # a quarter of the take, then the loop stops rendering
    rec.wait(2)
    assert rec.info()["state"] == "failed"
    assert rec.info()["error"] == ("no sound from the render loop for 0.2 s (after "
                                   "0.2 s of the take): see severed logs")
    assert not (tmp_path / "x.wav").exists() and loop.taps == []


def test_record_slower_than_real_time_still_completes(tmp_path, monkeypatch):
    # An emulated or overloaded machine: 0.1 s of sound per 0.15 s, with no gap
    # as long as STALL_S. The take must wait for it, not give up.
    from severed.service import record
    monkeypatch.setattr(record, "STALL_S", 0.3)
    loop = TapOnlyLoop()
    rec = record.Recording(loop, str(tmp_path / "x.wav"), seconds=0.5)
    rec.start()
    for _ in range(5):
        time.sleep(0.15)
        loop.feed(800)
    rec.wait(2)
    assert rec.info()["state"] == "done" and rec.info()["recorded_s"] == 0.5
    with wave.open(str(tmp_path / "x.wav")) as w:
        assert w.getnframes() == 4000


def test_sensor_states_use_the_words_of_the_docs(rig):
    # The conditioner says active/inactive; a technician reads closed, start, press.
    client, loop, _, _ = rig
    loop.state["sensors"] = {"door": "active", "motion": "stuck", "reward": "inactive"}
    rows = client.request("sensors")["sensors"]
    assert [(r["name"], r["state"]) for r in rows] == [
        ("door", "closed"), ("motion", "fault (stuck)"), ("reward", "release")]
    assert client.request("status")["status"]["sensors"] == {
        "door": "closed", "motion": "fault (stuck)", "reward": "release"}
