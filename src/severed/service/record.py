"""Recording what the daemon plays into a WAV file (``severed record 10 take.wav``).

The recorder taps the render loop: on the render thread each block is copied into a
buffer sized once for the whole take (a memcpy, nothing else), and a writer thread
saves the WAV when it is full. The file is written by the daemon, as the daemon's
user, so the path must be one the daemon may write: with the shipped unit
(``ProtectSystem=strict``, ``PrivateTmp=yes``) that is under ``/var/lib/severed``;
``check_output_path`` says so before anything is recorded.

    recording = Recording(loop, "/var/lib/severed/recordings/take.wav", seconds=10)
    recording.start()
    ...
    recording.info()   # {"state": "done", "path": ..., "seconds": 10.0, ...}
"""

import logging
import os
import threading
import wave

log = logging.getLogger(__name__)

# Where the service puts a take given by a bare name (the unit's StateDirectory).
RECORDINGS_DIR = "/var/lib/severed/recordings"

MAX_SECONDS = 120.0  # 46 MiB of float32 stereo at 48 kHz: the Pi Zero has 512 MB
STALL_S = 5.0  # no block for this long: the render loop has stopped


# Free space a take must leave on its file system: the journal, the event log and the
# crash record live there too (a group member must not fill the SD card by recording).
KEEP_FREE_BYTES = 64 * 1024 * 1024
MAX_PATH_BYTES = 1024


def wav_bytes(seconds, sample_rate, channels):
    """Size of a 16-bit take on disk (header included)."""
    return int(round(seconds * sample_rate)) * channels * 2 + 44


def check_output_path(path, needed_bytes=0):
    """Why the daemon cannot write a WAV at ``path``, or None if it can.

    ``needed_bytes``: the size of the take, which must fit with KEEP_FREE_BYTES to spare.
    """
    if not isinstance(path, str) or not path:
        return "give a file name ending in .wav"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        return f"{path!r}: control characters (a NUL byte, a newline) are not allowed"
    if len(path.encode(errors="surrogateescape")) > MAX_PATH_BYTES:
        return f"{path[:60]}...: longer than {MAX_PATH_BYTES} bytes"
    if len(os.path.basename(path).encode(errors="surrogateescape")) > 255:
        return f"{os.path.basename(path)[:60]}...: a file name has at most 255 bytes"
    if not os.path.isabs(path):
        return f"{path}: give an absolute path (the daemon does not know your directory)"
    if not path.lower().endswith(".wav"):
        return f"{path}: the file name must end in .wav"
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        return f"{path}: no directory {directory} (as the daemon sees the file system)"
    if not os.access(directory, os.W_OK):
        return (f"{path}: the daemon's user cannot write in {directory}; record under "
                f"/var/lib/severed/recordings instead")
    if os.path.lexists(path) and (os.path.islink(path) or not os.path.isfile(path)):
        return f"{path}: exists and is not a plain file"
    if needed_bytes:
        try:
            fs = os.statvfs(directory)
        except OSError as exc:
            return f"{path}: cannot tell the free space in {directory}: {exc.strerror}"
        free = fs.f_bavail * fs.f_frsize
        if free < needed_bytes + KEEP_FREE_BYTES:
            return (f"{path}: not enough free space in {directory}: {_mib(free)} free, "
                    f"the take needs {_mib(needed_bytes)} and {_mib(KEEP_FREE_BYTES)} "
                    f"must stay free; record less or delete old takes")
    return None


def _mib(n):
    return f"{n / 1048576:.1f} MiB"


class Recording:
    """One take of ``seconds`` from ``loop`` (anything with add_tap/remove_tap,
    sample_rate and channels) into a 16-bit WAV at ``path``."""

    def __init__(self, loop, path, seconds):
        if not 0 < seconds <= MAX_SECONDS:
            raise ValueError(f"seconds must be within 0..{MAX_SECONDS:g}, not {seconds}")
        self.loop = loop
        self.path = path
        self.seconds = float(seconds)
        self.sample_rate = int(loop.sample_rate)
        self.frames = int(round(self.seconds * self.sample_rate))
        import numpy as np  # here, so that the CLI imports this module without numpy

        self._buffer = np.zeros((self.frames, int(loop.channels)), dtype=np.float32)
        self._filled = 0
        self._full = threading.Event()
        self._thread = None
        self.state = "idle"
        self.error = None
        # One bound method, kept: the loop may remove taps by identity.
        self._tap_fn = self._tap

    # Runs on the render thread: copy and return, nothing more.
    def _tap(self, block):
        if self._filled >= self.frames:
            return
        n = min(len(block), self.frames - self._filled)
        self._buffer[self._filled:self._filled + n] = block[:n]
        self._filled += n
        if self._filled >= self.frames:
            self._full.set()

    def start(self):
        self.state = "recording"
        self.loop.add_tap(self._tap_fn)
        self._thread = threading.Thread(target=self._finish, name="severed-record",
                                        daemon=True)
        self._thread.start()

    def _finish(self):
        try:
            self._take()
        except Exception as exc:  # noqa: BLE001 - a take must end, whatever happened
            self._fail(f"{type(exc).__name__}: {exc}")
            log.exception("recording %s failed", self.path)
        finally:
            if self.state == "recording":  # never left "recording" for ever
                self._fail("the recorder stopped without finishing the take")
            self._buffer = None  # give the memory back now, not at the next take

    def _fail(self, error):
        self.state, self.error = "failed", error

    def _take(self):
        # Wait as long as blocks keep coming, however slowly (a loaded or emulated
        # machine renders slower than real time); give up only when none arrives for
        # STALL_S, so a loop that stops rendering does not keep the tap forever.
        filled = -1
        try:
            while not self._full.wait(STALL_S):
                if self._filled == filled:
                    break
                filled = self._filled
        finally:
            self.loop.remove_tap(self._tap_fn)
        if not self._full.is_set():
            self._fail(f"no sound from the render loop for {STALL_S:g} s (after "
                       f"{self._filled / self.sample_rate:.1f} s of the take): see "
                       f"severed logs")
            log.error("recording %s failed: %s", self.path, self.error)
            return
        try:
            write_wav(self.path, self._buffer, self.sample_rate)
        except (OSError, ValueError) as exc:
            self._fail(f"cannot write {self.path}: {getattr(exc, 'strerror', None) or exc}")
            log.error("recording failed: %s", self.error)
        else:
            self.state = "done"
            log.info("recorded %.1f s into %s", self.seconds, self.path)

    @property
    def active(self):
        """Still taking: recording, with a live writer thread."""
        return self.state == "recording" and self._thread is not None \
            and self._thread.is_alive()

    def wait(self, timeout_s=None):
        if self._thread is not None:
            self._thread.join(timeout_s)

    def info(self):
        return {"state": self.state, "path": self.path, "seconds": self.seconds,
                "recorded_s": round(self._filled / self.sample_rate, 3),
                **({"error": self.error} if self.error else {})}


def write_wav(path, block, sample_rate):
    """Save float32 ``block`` (frames, channels) as 16-bit PCM, atomically."""
    import numpy as np

    pcm = np.clip(np.round(block * 32767.0), -32768, 32767).astype("<i2")
    tmp = f"{path}.part"
    try:
        with wave.open(tmp, "wb") as w:
            w.setnchannels(block.shape[1])
            w.setsampwidth(2)
            w.setframerate(sample_rate)
            w.writeframes(pcm.tobytes())
        os.chmod(tmp, 0o644)  # the technician who asked must be able to read it
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
