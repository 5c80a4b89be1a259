"""User stems: every WAV encoding and rate decoded and converted (a sine's frequency and
level measured after conversion), FLAC/OGG through a helper, bad files named, keys."""

import os
import shutil

import numpy as np
import pytest

from severed.errors import CacheError
from severed.precompute import Cache, Stem, decode, stems
from severed.precompute.cache import entry_key
from severed.precompute.stems import resolve_stem_path

from wavtools import db, fit_sine, peak_freq, sine, write_wav

SR = 48000
ENCODINGS = [("pcm8", False), ("pcm16", False), ("pcm24", False), ("pcm32", False),
             ("float32", False), ("float64", False), ("pcm16", True), ("pcm24", True),
             ("float32", True)]
# Quantisation limits how exactly the level can be read back from 8 bits.
LEVEL_TOL_DB = {"pcm8": 0.05}


def measure(audio, freq_hz, channel=0):
    y = np.asarray(audio[SR // 20: -SR // 20, channel], np.float64)
    amp, _ = fit_sine(y, SR, freq_hz)
    return peak_freq(y, SR), db(amp / 0.5)


@pytest.mark.parametrize("encoding,extensible", ENCODINGS)
@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 96000])
def test_wav_is_converted_with_its_pitch_and_level(tmp_path, encoding, extensible, rate):
    freq = 1000.0 if rate > 8000 else 600.0
    path = write_wav(tmp_path / "s.wav", sine(freq, rate, 0.5), rate, encoding, extensible)
    audio = Stem(str(path)).render(SR)
    assert audio.dtype == np.float32 and audio.shape == (-(-(rate // 2) * SR // rate), 1)
    f, level_db = measure(audio, freq)
    assert abs(f - freq) < 0.05
    assert abs(level_db) < LEVEL_TOL_DB.get(encoding, 0.005)


@pytest.mark.parametrize("encoding,extensible", [("pcm16", False), ("pcm24", True),
                                                 ("float32", False)])
def test_stereo_channels_keep_their_order(tmp_path, encoding, extensible):
    left, right = sine(440, 44100, 0.5), sine(1320, 44100, 0.5)
    path = write_wav(tmp_path / "st.wav", np.hstack([left, right]), 44100, encoding,
                     extensible)
    audio = Stem(str(path)).render(SR)
    assert audio.shape[1] == 2
    assert abs(measure(audio, 440, 0)[0] - 440) < 0.05
    assert abs(measure(audio, 1320, 1)[0] - 1320) < 0.05
    assert measure(audio, 1320, 0)[1] < -90  # no leak from the other channel


def test_more_than_two_channels_keep_the_first_two(tmp_path, caplog):
    data = np.hstack([sine(300, SR, 0.3), sine(500, SR, 0.3), sine(700, SR, 0.3)])
    path = write_wav(tmp_path / "three.wav", data, SR, "pcm16")
    audio = Stem(str(path)).render(SR)
    assert audio.shape[1] == 2 and "keeping the first two" in caplog.text
    assert abs(measure(audio, 500, 1)[0] - 500) < 0.05


@pytest.mark.skipif(not (shutil.which("sox") or shutil.which("ffmpeg")),
                    reason="neither sox nor ffmpeg installed")
@pytest.mark.parametrize("ext,tol_db", [("flac", 0.005), ("ogg", 0.5)])
def test_flac_and_ogg_through_a_helper(tmp_path, monkeypatch, ext, tol_db):
    import subprocess

    wav = write_wav(tmp_path / "s.wav", sine(1000.0, 44100, 1.0), 44100, "pcm24")
    out = tmp_path / f"s.{ext}"
    tool = shutil.which("sox")
    if tool:
        subprocess.run([tool, str(wav), str(out)], check=True)
    else:
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), str(out)], check=True)
    monkeypatch.setitem(__import__("sys").modules, "soundfile", None)  # the helper path
    audio = Stem(str(out), work_dir=str(tmp_path)).render(SR)
    f, level_db = measure(audio, 1000.0)
    assert abs(f - 1000.0) < 0.05 and abs(level_db) < tol_db
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".decode-")]


def test_no_decoder_names_the_file_and_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "song.flac"
    path.write_bytes(b"fLaC" + b"\x00" * 100)
    monkeypatch.setitem(__import__("sys").modules, "soundfile", None)
    monkeypatch.setattr(decode.shutil, "which", lambda name: None)
    with pytest.raises(CacheError) as err:
        Stem(str(path)).render(SR)
    assert str(path) in str(err.value) and "FLAC" in str(err.value)
    assert "soundfile" in str(err.value) and "sox" in str(err.value)


@pytest.mark.skipif(not shutil.which("sox"), reason="sox not installed")
def test_undecodable_file_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "broken.ogg"
    path.write_bytes(b"OggS" + os.urandom(300))
    monkeypatch.setitem(__import__("sys").modules, "soundfile", None)
    with pytest.raises(CacheError, match=f"{path}: sox cannot decode it"):
        Stem(str(path), work_dir=str(tmp_path)).render(SR)


@pytest.mark.parametrize("content,message", [
    (b"", "not a WAV file"),
    (b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk", "without a fmt chunk"),
    (os.urandom(2000), "not a WAV file"),
])
def test_corrupt_wav_names_the_file(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(CacheError, match=message) as err:
        Stem(str(path)).render(SR)
    assert str(path) in str(err.value)


def test_unsupported_encoding_says_so(tmp_path):
    path = write_wav(tmp_path / "s.wav", sine(440, SR, 0.1), SR, "pcm16")
    raw = bytearray(path.read_bytes())
    raw[20:22] = (0x0006).to_bytes(2, "little")  # A-law
    path.write_bytes(bytes(raw))
    with pytest.raises(CacheError, match="unsupported WAV encoding.*0x0006"):
        Stem(str(path)).render(SR)


def test_truncated_wav_plays_what_is_there(tmp_path):
    path = write_wav(tmp_path / "s.wav", sine(1000, SR, 1.0), SR, "pcm16")
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - SR)  # half a second of 16-bit mono gone
    audio = Stem(str(path)).render(SR)
    assert len(audio) == SR // 2
    assert abs(measure(audio, 1000)[1]) < 0.005


def test_missing_file_names_the_path(tmp_path):
    path = str(tmp_path / "nope.wav")
    with pytest.raises(CacheError, match=f"{path}: no such audio file"):
        entry_key(Stem(path), SR)
    with pytest.raises(CacheError, match=f"{path}: no such audio file"):
        Stem(path).render(SR)


def test_key_follows_content_size_and_mtime_not_path(tmp_path):
    a = write_wav(tmp_path / "a.wav", sine(440, SR, 0.2), SR, "pcm16")
    key = entry_key(Stem(str(a)), SR)
    moved = tmp_path / "moved.wav"
    os.rename(a, moved)  # rename keeps content and mtime
    assert entry_key(Stem(str(moved)), SR) == key
    st = os.stat(moved)
    os.utime(moved, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    touched = entry_key(Stem(str(moved)), SR)
    assert touched != key
    raw = bytearray(moved.read_bytes())
    raw[-2:] = b"\x01\x02"  # same size, same mtime, other content
    moved.write_bytes(bytes(raw))
    os.utime(moved, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    stems._CONTENT.clear()  # a new run hashes afresh (one run trusts size and mtime)
    assert entry_key(Stem(str(moved)), SR) not in (key, touched)
    assert entry_key(Stem(str(moved)), 44100) != entry_key(Stem(str(moved)), SR)


def test_stem_is_converted_once_into_the_cache(tmp_path):
    path = write_wav(tmp_path / "loop.wav", sine(440, 44100, 0.5), 44100, "pcm16")
    cache = Cache(tmp_path / "cache")
    audio, what = cache.ensure(Stem(str(path)), SR)
    assert what == "rendered" and audio.shape == (SR // 2, 1)
    again, what = Cache(tmp_path / "cache").ensure(Stem(str(path)), SR)
    assert what == "present" and np.array_equal(again, audio)
    assert any(n.startswith("loop.wav-") for n in os.listdir(tmp_path / "cache"))


def test_long_stem_is_built_on_disk_not_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(stems, "IN_MEMORY_MAX_BYTES", 1000)
    path = write_wav(tmp_path / "long.wav", sine(1000, 44100, 1.0), 44100, "pcm16")
    audio = Stem(str(path), work_dir=str(tmp_path)).render(SR)
    assert isinstance(audio, np.memmap)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".stem-")]  # unlinked
    assert abs(measure(audio, 1000)[1]) < 0.005


def test_relative_paths(tmp_path, monkeypatch):
    show_dir = tmp_path / "show"
    show_dir.mkdir()
    (show_dir / "here.wav").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert resolve_stem_path("/abs/x.wav", str(show_dir)) == "/abs/x.wav"
    assert resolve_stem_path("here.wav", str(show_dir)) == str(show_dir / "here.wav")
    (tmp_path / "cwd.wav").write_bytes(b"x")
    assert resolve_stem_path("cwd.wav", str(show_dir)) == str(tmp_path / "cwd.wav")
    # Found nowhere: named next to the show, as the daemon's message names it.
    assert resolve_stem_path("nowhere.wav", str(show_dir)) == str(show_dir / "nowhere.wav")
    assert resolve_stem_path("here.wav") == str(tmp_path / "here.wav")


def test_content_hash_is_remembered_across_runs(tmp_path, monkeypatch):
    path = write_wav(tmp_path / "a.wav", sine(440, SR, 0.2), SR, "pcm16")
    memo = tmp_path / "cache"
    memo.mkdir()
    key = entry_key(Stem(str(path), work_dir=str(memo)), SR)
    assert len([n for n in os.listdir(memo) if n.startswith(".stemhash-")]) == 1
    stems._CONTENT.clear()  # a new run ...
    hashed = []
    real = stems._hash_file
    monkeypatch.setattr(stems, "_hash_file", lambda p: hashed.append(p) or real(p))
    assert entry_key(Stem(str(path), work_dir=str(memo)), SR) == key
    assert hashed == []  # ... reads the note instead of the whole file
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    stems._CONTENT.clear()
    entry_key(Stem(str(path), work_dir=str(memo)), SR)
    assert hashed == [str(path)]  # a touched file is hashed again


def test_soundfile_is_used_when_importable(tmp_path, monkeypatch):
    """With the soundfile package present, FLAC/OGG go through it (a stand-in here,
    as the package is optional and not installed in the test environment)."""
    import sys
    import types

    calls = []

    def read(path, dtype, always_2d):
        calls.append((path, dtype, always_2d))
        return sine(1000.0, 32000, 0.5).astype(np.float32), 32000

    monkeypatch.setitem(sys.modules, "soundfile", types.SimpleNamespace(read=read))
    path = tmp_path / "s.flac"
    path.write_bytes(b"fLaC" + b"\x00" * 64)
    audio = Stem(str(path)).render(SR)
    assert calls == [(str(path), "float32", True)]
    f, level_db = measure(audio, 1000.0)
    assert abs(f - 1000.0) < 0.05 and abs(level_db) < 0.005

    def fail(path, dtype, always_2d):
        raise RuntimeError("Error opening: Format not recognised.")

    monkeypatch.setitem(sys.modules, "soundfile", types.SimpleNamespace(read=fail))
    with pytest.raises(CacheError, match=f"{path}: cannot decode: Error opening"):
        Stem(str(path)).render(SR)
