"""User stems: audio files a show names, converted once into the cache.

    stem = Stem(resolve_stem_path("stems/waiting_room.flac", base_dir=show_dir))
    audio = cache.get_or_render(stem, 48000)   # float32 (frames, 1 or 2), at 48 kHz

A stem may be WAV, FLAC or OGG (see ``decode.py``), any rate, bit depth, mono or
stereo; it is converted to float32 at the engine's rate with the numpy resampler
(``resample.py``). The cache key holds the file's size, mtime and a hash of its
content (plus the source of the conversion code), not its path: moving a file keeps its
entry, editing it makes a new one. Files with more than two channels keep the first two.

Conversion streams: the file is read a slice at a time (``decode``) and each converted
block is written to the cache entry as it comes (``render_blocks``), so a long stem
never sits whole in memory. ``converted_bytes`` says from the header alone how large
the result will be, for the site's stem budget (``stem_budget_mb``), which the cache
enforces before converting and ``severed check`` and a reload enforce for a whole show
(``severed.preflight``).

A missing or unreadable file raises CacheError naming it: ``severed check`` and a
reload refuse the show; a daemon that meets it at start plays that layer silent.
"""

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from severed.errors import CacheError
from severed.precompute import decode, resample
from severed.precompute.recipes import source_hash

log = logging.getLogger("severed.precompute")

#: Converted audio larger than this (bytes) is built in a file-backed map on disk rather
#: than in memory, so a long stem converts within a Pi Zero's 512 MB.
IN_MEMORY_MAX_BYTES = 32 * 1024 * 1024
HASH_CHUNK = 1 << 20

_CONTENT = {}  # (path, size, mtime_ns) -> content hash, for this process


def resolve_stem_path(path, base_dir=None):
    """An absolute path for a stem named in a show: absolute paths as given; relative
    ones against ``base_dir`` (the show file's folder) when given, or against the
    current directory when the file is there and not next to the show. A file found in
    neither place is named next to the show, where a technician would put it."""
    path = os.path.expanduser(str(path))
    if os.path.isabs(path):
        return path
    if base_dir is not None:
        candidate = os.path.abspath(os.path.join(base_dir, path))
        if os.path.exists(candidate) or not os.path.exists(path):
            return candidate
    return os.path.abspath(path)


def content_hash(path, memo_dir=None):
    """(size, mtime_ns, blake2b of the bytes) of a file.

    Hashing a long stem takes seconds on a Pi, at every start. So the hash is
    remembered per (path, size, mtime): for this process, and in a small note in
    ``memo_dir`` (the cache directory) for the next start; a file whose size or mtime
    changed is hashed again."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CacheError(f"{path}: no such audio file") from None
    except OSError as exc:
        raise CacheError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    memo = (path, st.st_size, st.st_mtime_ns)
    if memo not in _CONTENT:
        note = _note_path(path, memo_dir)
        digest = _read_note(note, memo)
        if digest is None:
            digest = _hash_file(path)
            _write_note(note, memo, digest)
        _CONTENT[memo] = digest
    return st.st_size, st.st_mtime_ns, _CONTENT[memo]


def _hash_file(path):
    h = hashlib.blake2b(digest_size=20)  # fast in software (no ARM crypto on a Pi)
    try:
        with open(path, "rb") as f:
            while chunk := f.read(HASH_CHUNK):
                h.update(chunk)
    except OSError as exc:
        raise CacheError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    return h.hexdigest()


def _note_path(path, memo_dir):
    if memo_dir is None:
        return None
    name = hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return os.path.join(memo_dir, f".stemhash-{name}.json")


def _read_note(note, memo):
    if note is None:
        return None
    try:
        with open(note, encoding="utf-8") as f:
            data = json.load(f)
        if [data["path"], data["size"], data["mtime_ns"]] == list(memo):
            return str(data["content"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no note, or a damaged one: hash the file
    return None


def _write_note(note, memo, digest):
    if note is None:
        return
    text = json.dumps({"path": memo[0], "size": memo[1], "mtime_ns": memo[2],
                       "content": digest})
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=os.path.dirname(note))
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, note)
    except OSError:
        pass  # a read-only cache: hash again next time


@dataclass(frozen=True)
class Stem:
    """A user's audio file, as a cache item. ``work_dir`` (not part of the key; the
    cache directory) is where temporary decoded or converted audio goes (default: the
    system's temp dir) and where the file's content hash is remembered."""

    path: str
    work_dir: str | None = None

    @property
    def label(self):
        return os.path.basename(self.path)

    def key_parts(self, sample_rate):
        size, mtime_ns, digest = content_hash(self.path, self.work_dir)
        return {"kind": "stem", "size": size, "mtime_ns": mtime_ns,
                "content": digest, "sample_rate": int(sample_rate),
                "code": source_hash((__name__, decode.__name__, resample.__name__))}

    def converted_bytes(self, sample_rate):
        """The size of the file converted (float32, up to two channels, at
        ``sample_rate``), from its header; CacheError naming it when it cannot be read."""
        frames, channels, rate = decode.probe(self.path, self._work_dir())
        return converted_frames(frames, rate, sample_rate) * min(channels, 2) * 4

    def render(self, sample_rate):
        """Decode and convert now: float32 (frames, 1 or 2) at ``sample_rate``."""
        frames, channels, blocks = self.render_blocks(sample_rate)
        out = _output_array(frames, channels, self._work_dir())
        for n0, block in blocks:
            out[n0:n0 + len(block)] = block
        return out

    def render_blocks(self, sample_rate):
        """Decode and convert piece by piece: (frames, channels, blocks), ``blocks``
        yielding (first frame, float32 (n, channels)) in order. The cache writes them
        to its entry as they come, so a long stem is never held whole in memory."""
        source, rate = decode.open_audio(self.path, self._work_dir())
        channels = source.shape[1]
        if channels > 2:
            log.warning("%s has %d channels: keeping the first two", self.path, channels)
            source = _FirstTwo(source)
        conv = resample.Resampler(rate, sample_rate)
        return conv.out_frames(source.shape[0]), min(channels, 2), conv.chunks(source)

    def _work_dir(self):
        d = self.work_dir
        if d is not None and os.path.isdir(d) and os.access(d, os.W_OK):
            return d
        return tempfile.gettempdir()


class _FirstTwo:
    """The first two channels of a many-channel source."""

    def __init__(self, source):
        self.source = source
        self.shape = (source.shape[0], 2)

    def __getitem__(self, index):
        return np.asarray(self.source[index])[:, :2]


def converted_frames(frames, rate_in, rate_out):
    """Frames of ``frames`` at ``rate_in`` converted to ``rate_out`` (as the resampler
    makes them)."""
    ratio = Fraction(int(rate_out), int(rate_in))
    return -(-int(frames) * ratio.numerator // ratio.denominator)


def _output_array(frames, channels, work_dir):
    """Where converted audio is built: memory when small, else an unlinked file on disk
    (the mapping keeps it alive; the kernel can write its pages back instead of
    holding them in RAM)."""
    if frames * channels * 4 <= IN_MEMORY_MAX_BYTES:
        return np.empty((frames, channels), np.float32)
    fd, tmp = tempfile.mkstemp(prefix=".stem-", suffix=".f32", dir=work_dir)
    try:
        os.ftruncate(fd, frames * channels * 4)
        return np.memmap(tmp, dtype=np.float32, mode="r+", shape=(frames, channels))
    finally:
        os.close(fd)
        os.unlink(tmp)
