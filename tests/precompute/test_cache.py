"""The cache measured: keys follow params, rate and code; writes are atomic; damaged
entries are rebuilt; an unwritable directory degrades to memory with a warning."""

import errno
import importlib
import json
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from severed.errors import CacheError, ConfigError
from severed.precompute import cache as cache_mod
from severed.precompute import recipes
from severed.precompute.cache import Cache, cache_dir, entry_key
from severed.precompute.recipes import Recipe, check_recipe

SR = 48000
PING = Recipe("sine_ping", {"freq_hz": 880.0, "length_s": 0.5})


def files(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


# ------------------------------------------------------------------------- keys

def test_key_follows_params_and_rate():
    base = entry_key(PING, SR)
    assert entry_key(Recipe("sine_ping", {"freq_hz": 880.0, "length_s": 0.5}), SR) == base
    assert entry_key(Recipe("sine_ping", {"freq_hz": 880, "length_s": 0.5}), SR) == base
    assert entry_key(Recipe("sine_ping", {"freq_hz": 881.0, "length_s": 0.5}), SR) != base
    assert entry_key(PING, 44100) != base
    assert entry_key(Recipe("noise_burst", {}), SR) != entry_key(Recipe("sine_ping", {}), SR)


def test_default_given_or_omitted_is_one_entry():
    default = recipes.RECIPES["sine_ping"].defaults["decay_s"]
    assert (entry_key(Recipe("sine_ping", {}), SR)
            == entry_key(Recipe("sine_ping", {"decay_s": default}), SR))


def test_key_follows_the_recipes_source(tmp_path, monkeypatch, temp_recipes):
    module_file = tmp_path / "felt_recipes_for_test.py"
    module_file.write_text("def render(params, sample_rate):\n    return [[0.0]] * 10\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("felt_recipes_for_test")
    try:
        temp_recipes("felt_for_test", module.render, {"x": 1.0})
        before = entry_key(Recipe("felt_for_test"), SR)
        assert entry_key(Recipe("felt_for_test"), SR) == before
        module_file.write_text("def render(params, sample_rate):\n    return [[0.5]] * 10\n")
        recipes._CODE_HASHES.clear()  # a new process would read the file afresh
        assert entry_key(Recipe("felt_for_test"), SR) != before
    finally:
        sys.modules.pop("felt_recipes_for_test", None)
        recipes._CODE_HASHES.clear()


def test_key_follows_declared_dependencies(tmp_path, monkeypatch, temp_recipes):
    dep = tmp_path / "shared_synth_for_test.py"
    dep.write_text("GAIN = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        temp_recipes("dep_for_test", lambda p, sr: np.zeros((4, 1)), {},
                     depends=("shared_synth_for_test",))
        before = entry_key(Recipe("dep_for_test"), SR)
        dep.write_text("GAIN = 2\n")
        recipes._CODE_HASHES.clear()
        assert entry_key(Recipe("dep_for_test"), SR) != before
    finally:
        sys.modules.pop("shared_synth_for_test", None)
        recipes._CODE_HASHES.clear()


def test_check_recipe_names_the_problem():
    assert check_recipe("sine_ping", {"freq_hz": 100}) == []
    [msg] = check_recipe("sine_pong", {})
    assert "no such recipe" in msg and "did you mean 'sine_ping'" in msg
    [msg] = check_recipe("sine_ping", {"freq": 100})
    assert "'freq'" in msg and "freq_hz" in msg
    [msg] = check_recipe("sine_ping", {"freq_hz": "high"})
    assert "freq_hz must be a number" in msg
    with pytest.raises(ConfigError):
        Recipe("sine_ping", {"bogus": 1}).render(SR)


def test_cache_dir_precedence(monkeypatch):
    class Site:
        cache_dir = "~/site-cache"

    monkeypatch.delenv("SEVERED_CACHE", raising=False)
    assert cache_dir() == "/var/cache/severed"
    assert cache_dir(Site()) == os.path.expanduser("~/site-cache")
    monkeypatch.setenv("SEVERED_CACHE", "/tmp/env-cache")
    assert cache_dir(Site()) == "/tmp/env-cache"
    assert cache_dir(Site(), override="/tmp/cli") == "/tmp/cli"


# ------------------------------------------------------------------ store and load

def test_entry_is_stored_and_read_back_memory_mapped(tmp_path, caplog):
    cache = Cache(tmp_path)
    with caplog.at_level(logging.WARNING, "severed.precompute"):
        audio = cache.get_or_render(PING, SR)
    assert "precompute cache missing sine_ping: rendering now; run `severed precompute`" \
        in caplog.text
    assert audio.shape == (SR // 2, 1) and audio.dtype == np.float32
    path, side = cache.paths(PING, SR)
    assert os.path.basename(path).startswith("sine_ping-") and os.path.exists(side)
    meta = json.loads(open(side).read())
    assert meta["frames"] == SR // 2 and meta["channels"] == 1
    assert meta["made_from"]["params"]["freq_hz"] == 880

    fresh = Cache(tmp_path)  # another run
    caplog.clear()
    with caplog.at_level(logging.WARNING, "severed.precompute"):
        again, what = fresh.ensure(PING, SR)
    assert what == "present" and caplog.text == ""
    assert not again.flags.writeable  # shared: no layer may write into it
    np.testing.assert_array_equal(again, audio)
    assert fresh.status(PING, SR) == "present"


def test_two_layers_share_one_entry(tmp_path):
    cache = Cache(tmp_path)
    a = cache.get_or_render(PING, SR)
    b = cache.get_or_render(Recipe("sine_ping", {"freq_hz": 880, "length_s": 0.5}), SR)
    assert a is b
    assert len([f for f in files(tmp_path) if f.endswith(".npy")]) == 1


def test_render_errors_reach_the_caller(tmp_path, temp_recipes):
    temp_recipes("nan_for_test", lambda p, sr: np.full((10, 1), np.nan))
    temp_recipes("shape_for_test", lambda p, sr: np.zeros((10, 5)))
    cache = Cache(tmp_path)
    with pytest.raises(CacheError, match="nan_for_test.*NaN"):
        cache.get_or_render(Recipe("nan_for_test"), SR)
    with pytest.raises(CacheError, match="shape_for_test.*shape"):
        cache.get_or_render(Recipe("shape_for_test"), SR)
    assert files(tmp_path) == []


# ----------------------------------------------------------------- atomic writes

CRASHER = textwrap.dedent("""
    import os, sys, time
    from severed.precompute import cache as c
    from severed.precompute.recipes import Recipe
    real_replace = os.replace
    def slow_replace(src, dst):
        if dst.endswith(sys.argv[2]):
            print("writing", flush=True)
            time.sleep(60)
        real_replace(src, dst)
    c.os.replace = slow_replace
    c.Cache(sys.argv[1]).get_or_render(Recipe("sine_ping", {"freq_hz": 880.0, "length_s": 0.5}))
""")


@pytest.mark.parametrize("stage", [".npy", ".json"])
def test_a_crash_mid_write_leaves_no_entry(tmp_path, stage):
    """Kill -9 a process just before it renames the audio (or the sidecar) into place:
    no entry exists afterwards, and the next run renders it whole."""
    proc = subprocess.Popen([sys.executable, "-c", CRASHER, str(tmp_path), stage],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.kill()
        proc.wait()
    cache = Cache(tmp_path)
    assert cache.status(PING, SR) == "missing"
    leftovers = [f for f in files(tmp_path) if f.startswith(".tmp-")]
    assert len(leftovers) == 1  # the half-done temp file, never mistaken for an entry
    audio, what = cache.ensure(PING, SR)
    assert what == "rendered" and audio.shape == (SR // 2, 1)
    old = os.path.join(tmp_path, leftovers[0])
    os.utime(old, (0, 0))
    assert cache.remove_stale_temp() == 1
    assert not [f for f in files(tmp_path) if f.startswith(".tmp-")]


def test_failed_write_cleans_its_temp_file(tmp_path, monkeypatch):
    def half_then_fail(f, audio, allow_pickle=False):
        f.write(b"\x93NUMPY partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache_mod.np, "save", half_then_fail)
    audio, what = Cache(tmp_path).ensure(PING, SR)
    assert what == "memory" and audio.shape == (SR // 2, 1)
    assert files(tmp_path) == []


# -------------------------------------------------------------- damaged entries

def _damage_truncate(path, side):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def _damage_flip_head(path, side):
    with open(path, "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x11\x22\x33" * 8)


def _damage_flip_tail(path, side):
    with open(path, "r+b") as f:
        f.seek(-16, os.SEEK_END)
        f.write(b"\xff" * 16)


def _damage_header(path, side):
    with open(path, "r+b") as f:
        f.write(b"garbage!")


def _damage_sidecar(path, side):
    with open(side, "w") as f:
        f.write("{not json")


def _damage_sidecar_shape(path, side):
    meta = json.load(open(side))
    meta["frames"] += 1
    json.dump(meta, open(side, "w"))


def _damage_remove_audio(path, side):
    os.unlink(path)


@pytest.mark.parametrize("damage", [_damage_truncate, _damage_flip_head, _damage_flip_tail,
                                    _damage_header, _damage_sidecar, _damage_sidecar_shape,
                                    _damage_remove_audio])
def test_damaged_entry_is_rendered_again(tmp_path, caplog, damage):
    good = np.array(Cache(tmp_path).get_or_render(PING, SR))
    path, side = Cache(tmp_path).paths(PING, SR)
    damage(path, side)
    cache = Cache(tmp_path)
    assert cache.status(PING, SR).startswith("corrupt: ")
    with caplog.at_level(logging.WARNING, "severed.precompute"):
        audio, what = cache.ensure(PING, SR)
    assert what == "rendered"
    assert "is damaged" in caplog.text and path in caplog.text
    np.testing.assert_array_equal(audio, good)
    assert Cache(tmp_path).status(PING, SR) == "present"


# ------------------------------------------------------------ unwritable caches

@pytest.mark.parametrize("err", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_unwritable_directory_keeps_audio_in_memory(tmp_path, monkeypatch, caplog, err):
    def refuse(*args, **kwargs):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(cache_mod.tempfile, "mkstemp", refuse)
    cache = Cache(tmp_path / "cache")
    with caplog.at_level(logging.WARNING, "severed.precompute"):
        audio, what = cache.ensure(PING, SR)
    assert what == "memory"
    assert f"precompute cache {tmp_path / 'cache'} cannot be written" in caplog.text
    expected = np.array(Recipe(PING.name, PING.params).render(SR))
    np.testing.assert_array_equal(audio, expected)
    again, what = cache.ensure(PING, SR)  # this run keeps it: no second render
    assert again is audio and what == "present"


def test_cache_dir_that_is_a_file_degrades_to_memory(tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with caplog.at_level(logging.WARNING, "severed.precompute"):
        audio, what = Cache(blocker).ensure(PING, SR)
    assert what == "memory" and audio.shape == (SR // 2, 1)
    assert str(blocker) in caplog.text


def test_memory_only_cache_renders_once():
    calls = []
    cache = Cache(None)

    class Item:
        label = "counted"

        def key_parts(self, rate):
            return {"kind": "test", "rate": rate}

        def render(self, rate):
            calls.append(rate)
            return np.ones((100, 2), np.float32)

    a = cache.get_or_render(Item(), SR)
    b = cache.get_or_render(Item(), SR)
    assert a is b and calls == [SR] and cache.status(Item(), SR) == "missing"


def test_long_entries_are_memory_mapped_short_ones_read_whole(tmp_path, monkeypatch):
    """Short entries are read into memory, so a file truncated while it plays cannot
    SIGBUS the daemon; long ones are mapped, to spare the Pi's memory."""
    from severed.precompute import cache as cache_module
    from severed.precompute.recipes import Recipe

    item = Recipe("sine_ping", {"freq_hz": 440, "length_s": 0.5})
    Cache(tmp_path).get_or_render(item, SR, warn_missing=False)
    small = Cache(tmp_path).get_or_render(item, SR)
    assert not isinstance(small, np.memmap) and not small.flags.writeable
    monkeypatch.setattr(cache_module, "MMAP_ABOVE_BYTES", 1000)
    big = Cache(tmp_path).get_or_render(item, SR)
    assert isinstance(big, np.memmap) and not big.flags.writeable
