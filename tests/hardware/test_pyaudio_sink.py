"""PyAudioSink against a fake PortAudio: underruns, device loss, naming, negotiation."""

import logging
import threading
import time

import numpy as np
import pytest

from severed.errors import AudioDeviceError
from severed.hardware.pyaudio_sink import PyAudioSink, find_output_device, read_alsa_cards

pyaudio = pytest.importorskip("pyaudio")


class FakeStream:
    def __init__(self, world):
        self.world = world
        self.writes = []  # (bytes, frames)
        self.closed = False

    def write(self, data, frames, exception_on_underflow=False):
        w = self.world
        with w.lock:
            if w.fail_writes_after is not None and w.total_writes >= w.fail_writes_after:
                w.fail_writes_after = None
                w.present = False
                raise OSError(-9999, "Unanticipated host error")
            w.total_writes += 1
            self.writes.append((bytes(data), frames))
        time.sleep(w.write_s)  # a sound card takes time to play a block

    def stop_stream(self):
        pass

    def close(self):
        self.closed = True


class FakeWorld:
    """The sound card(s) the fake PortAudio sees; tests make them vanish and return."""

    def __init__(self, rates=(44100, 48000), formats=None):
        self.lock = threading.Lock()
        self.present = True
        self.rates = rates
        self.formats = formats
        self.streams = []
        self.open_attempts = []  # monotonic times of every PortAudio start
        self.fail_writes_after = None
        self.total_writes = 0
        self.write_s = 0.002
        self.return_after_attempts = None
        self.busy = False

    def factory(self):
        self.open_attempts.append(time.monotonic())
        if (not self.present and self.return_after_attempts is not None
                and len(self.open_attempts) > self.return_after_attempts):
            self.present = True
        return FakePA(self)

    def frames(self, dtype=np.int16, channels=2):
        """Every frame written to every stream, in order."""
        data = b"".join(d for s in self.streams for d, _ in s.writes)
        return np.frombuffer(data, dtype).reshape(-1, channels)


class FakePA:
    def __init__(self, world):
        self.world = world
        self.devices = [
            {"name": "bcm2835 Headphones: - (hw:0,0)", "maxOutputChannels": 8,
             "defaultSampleRate": 44100.0},
            {"name": "mic", "maxOutputChannels": 0, "defaultSampleRate": 48000.0},
        ]
        if world.present:
            self.devices.append(
                {"name": "snd_rpi_hifiberry_dac: HifiBerry DAC HiFi pcm5102a-hifi-0 (hw:1,0)",
                 "maxOutputChannels": 2, "defaultSampleRate": 44100.0})

    def get_device_count(self):
        return len(self.devices)

    def get_device_info_by_index(self, i):
        return dict(self.devices[i], index=i)

    def is_format_supported(self, rate, output_device=None, output_channels=None,
                            output_format=None):
        if self.world.busy:
            raise ValueError("Device unavailable", -9985)
        if rate not in self.world.rates:
            raise ValueError("Invalid sample rate", -9997)
        if self.world.formats is not None and output_format not in self.world.formats:
            raise ValueError("Sample format not supported", -9994)
        return True

    def open(self, **kw):
        stream = FakeStream(self.world)
        self.world.streams.append(stream)
        return stream

    def terminate(self):
        pass


CARDS = {"Headphones": 0, "sndrpihifiberry": 1}


def make_sink(world, **kw):
    kw.setdefault("block_frames", 64)
    kw.setdefault("render_ahead_blocks", 2)
    return PyAudioSink(kw.pop("device", "hifiberry"), 48000, 2, kw.pop("fmt", "int16"),
                       pa_factory=world.factory, **kw)


def ramp(frames, start):
    """A block whose int16 samples are start+1 ... (never zero, so zeros are fill)."""
    values = (np.arange(frames * 2, dtype=np.float64) + start + 1) / 32767
    return values.reshape(frames, 2).astype(np.float32)


def nonzero_frames(frames):
    return frames[np.any(frames != 0, axis=1)]


def test_blocks_arrive_in_order_after_conversion():
    world = FakeWorld()
    sink = make_sink(world).open()
    blocks = [ramp(64, i * 128) for i in range(20)]
    for b in blocks:
        sink.write(b)
    sink.close()
    got = nonzero_frames(world.frames())
    expected = np.rint(np.concatenate(blocks).astype(np.float64) * 32767).astype(np.int16)
    assert np.array_equal(got, expected)
    assert sink.stats()["dropped_blocks"] == 0
    assert "HifiBerry" in sink.description and "int16" in sink.description


def test_silence_before_the_first_block_is_not_an_underrun_but_a_gap_after_is():
    world = FakeWorld()
    sink = make_sink(world).open()
    time.sleep(0.05)  # the device is fed zeros meanwhile (a DAC pops if it is not)
    zero_writes = len(world.streams[0].writes)
    assert zero_writes >= 2
    assert sink.underruns == 0
    sink.write(ramp(64, 0))
    time.sleep(0.05)  # 0.05 s with nothing from the render loop: 1.3 ms blocks are late
    sink.close()
    assert sink.underruns >= 3
    frames = world.frames()
    assert len(frames) == 64 * len(world.streams[0].writes)
    assert not frames[: zero_writes * 64].any()


def test_write_blocks_while_queue_is_full_pacing_the_renderer():
    world = FakeWorld()
    world.write_s = 0.01  # a "device" playing 64-frame blocks in 10 ms each
    sink = make_sink(world).open()
    start = time.monotonic()
    for i in range(12):
        sink.write(ramp(64, i))
    elapsed = time.monotonic() - start
    sink.close()
    # 12 blocks, at most render_ahead (2) + 1 in flight ahead: >= 9 device writes waited.
    assert elapsed >= 0.08
    assert sink.underruns == 0


def test_device_loss_reopens_with_backoff_and_write_never_raises(caplog):
    world = FakeWorld()
    world.write_s = 0.0015  # about the 1.33 ms a 64-frame block lasts
    world.fail_writes_after = 30
    world.return_after_attempts = 4  # the 1st start, then 3 failed reopens, then back
    sink = make_sink(world, backoff_s=(0.05, 0.2))
    with caplog.at_level(logging.DEBUG, logger="severed.hardware"):
        sink.open()
        deadline = time.monotonic() + 3.0
        i = 0
        while sink.reopens == 0 and time.monotonic() < deadline:
            sink.write(ramp(64, i))  # must neither raise nor stall the loop
            i += 1
        for _ in range(20):
            sink.write(ramp(64, i))
            i += 1
        sink.close()
    assert sink.reopens == 1
    attempts = np.diff(world.open_attempts[1:])
    # Reopen attempts 0.05 s after the failure, then 0.1, 0.2 and 0.2 s apart: the
    # backoff doubles up to its maximum.
    assert len(world.open_attempts) == 5
    assert attempts == pytest.approx([0.1, 0.2, 0.2], abs=0.05)
    # While gone, blocks were taken at the real-time rate (one per 1.33 ms) and dropped.
    gone_s = world.open_attempts[-1] - world.open_attempts[1] + 0.05
    assert sink.dropped_blocks == pytest.approx(gone_s / (64 / 48000), rel=0.35)
    assert len(world.streams) == 2 and world.streams[0].closed
    # The new stream got the blocks written after recovery, in order.
    after = nonzero_frames(np.frombuffer(b"".join(d for d, _ in world.streams[1].writes),
                                         np.int16).reshape(-1, 2))
    assert len(after) >= 20 * 64
    firsts = after.reshape(-1, 64, 2)[:, 0, 0].astype(np.int64)  # block i starts at i+1
    assert np.all(np.diff(firsts) == 1) and firsts[-1] == i
    assert "failed" in caplog.text and "is back" in caplog.text


def test_device_gone_at_close_still_stops_promptly():
    world = FakeWorld()
    world.fail_writes_after = 3
    sink = make_sink(world, backoff_s=(5.0, 10.0)).open()
    for i in range(10):
        sink.write(ramp(64, i))
    start = time.monotonic()
    sink.close()
    assert time.monotonic() - start < 1.0
    assert sink.reopens == 0 and sink.dropped_blocks >= 1


def test_xruns_reported_by_alsa_are_counted_and_not_fatal():
    world = FakeWorld()
    sink = make_sink(world)
    sink.open()
    real_write = FakeStream.write
    calls = {"n": 0}

    def underflowing_write(self, data, frames, exception_on_underflow=False):
        real_write(self, data, frames)
        calls["n"] += 1
        if calls["n"] % 2 and exception_on_underflow:
            raise OSError(-9980, "Output underflowed")

    world.streams[0].write = underflowing_write.__get__(world.streams[0])
    for i in range(10):
        sink.write(ramp(64, i))
    sink.close()
    assert sink.xruns >= 5 and sink.reopens == 0 and sink.dropped_blocks == 0


def test_unsupported_rate_names_device_and_rate():
    world = FakeWorld(rates=(44100,))
    with pytest.raises(AudioDeviceError, match=r"HifiBerry.*48000 Hz"):
        make_sink(world).open()


def test_format_negotiation_falls_back_to_what_the_device_takes(caplog):
    world = FakeWorld(formats={pyaudio.paInt16})
    sink = make_sink(world, fmt="float32").open()
    sink.write(ramp(64, 0))
    sink.close()
    assert "int16" in sink.description and "float32" in caplog.text
    assert nonzero_frames(world.frames()).shape == (64, 2)


def test_a_busy_device_is_waited_for_not_opened_in_another_format():
    world = FakeWorld()
    world.busy = True
    with pytest.raises(AudioDeviceError, match="busy"):
        make_sink(world).open()
    world.busy = False
    sink = make_sink(world).open()
    sink.close()
    assert "int16" in sink.description


def test_too_many_channels_is_refused():
    world = FakeWorld()
    with pytest.raises(AudioDeviceError, match="2 output channels"):
        PyAudioSink("hifiberry", 48000, 4, pa_factory=world.factory).open()


# ---------------------------------------------------------------- device names

DEVICES = [
    {"name": "bcm2835 Headphones: - (hw:0,0)", "index": 0, "max_channels": 8,
     "default_rate": 44100.0},
    {"name": "snd_rpi_hifiberry_dac: HifiBerry DAC HiFi pcm5102a-hifi-0 (hw:1,0)",
     "index": 1, "max_channels": 2, "default_rate": 44100.0},
    {"name": "sysdefault", "index": 2, "max_channels": 128, "default_rate": 48000.0},
    {"name": "default", "index": 3, "max_channels": 128, "default_rate": 48000.0},
]


@pytest.mark.parametrize("wanted,index", [
    ("default", 3),                              # exact beats substring of sysdefault
    ("plughw:CARD=sndrpihifiberry", 1),          # card id through /proc/asound/cards
    ("hw:CARD=sndrpihifiberry,DEV=0", 1),
    ("sysdefault:CARD=sndrpihifiberry", 1),
    ("hw:0,0", 0),
    ("plughw:1", 1),
    ("HifiBerry", 1),                            # substring of the PortAudio name
    ("sndrpihifiberry", 1),                      # substring of the card id
    ("Headphones", 0),
])
def test_device_names(wanted, index):
    assert find_output_device(DEVICES, wanted, cards=CARDS)["index"] == index


def test_unknown_device_lists_what_exists():
    with pytest.raises(AudioDeviceError, match=r"'usbaudio' not found.*HifiBerry"):
        find_output_device(DEVICES, "usbaudio", cards=CARDS)


def test_read_alsa_cards(tmp_path):
    path = tmp_path / "cards"
    path.write_text(
        " 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones\n"
        "                      bcm2835 Headphones\n"
        " 1 [sndrpihifiberry]: RPi-simple - snd_rpi_hifiberry_dac\n"
        "                      snd_rpi_hifiberry_dac\n")
    assert read_alsa_cards(path) == CARDS
    assert read_alsa_cards(tmp_path / "missing") == {}


def test_realtime_priority_without_the_right_only_warns(caplog, monkeypatch):
    import os

    def refuse(pid, policy, param):
        assert pid == 0 and policy == os.SCHED_FIFO and param.sched_priority == 40
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    world = FakeWorld()
    sink = make_sink(world, realtime_priority=40).open()
    sink.write(ramp(64, 0))
    sink.close()
    assert "real-time priority 40" in caplog.text and "LimitRTPRIO" in caplog.text
    assert nonzero_frames(world.frames()).shape == (64, 2)


def test_waiting_for_a_card_that_appears_after_start():
    world = FakeWorld()
    world.present = False  # the DAC's driver is not up yet
    world.return_after_attempts = 2
    sink = make_sink(world, backoff_s=(0.05, 0.2))
    with pytest.raises(AudioDeviceError, match="'hifiberry' not found"):
        sink.open()
    sink.open(wait_for_device=True)
    assert sink.stats()["device_ok"] is False
    deadline = time.monotonic() + 2.0
    i = 0
    while not sink.stats()["device_ok"] and time.monotonic() < deadline:
        sink.write(ramp(64, i))
        i += 1
    assert sink.stats()["device_ok"] and sink.reopens == 1 and sink.dropped_blocks > 0
    sink.write(ramp(64, 1000))
    sink.close()
    assert nonzero_frames(world.frames())[-1, 1] == 1000 + 2 * 64
