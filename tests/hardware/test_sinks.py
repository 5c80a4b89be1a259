"""NullSink, WavSink, the sample converter and open_sink."""

import logging
import struct
import time
import wave

import numpy as np
import pytest
from scipy.io import wavfile

from severed.config.model import AudioConfig
from severed.errors import AudioDeviceError
from severed.hardware import pyaudio_sink
from severed.hardware.sinks import Converter, NullSink, WavSink, open_sink


def sine_block(frames, channels=2, amp=0.5, freq_hz=441.0, rate=48000, start=0):
    t = (np.arange(frames) + start) / rate
    block = np.empty((frames, channels), np.float32)
    for ch in range(channels):
        block[:, ch] = amp * np.sin(2 * np.pi * freq_hz * (ch + 1) * t)
    return block


def test_converter_int16_is_symmetric_rounded_and_clipped():
    conv = Converter("int16", 1, 8)
    x = np.array([[0.0], [1.0], [-1.0], [2.0], [-3.0], [0.5], [1 / 32767 * 0.6], [-0.25]],
                 np.float32)
    assert conv.convert(x)[:, 0].tolist() == [0, 32767, -32767, 32767, -32767, 16384, 1,
                                              -8192]


def test_converter_int32_is_exact_at_full_scale():
    conv = Converter("int32", 2, 4)
    x = np.array([[1.0, -1.0], [0.5, 5.0]], np.float32)
    assert conv.convert(x).tolist() == [[2147483647, -2147483647],
                                        [1073741824, 2147483647]]


def test_converter_float32_clips_and_grows_for_longer_blocks():
    conv = Converter("float32", 2, 2)
    x = np.full((5, 2), 1.5, np.float32)
    out = conv.convert(x)
    assert out.shape == (5, 2) and out.dtype == np.float32 and np.all(out == 1.0)


def test_converter_refuses_unknown_format():
    with pytest.raises(AudioDeviceError, match="int24"):
        Converter("int24", 2)


def test_wav_int16_round_trip(tmp_path):
    path = tmp_path / "out.wav"
    blocks = [sine_block(1000, start=i * 1000) for i in range(5)]
    with WavSink(path, 48000, 2, "int16") as sink:
        for b in blocks:
            sink.write(b)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (
            2, 2, 48000, 5000)
        data = np.frombuffer(w.readframes(5000), np.int16).reshape(-1, 2)
    expected = np.rint(np.concatenate(blocks).astype(np.float64) * 32767)
    assert np.array_equal(data, expected.astype(np.int16))


def test_wav_float32_is_ieee_float_with_fact_chunk(tmp_path):
    path = tmp_path / "out.wav"
    block = sine_block(4800, channels=1, amp=0.9)
    with WavSink(path, 44100, 1, "float32") as sink:
        sink.write(block)
        sink.write(block)
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and struct.unpack("<I", raw[4:8])[0] == len(raw) - 8
    fmt_tag, channels, rate = struct.unpack("<HHI", raw[20:28])
    assert (fmt_tag, channels, rate) == (3, 1, 44100)
    assert b"fact" in raw[:64]
    fact = raw.index(b"fact")
    assert struct.unpack("<I", raw[fact + 8:fact + 12])[0] == 9600
    rate, data = wavfile.read(path)
    assert rate == 44100 and data.dtype == np.float32
    assert np.array_equal(data, np.concatenate([block[:, 0], block[:, 0]]))


def test_wav_int32_reads_back(tmp_path):
    path = tmp_path / "out.wav"
    block = sine_block(256)
    with WavSink(path, 48000, 2, "int32") as sink:
        sink.write(block)
    rate, data = wavfile.read(path)
    assert data.dtype == np.int32
    assert np.array_equal(data, np.rint(block.astype(np.float64) * 2147483647).astype(np.int32))


def test_wav_holds_samples_before_close(tmp_path):
    # Written incrementally: a power cut leaves the samples on disk.
    path = tmp_path / "out.wav"
    sink = WavSink(path, 48000, 2).open()
    sink.write(sine_block(100))
    sink._file.flush()
    assert path.stat().st_size == 44 + 100 * 4
    sink.close()
    sink.close()  # twice is harmless


def test_wav_refuses_wrong_channel_count(tmp_path):
    with WavSink(tmp_path / "x.wav", 48000, 2) as sink:
        with pytest.raises(AudioDeviceError, match="x.wav"):
            sink.write(np.zeros((10, 1), np.float32))


def test_wav_unwritable_path_names_it(tmp_path):
    with pytest.raises(AudioDeviceError, match="nodir"):
        WavSink(tmp_path / "nodir" / "x.wav").open()


def test_null_sink_paced_in_real_time_takes_the_audio_duration():
    sink = NullSink(48000, realtime=True)
    sink._pacer.ahead_s = 0.0
    start = time.monotonic()
    for _ in range(10):
        sink.write(np.zeros((960, 2), np.float32))  # 20 ms each
    elapsed = time.monotonic() - start
    assert sink.frames_written == 9600
    assert 0.17 <= elapsed < 0.5  # 200 ms of audio, the first block not waited for


def test_null_sink_unpaced_is_fast():
    sink = NullSink()
    start = time.monotonic()
    for _ in range(1000):
        sink.write(np.zeros((2048, 2), np.float32))
    assert time.monotonic() - start < 0.5


def test_open_sink_null_and_wav(tmp_path):
    assert isinstance(open_sink(AudioConfig(device="null"), realtime=False), NullSink)
    sink = open_sink(AudioConfig(device=f"wav:{tmp_path}/a.wav", sample_format="float32"),
                     realtime=False)
    assert isinstance(sink, WavSink) and sink.sample_format == "float32"
    sink.close()
    assert wavfile.read(tmp_path / "a.wav")[1].shape == (0, 2)


def test_open_sink_falls_back_to_wav_without_any_device(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(pyaudio_sink, "list_output_devices", lambda: [])
    with caplog.at_level(logging.WARNING, logger="severed.hardware"):
        sink = open_sink(AudioConfig(device="sndrpihifiberry"),
                         fallback_wav_path=str(tmp_path / "fb" / "out.wav"), realtime=False)
    assert isinstance(sink, WavSink) and sink.path.endswith("out.wav")
    assert "no output device" in caplog.text and "sndrpihifiberry" in caplog.text
    sink.close()
