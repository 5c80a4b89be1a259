"""The sound card sink: PyAudio (PortAudio over ALSA), opened once, never stopped.

::

    sink = PyAudioSink("sndrpihifiberry", 48000, 2, "int16", block_frames=2048,
                       render_ahead_blocks=3).open()
    sink.write(block)      # blocks while render_ahead_blocks are already queued
    sink.close()

Why it is built this way:

* I2S DACs pop when their bit clock stops, so the stream is opened once and a writer
  thread keeps it fed: the rendered block when one is queued, zeros otherwise (an
  *underrun*, counted once the first block has arrived).
* PyAudio cannot ask for more latency than PortAudio's default low latency; rendering
  ``render_ahead_blocks`` ahead into a bounded queue gives the Pi the slack instead.
  ``write()`` blocks while the queue is full, which paces the render loop in real time.
* Format conversion (float32 -> int16/int32/float32, clipped) happens on the writer
  thread, so the render thread only copies the block into a preallocated slot.
* When the device fails or vanishes (a HAT's loose connector, a USB card pulled), the
  writer closes PortAudio and reopens it with backoff (0.5 s doubling to 10 s) while it
  keeps taking blocks at the real-time rate and dropping them (counted), so the show
  goes on and ``write()`` never raises to the render loop.

Device names (``[audio] device``): an exact PortAudio device name; an ALSA name for a
card (``plughw:CARD=sndrpihifiberry``, ``hw:CARD=sndrpihifiberry,DEV=0``,
``sysdefault:CARD=...``, ``hw:0,0``), matched through /proc/asound/cards to the card's
``(hw:N,D)`` device (``plughw:`` sets PA_ALSA_PLUGHW=1 so PortAudio converts rates);
a PCM defined in asound.conf (``default``, ``severed``); or a substring of any of
these (``sndrpihifiberry``, ``hifiberry``).
"""

import ctypes
import ctypes.util
import logging
import os
import queue
import re
import threading
import time

import numpy as np

from severed.errors import AudioDeviceError
from severed.hardware.sinks import Converter, Sink

log = logging.getLogger("severed.hardware")

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 10.0
_STOP = object()
_PA_OUTPUT_UNDERFLOWED = -9980  # paOutputUnderflowed: ALSA ran dry before this write


def _pyaudio():
    try:
        import pyaudio
    except ImportError as exc:
        raise AudioDeviceError("audio: PyAudio is not installed (apt install python3-pyaudio,"
                               " or pip install pyaudio with portaudio19-dev)") from exc
    return pyaudio


# ALSA and JACK print probing noise on stderr while PortAudio enumerates devices
# ("Unknown PCM cards.pcm.rear", "jack server is not running"); it drowns real errors
# in the journal. Route both libraries' messages to a no-op handler, once. The handlers
# are libffi closures: under the unit's MemoryDenyWriteExecute=yes libffi maps a memfd
# twice (executable, writable) instead of asking for writable+executable memory
# (tests/system/guest/mdwe_probe.py); should a closure still be refused, the noise
# stays and the sound does not depend on it (MemoryError is caught too).
_quiet_handlers = []


def _quiet_native_libraries():
    if _quiet_handlers:
        return
    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    try:
        asound = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
        alsa_handler_t = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int,
                                          ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p)
        handler = alsa_handler_t(lambda *args: None)
        asound.snd_lib_error_set_handler(handler)
        _quiet_handlers.append(handler)
    except (OSError, AttributeError, MemoryError):
        pass
    try:
        jack = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
        jack_handler_t = ctypes.CFUNCTYPE(None, ctypes.c_char_p)
        handler = jack_handler_t(lambda msg: None)
        jack.jack_set_error_function(handler)
        jack.jack_set_info_function(handler)
        _quiet_handlers.append(handler)
    except (OSError, AttributeError, MemoryError):
        pass
    _quiet_handlers.append(None)  # tried, whatever the outcome


def _new_portaudio(pa_factory=None):
    _quiet_native_libraries()
    if pa_factory is None:
        pa_factory = _pyaudio().PyAudio
    try:
        return pa_factory()
    except Exception as exc:  # PortAudio init failures come as plain OSError/IOError
        raise AudioDeviceError(f"audio: PortAudio failed to start: {exc}") from exc


def _devices_of(pa):
    out = []
    for index in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(index)
        if info.get("maxOutputChannels", 0) > 0:
            out.append({"name": info["name"], "index": index,
                        "max_channels": int(info["maxOutputChannels"]),
                        "default_rate": float(info["defaultSampleRate"])})
    return out


def _error_code(exc):
    """The PortAudio error code PyAudio puts in a ValueError's args, or None."""
    return exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None


def list_output_devices(pa_factory=None):
    """Every output device PortAudio sees: [{"name", "index", "max_channels",
    "default_rate"}]. An empty list on a machine without sound."""
    pa = _new_portaudio(pa_factory)
    try:
        return _devices_of(pa)
    finally:
        pa.terminate()


def read_alsa_cards(path="/proc/asound/cards"):
    """{card id: card index} from /proc/asound/cards ({} when there is no sound)."""
    cards = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.match(r"\s*(\d+)\s+\[(\S+)\s*\]", line)
                if m:
                    cards[m.group(2)] = int(m.group(1))
    except OSError:
        pass
    return cards


_ALSA_CARD_NAME = re.compile(
    r"^(?:plughw|hw|sysdefault|front|dmix):(?:CARD=)?(?P<card>[^,]+)(?:,(?:DEV=)?(?P<dev>\d+))?$")


def find_output_device(devices, wanted, cards=None):
    """The entry of ``devices`` (from list_output_devices) that ``wanted`` names.

    Order: exact name; an ALSA card name resolved through ``cards`` ({id: index},
    default /proc/asound/cards) to PortAudio's ``(hw:N,D)`` device; a case-insensitive
    substring of a device name or of a card id. Raises AudioDeviceError listing what
    exists."""
    for dev in devices:
        if dev["name"] == wanted:
            return dev
    cards = read_alsa_cards() if cards is None else cards
    m = _ALSA_CARD_NAME.match(wanted)
    if m:
        card, dev_no = m.group("card"), int(m.group("dev") or 0)
        index = int(card) if card.isdigit() else cards.get(card)
        if index is not None:
            for tag in (f"(hw:{index},{dev_no})", f"(plughw:{index},{dev_no})"):
                for dev in devices:
                    if dev["name"].endswith(tag):
                        return dev
    needle = wanted.lower()
    for dev in devices:
        if needle in dev["name"].lower():
            return dev
    for card_id, index in cards.items():
        if needle in card_id.lower():
            for dev in devices:
                if f"(hw:{index}," in dev["name"] or f"(plughw:{index}," in dev["name"]:
                    return dev
    names = ", ".join(repr(d["name"]) for d in devices) or "none (no sound card found)"
    raise AudioDeviceError(f"audio device {wanted!r} not found; output devices: {names} "
                           f"(see `severed devices`)")


def _card_buffer(stream):
    """", card buffer N ms": PortAudio's output latency, the part of door-to-sound delay
    below the render queue (docs/configuration.md, "Latency"); "" if unknown."""
    try:
        return f", card buffer {float(stream.get_output_latency()) * 1000:.1f} ms"
    except Exception:  # noqa: BLE001 - a stand-in stream, or a device that cannot say
        return ""


class PyAudioSink(Sink):
    """Plays blocks on an ALSA device through PyAudio; see the module docstring.

    ``pa_factory`` (tests) builds the PyAudio-like object; ``backoff_s`` is
    (first, max) delay between reopen attempts. ``realtime_priority`` (1-99): run the
    writer thread under SCHED_FIFO at that priority if the service may
    (``LimitRTPRIO=``); without the right, it logs a warning and runs normally.
    """

    def __init__(self, device="default", sample_rate=48000, channels=2,
                 sample_format="int16", block_frames=2048, render_ahead_blocks=3, *,
                 pa_factory=None, backoff_s=(BACKOFF_START_S, BACKOFF_MAX_S),
                 clock=time.monotonic, realtime_priority=None):
        self.device = device
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.sample_format = sample_format
        self.block_frames = int(block_frames)
        self.render_ahead_blocks = max(1, int(render_ahead_blocks))
        self._pa_factory = pa_factory
        self.realtime_priority = realtime_priority
        self._backoff = backoff_s
        self._clock = clock
        self._block_s = self.block_frames / self.sample_rate
        # Wait this long for a block before feeding the device zeros: short against the
        # device's own buffer (about one block), so the DAC never runs dry waiting.
        self.idle_wait_s = self._block_s / 4
        self._queue = queue.Queue(maxsize=self.render_ahead_blocks)
        # One slot per queued block, one the writer converts, one the renderer fills.
        self._slots = np.zeros((self.render_ahead_blocks + 2, self.block_frames,
                                self.channels), np.float32)
        self._next_slot = 0
        self._stop = threading.Event()
        self._thread = None
        self._pa = None
        self._stream = None
        self._conv = None
        self._zeros = b""
        self._started = False  # a block has arrived: from now on, silence is an underrun
        self.underruns = 0  # zeros written because no block was ready
        self.xruns = 0  # ALSA reported running dry (the writer thread itself was late)
        self.dropped_blocks = 0  # blocks thrown away while the device was gone
        self.reopens = 0
        self._gone_since = None
        self.device_name = None
        self.description = f"ALSA device {device!r} (not open)"

    # ------------------------------------------------------------ open / close

    def open(self, wait_for_device=False):
        """Find and open the device; raises AudioDeviceError naming it if that fails.

        ``wait_for_device``: instead of raising, start without it and keep trying (with
        the usual backoff) while taking and dropping blocks in real time; for a card
        whose driver comes up after the service at boot. ``stats()["device_ok"]`` tells
        when sound really flows."""
        if self._thread is not None:
            return self
        self._stop.clear()
        try:
            self._open_stream()
        except AudioDeviceError as exc:
            if not wait_for_device:
                raise
            log.error("audio: %s; waiting for it (blocks are dropped meanwhile)", exc)
            self._gone_since = self._clock()
        self._thread = threading.Thread(target=self._writer, name="severed-audio-writer",
                                        daemon=True)
        self._thread.start()
        return self

    def _open_stream(self):
        if self.device.startswith("plughw") and os.environ.get("PA_ALSA_PLUGHW") != "1":
            # PortAudio opens hw:N,D devices; this makes it use plughw:N,D, which
            # converts rates and channel counts the card cannot do natively.
            os.environ["PA_ALSA_PLUGHW"] = "1"
        pa = _new_portaudio(self._pa_factory)
        try:
            dev = find_output_device(_devices_of(pa), self.device)
            fmt_name, fmt = self._negotiate(pa, dev)
            stream = pa.open(format=fmt, channels=self.channels, rate=self.sample_rate,
                             output=True, output_device_index=dev["index"],
                             frames_per_buffer=self.block_frames)
        except AudioDeviceError:
            pa.terminate()
            raise
        except Exception as exc:
            pa.terminate()
            raise AudioDeviceError(f"audio device {self.device!r}: cannot open at "
                                   f"{self.sample_rate} Hz, {self.channels} ch: {exc}") from exc
        self._pa, self._stream = pa, stream
        if self._conv is None or self._conv.sample_format != fmt_name:
            self._conv = Converter(fmt_name, self.channels, self.block_frames)
            self._zeros = bytes(self.block_frames * self.channels
                                * self._conv.bytes_per_sample)
        self.device_name = dev["name"]
        self.description = (f"{dev['name']} ({fmt_name}, {self.sample_rate} Hz, "
                            f"{self.channels} ch, blocks of {self.block_frames}, "
                            f"{self.render_ahead_blocks} ahead{_card_buffer(stream)})")

    def _negotiate(self, pa, dev):
        if self.channels > dev["max_channels"]:
            raise AudioDeviceError(f"audio device {dev['name']!r} has {dev['max_channels']} "
                                   f"output channels; {self.channels} wanted")
        pyaudio = _pyaudio()
        codes = {"int16": pyaudio.paInt16, "int32": pyaudio.paInt32,
                 "float32": pyaudio.paFloat32}
        order = [self.sample_format] + [f for f in ("int32", "int16", "float32")
                                        if f != self.sample_format]
        for name in order:
            try:
                pa.is_format_supported(self.sample_rate, output_device=dev["index"],
                                       output_channels=self.channels,
                                       output_format=codes[name])
            except ValueError as exc:
                if _error_code(exc) == pyaudio.paDeviceUnavailable:
                    # Busy (a previous severed not yet gone, another program): the
                    # format is not the problem, so wait and reopen in the wanted
                    # format rather than settle for another one.
                    raise AudioDeviceError(
                        f"audio device {dev['name']!r} is busy: another program holds "
                        f"it (see: fuser -v /dev/snd/*)") from exc
                continue
            if name != self.sample_format:
                log.warning("audio: %s does not take %s samples; using %s", dev["name"],
                            self.sample_format, name)
            return name, codes[name]
        raise AudioDeviceError(
            f"audio device {dev['name']!r} does not support {self.sample_rate} Hz with "
            f"{self.channels} ch (its default rate is {dev['default_rate']:g} Hz); set "
            f"[audio] sample_rate, or use a plughw: or default device that converts")

    def _close_stream(self):
        stream, pa = self._stream, self._pa
        self._stream = self._pa = None
        for action in (getattr(stream, "stop_stream", None), getattr(stream, "close", None),
                       getattr(pa, "terminate", None)):
            if action is None:
                continue
            try:
                action()
            except Exception as exc:  # a vanished device fails its close as well
                log.debug("audio: while closing %s: %s", self.device, exc)

    def close(self):
        """Play out what is queued, then stop the writer and release the device."""
        if self._thread is None:
            return
        deadline = self._clock() + (self.render_ahead_blocks + 2) * self._block_s + 2.0
        while True:
            try:
                self._queue.put(_STOP, timeout=0.1)
                break
            except queue.Full:
                if not self._thread.is_alive() or self._clock() > deadline:
                    break
        self._thread.join(timeout=max(0.0, deadline - self._clock()) + 1.0)
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._thread = None
        log.info("audio: closed %s (underruns %d, xruns %d, dropped %d, reopens %d)",
                 self.device_name or self.device, self.underruns, self.xruns,
                 self.dropped_blocks, self.reopens)

    # ------------------------------------------------------------ render side

    def write(self, block):
        """Queue one block (float32, (frames, channels), frames <= block_frames).

        Blocks while render_ahead_blocks are queued; never raises for device trouble."""
        if self._thread is None:
            self.dropped_blocks += 1
            return
        frames = len(block)
        if frames > self.block_frames:
            raise AudioDeviceError(f"audio device {self.device!r}: block of {frames} "
                                   f"frames, more than block_frames={self.block_frames}")
        slot = self._next_slot
        self._next_slot = (slot + 1) % len(self._slots)
        self._slots[slot, :frames] = block
        item = (slot, frames)
        while True:
            try:
                self._queue.put(item, timeout=1.0)
                return
            except queue.Full:
                if not self._thread.is_alive():  # cannot happen unless a bug killed it
                    self.dropped_blocks += 1
                    return

    def stats(self):
        return {"underruns": self.underruns, "xruns": self.xruns,
                "dropped_blocks": self.dropped_blocks, "reopens": self.reopens,
                "device_ok": self._stream is not None}

    # ------------------------------------------------------------ writer thread

    def _raise_priority(self):
        if not self.realtime_priority:
            return
        try:
            # pid 0 is the calling thread on Linux: only the writer is raised.
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.realtime_priority))
            log.info("audio: writer thread at real-time priority %d", self.realtime_priority)
        except (OSError, AttributeError) as exc:
            log.warning("audio: cannot raise the writer thread to real-time priority %d "
                        "(%s); allow it with LimitRTPRIO= in the service",
                        self.realtime_priority, exc)

    def _writer(self):
        self._raise_priority()
        while True:
            try:
                if self._stream is None:
                    if self._while_gone():
                        break
                    continue
                if self._feed_device():
                    break
            except Exception:  # a bug here must not silence the installation
                log.exception("audio: writer thread error on %s", self.device)
                self._stop.wait(self._block_s)
        self._close_stream()

    def _feed_device(self):
        """Write one block or one block of zeros. True when asked to stop."""
        try:
            item = self._queue.get(timeout=self.idle_wait_s)
        except queue.Empty:
            data, frames, real = self._zeros, self.block_frames, False
            if self._started:
                self.underruns += 1
        else:
            real = True
            if item is _STOP:
                return True
            self._started = True
            slot, frames = item
            data = self._conv.convert(self._slots[slot, :frames]).tobytes()
        try:
            self._stream.write(data, frames, exception_on_underflow=True)
        except Exception as exc:
            if getattr(exc, "errno", None) == _PA_OUTPUT_UNDERFLOWED or \
                    (exc.args and exc.args[0] == _PA_OUTPUT_UNDERFLOWED):
                self.xruns += 1  # the samples were still written
                return False
            log.error("audio: device %s failed (%s); reopening with backoff",
                      self.device_name or self.device, exc)
            if real:
                self.dropped_blocks += 1
            self._close_stream()
            self._gone_since = self._clock()
        return False

    def _while_gone(self):
        """Drop blocks at the real-time rate and try to reopen with backoff.

        True when asked to stop."""
        backoff = self._backoff[0]
        next_try = self._clock() + backoff
        next_drop = self._clock() + self._block_s
        while not self._stop.is_set():
            now = self._clock()
            if now >= next_drop:
                next_drop = max(next_drop + self._block_s, now - 1.0)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    pass
                else:
                    if item is _STOP:
                        return True
                    self.dropped_blocks += 1
            if now >= next_try:
                try:
                    self._open_stream()
                except AudioDeviceError as exc:
                    backoff = min(backoff * 2, self._backoff[1])
                    next_try = self._clock() + backoff
                    log.debug("audio: reopen of %s failed (%s); next try in %.1f s",
                              self.device, exc, backoff)
                else:
                    self.reopens += 1
                    log.warning("audio: %s is back after %.1f s (%d blocks dropped so far)",
                                self.device_name, self._clock() - self._gone_since,
                                self.dropped_blocks)
                    return False
            self._stop.wait(max(0.0, min(next_try, next_drop) - self._clock()))
        return True
