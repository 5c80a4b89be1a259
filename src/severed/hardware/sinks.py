"""Where rendered blocks go: nowhere, a WAV file, or a sound card.

Every sink has the same small interface, and is a context manager::

    with open_sink(site.audio, fallback_wav_path="/var/cache/severed/fallback.wav") as sink:
        sink.write(block)          # float32, shape (frames, channels), -1..1
        sink.underruns             # blocks of silence the device got because we were late
        sink.description           # one line for logs and `severed doctor`

``open_sink`` reads ``[audio] device``: ``"null"`` -> :class:`NullSink`, ``"wav:PATH"``
-> :class:`WavSink`, anything else is an ALSA device name for
:class:`~severed.hardware.pyaudio_sink.PyAudioSink`. A live daemon wants every sink paced
in real time (``realtime=True``, the default of ``open_sink``) so that a null or WAV
sink does not spin a core or fill the disk; the offline renderer wants them unpaced.
"""

import logging
import os
import struct
import threading
import time

import numpy as np

from severed.errors import AudioDeviceError

log = logging.getLogger("severed.hardware")

SAMPLE_FORMATS = ("int16", "int32", "float32")
_INT_SCALE = {"int16": 32767.0, "int32": 2147483647.0}
_DTYPES = {"int16": np.int16, "int32": np.int32, "float32": np.float32}


class Converter:
    """float32 blocks to a device sample format, clipped to -1..1, into reused buffers.

    Integers are ``rint(clip(x, -1, 1) * (2**(bits-1) - 1))``: symmetric, so -1.0 and
    1.0 have the same magnitude. The work happens in float64 so that 32-bit values
    are exact.
    """

    def __init__(self, sample_format, channels, max_frames=2048):
        if sample_format not in _DTYPES:
            raise AudioDeviceError(f"sample_format {sample_format!r}: expected one of "
                                   f"{', '.join(SAMPLE_FORMATS)}")
        self.sample_format = sample_format
        self.channels = channels
        self.bytes_per_sample = np.dtype(_DTYPES[sample_format]).itemsize
        self._alloc(max_frames)

    def _alloc(self, frames):
        self._work = np.zeros((frames, self.channels), np.float64)
        self._out = np.zeros((frames, self.channels), _DTYPES[self.sample_format])

    def convert(self, block):
        """Return the converted block: a view into a buffer reused by the next call."""
        frames = len(block)
        if frames > len(self._out):
            self._alloc(frames)
        out = self._out[:frames]
        if self.sample_format == "float32":
            np.clip(block, -1.0, 1.0, out=out)
            return out
        work = self._work[:frames]
        np.clip(block, -1.0, 1.0, out=work)
        np.multiply(work, _INT_SCALE[self.sample_format], out=work)
        np.rint(work, out=work)
        out[...] = work
        return out


class Pacer:
    """Makes writes take real time: blocks the writer until the audio written so far is
    due, like a sound card would. ``ahead_s`` is how far ahead of real time it may run.
    """

    def __init__(self, sample_rate, ahead_s=0.1, clock=time.monotonic):
        self.sample_rate = sample_rate
        self.ahead_s = ahead_s
        self.clock = clock
        self._wake = threading.Event()  # set only to cut waits short on close
        self._start = None
        self._frames = 0

    def wait(self, frames):
        now = self.clock()
        if self._start is None or now - self._due() > 1.0:
            # First block, or more than a second late (suspend, debugger): restart the
            # schedule rather than rushing to catch up.
            self._start, self._frames = now, 0
        self._frames += frames
        delay = self._due() - self.ahead_s - now
        if delay > 0:
            self._wake.wait(delay)

    def _due(self):
        return self._start + self._frames / self.sample_rate

    def cancel(self):
        self._wake.set()


class Sink:
    """Base of the sinks: the context manager and the counters every sink has."""

    underruns = 0
    description = "sink"

    def open(self):
        return self

    def write(self, block):
        raise NotImplementedError

    def close(self):
        pass

    def stats(self):
        """Counters for status displays: {"underruns": n, ...}."""
        return {"underruns": self.underruns}

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()


class NullSink(Sink):
    """Discards every block (benchmarks, a daemon with no speaker on purpose)."""

    def __init__(self, sample_rate=48000, realtime=False):
        self._pacer = Pacer(sample_rate) if realtime else None
        self.frames_written = 0
        self.description = "null (discards audio" + (", paced in real time)" if realtime
                                                     else ")")

    def write(self, block):
        self.frames_written += len(block)
        if self._pacer is not None:
            self._pacer.wait(len(block))

    def close(self):
        if self._pacer is not None:
            self._pacer.cancel()


class WavSink(Sink):
    """A WAV file written block by block; the header's sizes are fixed on close.

    ``sample_format``: ``"int16"`` / ``"int32"`` (PCM) or ``"float32"``
    (WAVE_FORMAT_IEEE_FLOAT, with the ``fact`` chunk that format asks for). A file that
    was never closed (power cut) still holds its samples; only the sizes are wrong.
    """

    def __init__(self, path, sample_rate=48000, channels=2, sample_format="int16",
                 realtime=False):
        self.path = str(path)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self._conv = Converter(sample_format, self.channels)
        self.sample_format = sample_format
        self._pacer = Pacer(sample_rate) if realtime else None
        self._file = None
        self.frames_written = 0
        self.description = (f"WAV file {self.path} ({sample_format}, {self.sample_rate} Hz, "
                            f"{self.channels} ch)")

    def open(self):
        if self._file is not None:
            return self
        try:
            self._file = open(self.path, "wb")
        except OSError as exc:
            raise AudioDeviceError(f"WAV sink {self.path}: cannot open for writing: "
                                   f"{exc.strerror or exc}") from exc
        self._file.write(self._header(0))
        return self

    def _header(self, frames):
        bps = self._conv.bytes_per_sample
        block_align = bps * self.channels
        data_bytes = frames * block_align
        is_float = self.sample_format == "float32"
        fmt = struct.pack("<HHIIHH", 3 if is_float else 1, self.channels, self.sample_rate,
                          self.sample_rate * block_align, block_align, bps * 8)
        if is_float:
            fmt += struct.pack("<H", 0)  # cbSize: non-PCM formats carry it
            extra = b"fact" + struct.pack("<II", 4, frames)
        else:
            extra = b""
        chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
        riff_size = 4 + len(chunks) + 8 + data_bytes
        return (b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + chunks + b"data"
                + struct.pack("<I", data_bytes))

    def write(self, block):
        if self._file is None:
            self.open()
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise AudioDeviceError(f"WAV sink {self.path}: block of shape {block.shape}, "
                                   f"expected (frames, {self.channels})")
        try:
            self._file.write(self._conv.convert(block).tobytes())
        except OSError as exc:
            raise AudioDeviceError(f"WAV sink {self.path}: write failed: "
                                   f"{exc.strerror or exc}") from exc
        self.frames_written += len(block)
        if self._pacer is not None:
            self._pacer.wait(len(block))

    def close(self):
        if self._pacer is not None:
            self._pacer.cancel()
        if self._file is None:
            return
        f, self._file = self._file, None
        try:
            f.seek(0)
            f.write(self._header(self.frames_written))
        finally:
            f.close()


def open_sink(audio_config, fallback_wav_path=None, realtime=True, realtime_priority=None,
              wait_for_device=False):
    """The sink ``[audio] device`` asks for, opened.

    ``audio_config``: ``severed.config.model.AudioConfig``. When the device is an ALSA
    name but this machine has no output device at all (a laptop without sound, a
    container) and ``fallback_wav_path`` is given, a WavSink there is returned instead,
    with a warning in the log saying so. Any other device problem raises
    AudioDeviceError naming the device, unless ``wait_for_device`` (see
    PyAudioSink.open). ``realtime_priority``: see PyAudioSink.
    """
    device = audio_config.device
    rate, channels = audio_config.sample_rate, audio_config.channels
    if device == "null":
        return NullSink(rate, realtime=realtime).open()
    if device.startswith("wav:"):
        return WavSink(device[4:], rate, channels, audio_config.sample_format,
                       realtime=realtime).open()
    from severed.hardware import pyaudio_sink

    if fallback_wav_path is not None:
        try:
            devices = pyaudio_sink.list_output_devices()
        except AudioDeviceError as exc:
            devices = []
            log.warning("audio: cannot list output devices: %s", exc)
        if not devices:
            log.warning("audio: no output device on this machine (wanted %r); writing to "
                        "WAV file %s instead", device, fallback_wav_path)
            os.makedirs(os.path.dirname(os.path.abspath(fallback_wav_path)), exist_ok=True)
            return WavSink(fallback_wav_path, rate, channels, audio_config.sample_format,
                           realtime=realtime).open()
    sink = pyaudio_sink.PyAudioSink(
        device, rate, channels, audio_config.sample_format, audio_config.block_frames,
        audio_config.render_ahead_blocks, realtime_priority=realtime_priority)
    return sink.open(wait_for_device=wait_for_device)
