"""The precompute cache: rendered audio on disk, keyed by what it was made from.

An entry is one ``.npy`` file (float32, shape (frames, channels)) plus a small JSON
sidecar, named after a hash of everything the audio depends on: for a recipe its name,
parameters, the sample rate and the source code that renders it; for a user stem the
file's size, mtime and content (see ``stems.py``). Change any of those and the entry is
simply not found: it is rendered again under a new name.

    cache = Cache.for_site(site)                 # SEVERED_CACHE, else site.cache_dir
    audio = cache.get_or_render(Recipe("sine_ping", {"freq_hz": 880}), 48000)

Entries up to ``MMAP_ABOVE_BYTES`` are read into memory; longer ones (long stems) are
memory mapped (``np.load(mmap_mode="r")``) and paged in from disk as they play, costing
little memory. Reading small entries whole means a file damaged or truncated while it
plays cannot take the process down (a memory map read past a truncated file's end is
a SIGBUS); only long stems keep that risk, for the memory they save on a 512 MB Pi. Writes are atomic (a temporary file in the same
directory, fsync, rename, fsync of the directory), so a crash or power cut leaves
either the whole entry or none. The sidecar records the shape and a checksum of the
first and last blocks: a truncated or damaged entry is noticed, logged and rendered
again. When the directory cannot be written (read-only root, disk full) the audio is
kept in memory for this run and a warning names the directory; nothing fails.

Items that can render block by block (stems: ``render_blocks``) are written to their
entry as they are converted, never held whole; a stem larger once converted than the
cache's ``stem_budget_bytes`` (the site's ``stem_budget_mb``) is refused, naming the
file and the budget, before any of it is converted.

An item is anything with ``label``, ``key_parts(sample_rate)`` and
``render(sample_rate)``: :class:`~severed.precompute.recipes.Recipe` and
:class:`~severed.precompute.stems.Stem`.
"""

import errno
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import zlib

import numpy as np

from severed.errors import CacheError
from severed.precompute.recipes import canonical_json, checked_audio

log = logging.getLogger("severed.precompute")

DEFAULT_DIR = "/var/cache/severed"
ENV_VAR = "SEVERED_CACHE"
FORMAT = 1  # bump when the layout of entries changes: every entry is rebuilt
CHECK_FRAMES = 4096  # frames at each end covered by the sidecar's checksums
SUFFIX = ".npy"
SIDECAR = ".json"
MIB = 1024 * 1024
_ENTRY_NAME = re.compile(r"^[A-Za-z0-9_.-]+-[0-9a-f]{24}\.(npy|json)$")


def cache_dir(site=None, override=None):
    """The cache directory: ``override``, else $SEVERED_CACHE, else the site config's
    ``cache_dir``, else /var/cache/severed; ``~`` expanded."""
    path = override or os.environ.get(ENV_VAR) or (site.cache_dir if site is not None
                                                   else None) or DEFAULT_DIR
    return os.path.abspath(os.path.expanduser(path))


def entry_key(item, sample_rate):
    """The hex key of ``item`` rendered at ``sample_rate``."""
    parts = {"format": FORMAT, **item.key_parts(sample_rate)}
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()


def _slug(label):
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(label)).strip("._") or "entry"
    return s[:40]


def _block_crc(audio, which):
    part = audio[:CHECK_FRAMES] if which == "head" else audio[-CHECK_FRAMES:]
    return zlib.crc32(np.ascontiguousarray(part, dtype=np.float32).tobytes())


class Cache:
    """A directory of rendered audio (``directory=None``: memory only, for tests and
    laptops without a cache)."""

    def __init__(self, directory=None, sample_rate=48000, stem_budget_bytes=None):
        self.directory = (os.path.abspath(os.path.expanduser(directory))
                          if directory is not None else None)
        self.sample_rate = int(sample_rate)
        # A stem larger than this once converted is refused before it is converted
        # (None: no limit); ``severed check`` and a reload hold the whole show to it.
        self.stem_budget_bytes = stem_budget_bytes
        self._memory = {}  # key -> audio kept for this run (loaded or unwritable)
        self._notes = {}  # (label, key) -> note dict read or written in this run
        self._lock = threading.Lock()  # layers may be built on more than one thread
        self._warned_dir = False

    @classmethod
    def for_site(cls, site=None, override=None):
        """The cache of a site config (see :func:`cache_dir`) at its sample rate."""
        rate = site.audio.sample_rate if site is not None else 48000
        budget = site.stem_budget_mb if site is not None else None
        return cls(cache_dir(site, override), sample_rate=rate,
                   stem_budget_bytes=None if budget is None else int(budget * MIB))

    # -- where and whether -------------------------------------------------------

    def paths(self, item, sample_rate=None):
        """(audio path, sidecar path) of ``item``'s entry; (None, None) in memory only."""
        if self.directory is None:
            return None, None
        key = entry_key(item, sample_rate or self.sample_rate)
        base = os.path.join(self.directory, f"{_slug(item.label)}-{key[:24]}")
        return base + SUFFIX, base + SIDECAR

    def status(self, item, sample_rate=None):
        """"present", "missing" or "corrupt: REASON" for ``item``'s entry on disk."""
        audio, reason = self._load(item, sample_rate or self.sample_rate)
        if audio is not None:
            return "present"
        return "missing" if reason is None else f"corrupt: {reason}"

    # -- getting audio -----------------------------------------------------------

    def get_or_render(self, item, sample_rate=None, *, warn_missing=True):
        """The audio of ``item`` (float32 (frames, channels), read-only, maybe memory
        mapped), rendering and storing it first when it is missing or damaged.

        Rendering here is slow (run ``severed precompute`` at install time), so a
        missing entry is logged as a warning unless ``warn_missing`` is false.
        Errors of the item itself (an unknown recipe, an unreadable stem) propagate.
        """
        audio, _ = self.ensure(item, sample_rate, warn_missing=warn_missing)
        return audio

    def ensure(self, item, sample_rate=None, *, warn_missing=False):
        """Like get_or_render; returns (audio, what) where what is "present",
        "rendered" (and stored), or "memory" (rendered, kept in memory only)."""
        rate = int(sample_rate or self.sample_rate)
        key = entry_key(item, rate)
        with self._lock:
            if key in self._memory:
                return self._memory[key], "present"
            audio, reason = self._load(item, rate)
            if audio is not None:
                self._memory[key] = audio
                return audio, "present"
            path, _ = self.paths(item, rate)
            if reason is not None:
                log.warning("precompute cache entry %s (%s) is damaged: %s; rendering it "
                            "again", item.label, path, reason)
            elif warn_missing:
                log.warning("precompute cache missing %s: rendering now; run `severed "
                            "precompute`", item.label)
            self._check_budget(item, rate)
            if hasattr(item, "render_blocks") and self.directory is not None:
                stored = self._store_blocks(item, rate, key)
                if stored is not None:
                    self._memory[key] = stored
                    return stored, "rendered"
            audio = checked_audio(item.render(rate), item.label)
            audio.setflags(write=False)
            stored = self._store(item, rate, key, audio)
            if stored is not None:
                audio = stored
            self._memory[key] = audio
            return audio, ("rendered" if stored is not None else "memory")

    # -- notes: small figures worked out from a show's content ---------------------

    def note_path(self, label, key):
        """Where the note ``label`` for content ``key`` (hex) lives; None in memory only."""
        if self.directory is None:
            return None
        return os.path.join(self.directory, f"{_slug(label)}-{key[:24]}{SIDECAR}")

    def read_note(self, label, key):
        """The dict last stored with ``write_note(label, key, ...)``, or None when there
        is none (or it cannot be read, or was made from other content)."""
        with self._lock:
            if (label, key) in self._notes:
                return dict(self._notes[(label, key)])
        path = self.note_path(label, key)
        if path is None or not os.path.exists(path):
            return None
        try:
            with open(path, encoding="utf-8") as f:
                stored = json.load(f)
        except (OSError, ValueError) as exc:
            log.warning("precompute cache note %s cannot be read (%s): working it out "
                        "again", path, exc)
            return None
        if not isinstance(stored, dict) or stored.get("key") != key \
                or not isinstance(stored.get("note"), dict):
            return None
        with self._lock:
            self._notes[(label, key)] = stored["note"]
        return dict(stored["note"])

    def write_note(self, label, key, note):
        """Store ``note`` (a dict of plain values) for content ``key``, atomically; kept
        in memory for this run when the directory cannot be written (a warning says so).
        Returns the path written, or None."""
        with self._lock:
            self._notes[(label, key)] = dict(note)
        path = self.note_path(label, key)
        if path is None:
            return None
        text = json.dumps({"label": label, "key": key, "note": note}, indent=1,
                          sort_keys=True).encode()
        try:
            os.makedirs(self.directory, exist_ok=True)
            _atomic_write(path, lambda f: f.write(text))
            _fsync_dir(self.directory)
            return path
        except OSError as exc:
            log.warning("precompute cache %s cannot be written (%s): keeping the note %s "
                        "in memory for this run", self.directory, exc.strerror or exc, label)
            return None

    def remove_stale_temp(self, max_age_s=3600.0):
        """Delete temporary files left by writes that never finished (a crash or power
        cut mid-write); return how many. Fresh ones may belong to a running write."""
        if self.directory is None or not os.path.isdir(self.directory):
            return 0
        removed = 0
        now = time.time()
        for name in os.listdir(self.directory):
            if not (name.startswith(".tmp-") and name.endswith(".part")):
                continue
            path = os.path.join(self.directory, name)
            try:
                if now - os.stat(path).st_mtime > max_age_s:
                    os.unlink(path)
                    removed += 1
            except OSError:
                pass
        return removed

    def entry_files(self):
        """Paths of the entry files (audio and sidecars) in the directory."""
        if self.directory is None or not os.path.isdir(self.directory):
            return []
        return sorted(os.path.join(self.directory, n) for n in os.listdir(self.directory)
                      if _ENTRY_NAME.match(n))

    def prune(self, keep):
        """Delete every entry whose audio path is not in ``keep``; return (files
        removed, bytes freed). For entries of old parameters or other shows."""
        keep = {os.path.splitext(p)[0] for p in keep}
        removed = freed = 0
        for path in self.entry_files():
            if os.path.splitext(path)[0] in keep:
                continue
            try:
                size = os.path.getsize(path)
                os.unlink(path)
            except OSError:
                continue
            removed += 1
            freed += size
        if removed:
            _fsync_dir(self.directory)
        return removed, freed

    def forget(self):
        """Drop the audio this object holds (entries on disk stay)."""
        with self._lock:
            self._memory.clear()
            self._notes.clear()

    # -- disk ----------------------------------------------------------------------

    def _load(self, item, rate):
        """(audio, None) for a valid entry, (None, None) when absent, (None, reason)
        when present but damaged."""
        path, side = self.paths(item, rate)
        if path is None or not os.path.exists(side):
            return None, None
        try:
            with open(side, encoding="utf-8") as f:
                meta = json.load(f)
            audio = _read(path)
        except FileNotFoundError:
            return None, "the audio file is missing"
        except (OSError, ValueError, EOFError) as exc:
            return None, f"cannot be read ({exc})"
        if audio.dtype != np.float32 or audio.ndim != 2:
            return None, f"holds {audio.dtype} of shape {audio.shape}, not float32 frames"
        if [int(audio.shape[0]), int(audio.shape[1])] != [meta.get("frames"),
                                                           meta.get("channels")]:
            return None, (f"has shape {audio.shape} but its sidecar says "
                          f"({meta.get('frames')}, {meta.get('channels')})")
        if (_block_crc(audio, "head") != meta.get("head_crc")
                or _block_crc(audio, "tail") != meta.get("tail_crc")):
            return None, "checksum mismatch"
        return audio, None

    def _check_budget(self, item, rate):
        if self.stem_budget_bytes is None or not hasattr(item, "converted_bytes"):
            return
        size = item.converted_bytes(rate)
        if size > self.stem_budget_bytes:
            raise CacheError(f"{item.path}: {size / MIB:.0f} MiB once converted (float32 at "
                             f"{rate} Hz) is over the stem budget of "
                             f"{self.stem_budget_bytes / MIB:g} MiB (stem_budget_mb)")

    def _store_blocks(self, item, rate, key):
        """Convert ``item`` block by block straight into its entry (see _store); the
        entry memory mapped or read, or None when the directory cannot be written."""
        path, side = self.paths(item, rate)
        frames, channels, blocks = item.render_blocks(rate)
        check = _Checksums(frames, item.label)
        header = {"descr": "<f4", "fortran_order": False, "shape": (frames, channels)}

        def write(f):
            np.lib.format.write_array_header_1_0(f, header)
            for _, block in blocks:
                check.add(block)
                f.write(np.ascontiguousarray(block, np.float32).tobytes())
            if check.frames != frames:
                raise CacheError(f"{item.label}: converted {check.frames} frames, "
                                 f"expected {frames}")

        meta = {"label": item.label, "key": key, "sample_rate": rate, "frames": frames,
                "channels": channels, "made_from": item.key_parts(rate)}
        try:
            os.makedirs(self.directory, exist_ok=True)
            _atomic_write(path, write)
            meta.update(head_crc=check.head_crc, tail_crc=check.tail_crc())
            text = json.dumps(meta, indent=1, sort_keys=True).encode()
            _atomic_write(side, lambda f: f.write(text))
            _fsync_dir(self.directory)
            return _read(path)
        except OSError as exc:
            self._warn_unwritable(exc, item)
            return None

    def _warn_unwritable(self, exc, item):
        why = {errno.ENOSPC: "the disk is full", errno.EROFS: "it is read-only",
               errno.EACCES: "permission denied",
               errno.EDQUOT: "over quota"}.get(exc.errno, str(exc))
        if exc.errno is None and "written" in str(exc):
            why = "the disk is full"  # numpy reports a short write without an errno
        log.warning("precompute cache %s cannot be written (%s): keeping %s in memory "
                    "for this run", self.directory, why, item.label)

    def _store(self, item, rate, key, audio):
        """Write the entry atomically and return it memory mapped; None when the
        directory cannot be written (then a warning names it)."""
        path, side = self.paths(item, rate)
        if path is None:
            return None
        meta = {"label": item.label, "key": key, "sample_rate": rate,
                "frames": int(audio.shape[0]), "channels": int(audio.shape[1]),
                "head_crc": _block_crc(audio, "head"), "tail_crc": _block_crc(audio, "tail"),
                "made_from": item.key_parts(rate)}
        try:
            os.makedirs(self.directory, exist_ok=True)
            # The audio first, then the sidecar: an entry counts only once its sidecar
            # exists, so a crash between the two leaves nothing that looks valid.
            _atomic_write(path, lambda f: np.save(f, audio, allow_pickle=False))
            text = json.dumps(meta, indent=1, sort_keys=True).encode()
            _atomic_write(side, lambda f: f.write(text))
            _fsync_dir(self.directory)
            return _read(path)
        except OSError as exc:
            self._warn_unwritable(exc, item)
            return None


class Recorder:
    """Stands in for a cache while something is built, passing every request on and
    noting the entry key of each item asked for: what a scene's sound is made of, so
    that figures worked out from it (its loudness) can be keyed by it."""

    def __init__(self, cache, sample_rate):
        self.cache = cache
        self.sample_rate = int(sample_rate)
        self.keys = []

    def get_or_render(self, item, sample_rate=None, **kw):
        self.keys.append(entry_key(item, sample_rate or self.sample_rate))
        return self.cache.get_or_render(item, sample_rate, **kw)

    def ensure(self, item, sample_rate=None, **kw):
        self.keys.append(entry_key(item, sample_rate or self.sample_rate))
        return self.cache.ensure(item, sample_rate, **kw)

    def __getattr__(self, name):  # directory and the rest: the cache's own
        return getattr(self.cache, name)


MMAP_ABOVE_BYTES = 16 * 1024 * 1024


class _Checksums:
    """The sidecar's checksums of audio that arrives block by block, and the check that
    every sample is finite (as ``checked_audio`` does for audio made whole)."""

    def __init__(self, frames, label):
        self.label = label
        self.frames = 0
        self.head_crc = 0
        self._head_left = min(CHECK_FRAMES, frames)
        self._tail = None

    def add(self, block):
        if not np.isfinite(block).all():
            raise CacheError(f"{self.label}: rendered audio contains NaN or infinity")
        if self._head_left:
            head = block[:self._head_left]
            self.head_crc = zlib.crc32(np.ascontiguousarray(head).tobytes(), self.head_crc)
            self._head_left -= len(head)
        self._tail = (block if self._tail is None
                      else np.concatenate([self._tail, block]))[-CHECK_FRAMES:]
        self.frames += len(block)

    def tail_crc(self):
        return zlib.crc32(np.ascontiguousarray(self._tail).tobytes())


def _read(path):
    """An entry's audio: in memory when small, memory mapped when long (see above)."""
    if os.path.getsize(path) > MMAP_ABOVE_BYTES:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    audio = np.load(path, allow_pickle=False)
    audio.flags.writeable = False  # shared by every layer that plays it
    return audio


def _atomic_write(path, write):
    """Write a file by ``write(fileobj)`` so that it appears whole or not at all."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _fsync_dir(directory):
    """Make the renames durable (the directory entry itself must reach the disk)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def require_writable(directory):
    """Raise CacheError naming ``directory`` when entries cannot be written there."""
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".probe-", dir=directory)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise CacheError(f"precompute cache {directory} cannot be written: "
                         f"{exc.strerror or exc}") from None
