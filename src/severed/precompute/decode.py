"""Reading audio files into float32 frames: WAV natively, FLAC and OGG through a helper.

    source, rate = open_audio("/srv/stems/waiting_room.flac")
    block = source[0:4096]      # float32 (frames, channels), full scale 1.0

WAV files are parsed here (RIFF chunks, the ``fmt`` chunk including
WAVE_FORMAT_EXTENSIBLE) and their sample data read slice by slice, so a long file is
converted block by block instead of being read whole (the stdlib ``wave`` module reads plain PCM
only, and whole). Supported: 8-bit unsigned, 16/24/32-bit signed PCM, 32/64-bit IEEE
float, in plain or extensible headers, any channel count and rate.

FLAC, OGG and anything else go through the ``soundfile`` package when it is importable,
else through the ``sox`` or ``ffmpeg`` command (decoded into a temporary 32-bit float
WAV in ``work_dir``, then read as above). With none of them, a CacheError says which to
install. Every error names the file.
"""

import os
import shutil
import struct
import subprocess
import tempfile

import numpy as np

from severed.errors import CacheError

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
WAV_SUFFIXES = (".wav", ".wave")
# What a real audio file may say; a damaged header saying 4 GHz would have the
# resampler build a filter of billions of taps.
MIN_RATE, MAX_RATE = 1000, 768000
MAX_CHANNELS = 64
INSTALL_HINT = ("install python3-soundfile (apt install python3-soundfile) or sox "
                "(apt install sox libsox-fmt-all)")


class PcmView:
    """Sample data of a WAV file as float32 frames, converted slice by slice."""

    def __init__(self, raw, channels, fmt, bits):
        """``raw``: uint8 bytes of whole frames (an array or ``FileBytes``); ``fmt``: "int", "uint8" or
        "float"; ``bits``: container bits per sample."""
        self.channels = channels
        self.width = bits // 8
        self.frames = len(raw) // (self.width * channels)
        self.shape = (self.frames, channels)
        self._raw = raw
        self._fmt = fmt
        self._bits = bits

    def __len__(self):
        return self.frames

    def __getitem__(self, index):
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("PcmView takes a plain slice of frames")
        start, stop, _ = index.indices(self.frames)
        stop = max(stop, start)
        b = self._raw[start * self.width * self.channels: stop * self.width * self.channels]
        n = stop - start
        if self._fmt == "float":
            a = b.view("<f4" if self._bits == 32 else "<f8").astype(np.float32)
        elif self._fmt == "uint8":
            a = (b.astype(np.float32) - 128.0) / 128.0
        elif self._bits == 24:
            t = b.reshape(-1, 3).astype(np.int32)
            v = t[:, 0] | (t[:, 1] << 8) | (t[:, 2] << 16)
            v = (v << 8) >> 8  # sign-extend from 24 bits
            a = v.astype(np.float32) / np.float32(2 ** 23)
        else:
            a = b.view(f"<i{self.width}").astype(np.float32) / np.float32(2.0 ** (self._bits - 1))
        return a.reshape(n, self.channels)

    def read(self):
        """Every frame as one float32 array."""
        return self[0:self.frames]


def open_audio(path, work_dir=None):
    """(source, sample_rate) of an audio file; ``source`` behaves like a float32
    (frames, channels) array that converts on slicing. CacheError naming ``path`` when
    the file is missing, unreadable or of a kind nothing here can decode."""
    if not os.path.isfile(path):
        raise CacheError(f"{path}: no such audio file")
    with open(path, "rb") as f:
        head = f.read(12)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return open_wav(path)
    if path.lower().endswith(WAV_SUFFIXES):
        raise CacheError(f"{path}: not a WAV file (no RIFF/WAVE header; "
                         f"{'RF64 is not supported' if head[:4] == b'RF64' else 'damaged?'})")
    return _decode_with_helper(path, work_dir)


def probe(path, work_dir=None):
    """(frames, channels, sample_rate) of an audio file from its header, without
    converting it: a WAV's header is parsed here; other kinds are asked of soundfile,
    else decoded by sox or ffmpeg into a temporary file (as ``open_audio`` does). A
    CacheError names the file when it is missing, empty, damaged, holds no audio, or is
    of a kind nothing here can decode."""
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        raise CacheError(f"{path}: no such audio file") from None
    except OSError as exc:
        raise CacheError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if not os.path.isfile(path):
        raise CacheError(f"{path}: not a file")
    if size == 0:
        raise CacheError(f"{path}: the file is empty (0 bytes)")
    try:
        import soundfile
    except ImportError:  # optional, as in _decode_with_helper
        soundfile = None
    if soundfile is not None and not _is_riff(path):
        try:
            info = soundfile.info(path)
        except Exception as exc:  # soundfile raises its own error types
            raise CacheError(f"{path}: cannot decode: {exc}") from None
        if info.frames < 1:
            raise CacheError(f"{path}: holds no audio frames")
        check_format(path, int(info.channels), int(info.samplerate))
        return int(info.frames), int(info.channels), int(info.samplerate)
    source, rate = open_audio(path, work_dir)
    return int(source.shape[0]), int(source.shape[1]), int(rate)


def check_format(path, channels, rate):
    """CacheError naming ``path`` when its channels or rate are not of a real file."""
    if not 1 <= channels <= MAX_CHANNELS or not MIN_RATE <= rate <= MAX_RATE:
        raise CacheError(f"{path}: says {channels} channels at {rate} Hz (damaged?)")


def _is_riff(path):
    with open(path, "rb") as f:
        head = f.read(12)
    return head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def open_wav(path):
    """(PcmView, sample_rate) of a RIFF WAV file."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(12)
        fmt = data = None
        while True:
            header = f.read(8)
            if len(header) < 8:
                break
            cid, csize = struct.unpack("<4sI", header)
            start = f.tell()
            if cid == b"fmt ":
                fmt = _parse_fmt(f.read(csize), path)
            elif cid == b"data":
                data = (start, csize)
                if fmt is not None:
                    break
            f.seek(start + csize + (csize & 1))
    if fmt is None:
        raise CacheError(f"{path}: WAV file without a fmt chunk (damaged?)")
    if data is None:
        raise CacheError(f"{path}: WAV file without a data chunk (damaged or empty?)")
    channels, rate, kind, bits = fmt
    offset, length = data
    # A streamed WAV may say 0 or 0xFFFFFFFF; a truncated one more than is there.
    available = size - offset
    if length == 0 or length > available:
        length = available
    block = channels * bits // 8
    frames = length // block
    if frames == 0:
        raise CacheError(f"{path}: WAV file holds no audio frames")
    return PcmView(FileBytes(path, offset, frames * block), channels, kind, bits), rate


class FileBytes:
    """A byte range of a file, read slice by slice (``pread``) into new arrays.

    Not a memory map: converting a long stem then holds only the slice at hand, where
    the mapped pages of the whole file would count against the process (a 1 GB WAV was
    1 GB of resident memory by the end). The open descriptor keeps the data readable
    after the file's name is gone (a helper's temporary output)."""

    def __init__(self, path, offset, length):
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._offset = offset
        self._length = length

    def __len__(self):
        return self._length

    def __getitem__(self, index):
        start, stop, _ = index.indices(self._length)
        n = max(0, stop - start)
        data = os.pread(self._fd, n, self._offset + start)
        if len(data) < n:  # the file was cut short since its header was read
            data += bytes(n - len(data))
        return np.frombuffer(data, np.uint8)

    def __del__(self):
        fd, self._fd = getattr(self, "_fd", None), None
        if fd is not None:
            os.close(fd)


def _parse_fmt(body, path):
    if len(body) < 16:
        raise CacheError(f"{path}: WAV fmt chunk too short ({len(body)} bytes)")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == WAVE_FORMAT_EXTENSIBLE:
        if len(body) < 40:
            raise CacheError(f"{path}: WAVE_FORMAT_EXTENSIBLE fmt chunk too short")
        tag = struct.unpack("<H", body[24:26])[0]  # first two bytes of the sub-format GUID
    if not 1 <= channels <= MAX_CHANNELS or not MIN_RATE <= rate <= MAX_RATE:
        raise CacheError(f"{path}: WAV header says {channels} channels at {rate} Hz "
                         "(damaged?)")
    if block_align and bits and block_align != channels * bits // 8:
        bits = 8 * block_align // channels  # trust the container size
    if tag == WAVE_FORMAT_PCM and bits in (8, 16, 24, 32):
        return channels, rate, ("uint8" if bits == 8 else "int"), bits
    if tag == WAVE_FORMAT_IEEE_FLOAT and bits in (32, 64):
        return channels, rate, "float", bits
    raise CacheError(f"{path}: unsupported WAV encoding (format tag 0x{tag:04x}, {bits} bits);"
                     " convert it to 16/24-bit PCM or 32-bit float")


def _decode_with_helper(path, work_dir):
    try:
        import soundfile
    except ImportError:  # optional: sox or ffmpeg below do the same job
        soundfile = None
    if soundfile is not None:
        try:
            data, rate = soundfile.read(path, dtype="float32", always_2d=True)
        except Exception as exc:  # soundfile raises its own error types
            raise CacheError(f"{path}: cannot decode: {exc}") from None
        check_format(path, data.shape[1], int(rate))
        return data, int(rate)
    tool = next((t for t in ("sox", "ffmpeg") if shutil.which(t)), None)
    if tool is None:
        kind = os.path.splitext(path)[1].lstrip(".").upper() or "this file"
        raise CacheError(f"{path}: cannot decode {kind}: {INSTALL_HINT}")
    fd, tmp = tempfile.mkstemp(prefix=".decode-", suffix=".wav", dir=work_dir)
    os.close(fd)
    try:
        if tool == "sox":
            cmd = ["sox", "-V1", path, "-t", "wav", "-e", "floating-point", "-b", "32", tmp]
        else:
            cmd = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", path, "-vn",
                   "-acodec", "pcm_f32le", "-f", "wav", tmp]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CacheError(f"{path}: {tool} failed: {exc}") from None
        if done.returncode != 0:
            why = (done.stderr or "").strip().splitlines()
            raise CacheError(f"{path}: {tool} cannot decode it: "
                             f"{why[-1] if why else f'exit {done.returncode}'}")
        try:
            # The map keeps the data readable after the name is gone.
            return open_wav(tmp)
        except CacheError as exc:
            raise CacheError(f"{path}: {tool} gave unreadable output ({exc})") from None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
