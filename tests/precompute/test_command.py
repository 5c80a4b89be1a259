"""``severed precompute`` end to end: a show's recipes and stems rendered once, skipped
when present, damaged ones rebuilt, failures named with exit status 1."""

import os
import textwrap

import numpy as np
import pytest

from severed.cli import main
from severed.commands.precompute import show_items
from severed.config import load_show
from severed.precompute import Cache, Recipe, Stem

from wavtools import sine, write_wav

SHOW = textwrap.dedent("""
    [show]
    name = "pc"
    initial_scene = "a"

    [scenes.a.layers.ping]
    type = "sampler"
    recipe = "sine_ping"
    recipe_params = {{ freq_hz = 660, length_s = 0.5 }}
    mode = "every_s"
    every_s = 2

    [scenes.a.layers.same_ping]      # the same entry as above: rendered once
    type = "sampler"
    recipe = "sine_ping"
    recipe_params = {{ freq_hz = 660.0, length_s = 0.5 }}
    mode = "oneshot"

    [scenes.a.layers.hum]            # not a sampler: nothing to precompute
    type = "tone"

    [scenes.b.layers.stem]
    type = "sampler"
    file = "{stem}"
    {extra}
""")

BROKEN = textwrap.dedent("""
    [scenes.b.layers.gone]
    type = "sampler"
    file = "{missing}"
""")

TYPO = textwrap.dedent("""
    [scenes.b.layers.typo]
    type = "sampler"
    recipe = "sine_pnig"
""")


@pytest.fixture
def show_file(tmp_path):
    def make(extra=""):
        stem = write_wav(tmp_path / "room.wav", sine(440, 44100, 1.0, channels=2), 44100,
                         "pcm24")
        path = tmp_path / "show.toml"
        path.write_text(SHOW.format(stem=stem, extra=extra))
        return path
    return make


def run(args, capsys):
    code = main(["precompute", "--quiet"] + [str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_renders_then_skips(tmp_path, show_file, capsys):
    show = show_file()
    cache_dir = tmp_path / "cache"
    code, out, err = run(["--show", show, "--cache", cache_dir], capsys)
    assert code == 0, err
    assert "2 rendered, 0 present, 0 failed" in out and str(cache_dir) in out
    entries = sorted(f for f in os.listdir(cache_dir) if f.endswith(".npy"))
    assert len(entries) == 2
    assert entries[0].startswith("room.wav-") and entries[1].startswith("sine_ping-")
    # 1 s stereo + 0.5 s mono at 48 kHz, float32
    assert f"{(48000 * 2 + 24000) * 4 / 1e6:.1f} MB" in out

    code, out, _ = run(["--show", show, "--cache", cache_dir], capsys)
    assert code == 0 and "0 rendered, 2 present, 0 failed" in out

    # What the command made is what a layer asks for: no render at start-up.
    cache = Cache(cache_dir)
    assert cache.status(Recipe("sine_ping", {"freq_hz": 660, "length_s": 0.5}), 48000) == "present"
    stem = cache.get_or_render(Stem(str(tmp_path / "room.wav")), 48000)
    assert stem.shape == (48000, 2)


def test_damaged_entry_is_rebuilt(tmp_path, show_file, capsys):
    show = show_file()
    cache_dir = tmp_path / "cache"
    run(["--show", show, "--cache", cache_dir], capsys)
    victim = next(f for f in os.listdir(cache_dir) if f.startswith("sine_ping-") and
                  f.endswith(".npy"))
    with open(cache_dir / victim, "r+b") as f:
        f.truncate(1000)
    code, out, _ = run(["--show", show, "--cache", cache_dir], capsys)
    assert code == 0 and "1 rendered, 1 present, 0 failed" in out


def test_failures_are_named_and_exit_1(tmp_path, show_file, capsys):
    missing = tmp_path / "stems" / "nope.flac"
    show = show_file(BROKEN.format(missing=missing))
    code, out, err = run(["--show", show, "--cache", tmp_path / "cache"], capsys)
    assert code == 1
    assert "2 rendered, 0 present, 1 failed" in out
    assert f"severed: error: scenes.b.layers.gone: {missing}: no such audio file" in err


def test_unknown_recipe_is_refused_with_the_show_before_rendering(tmp_path, show_file, capsys):
    show = show_file(TYPO)
    code, out, err = run(["--show", show, "--cache", tmp_path / "cache"], capsys)
    assert code == 1 and "rendered" not in out
    assert "scenes.b.layers.typo.recipe: recipe 'sine_pnig': no such recipe" in err
    assert "did you mean 'sine_ping'?" in err
    assert not (tmp_path / "cache").exists() or not os.listdir(tmp_path / "cache")


def test_cache_from_environment_and_site(tmp_path, show_file, capsys, monkeypatch):
    show = show_file()
    env_dir = tmp_path / "from-env"
    monkeypatch.setenv("SEVERED_CACHE", str(env_dir))
    code, out, _ = run(["--show", show], capsys)
    assert code == 0 and str(env_dir) in out and os.path.isdir(env_dir)

    monkeypatch.delenv("SEVERED_CACHE")
    site = tmp_path / "site.toml"
    site_dir = tmp_path / "from-site"
    site.write_text(f'[site]\nname = "t"\ncache_dir = "{site_dir}"\n'
                    f'[audio]\nsample_rate = 44100\n')
    code, out, _ = run(["--show", show, "--config", site], capsys)
    assert code == 0 and str(site_dir) in out and "at 44100 Hz" in out


def test_unwritable_cache_fails_by_name(tmp_path, show_file, capsys):
    show = show_file()
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    code, out, err = run(["--show", show, "--cache", blocker], capsys)
    assert code == 1
    assert f"rendered but {blocker} cannot be written" in err


def test_relative_stems_are_found_next_to_the_show(tmp_path, show_file, capsys, monkeypatch):
    show_file()
    (tmp_path / "show.toml").write_text(SHOW.format(stem="room.wav", extra=""))
    monkeypatch.chdir("/")
    items = show_items(load_show(str(tmp_path / "show.toml")))
    stems = [item for _, item, _ in items if isinstance(item, Stem)]
    assert [s.path for s in stems] == [str(tmp_path / "room.wav")]
    # The daemon's sampler finds it in the same place: no warning that it would not.
    assert "warning" not in capsys.readouterr().err


def test_prune_keeps_what_the_show_uses(tmp_path, show_file, capsys):
    show = show_file()
    cache_dir = tmp_path / "cache"
    Cache(cache_dir).get_or_render(Recipe("sine_ping", {"freq_hz": 111.0}), 48000)  # old
    (cache_dir / "notes.txt").write_text("not an entry: left alone")
    code, out, _ = run(["--show", show, "--cache", cache_dir, "--prune"], capsys)
    assert code == 0 and "pruned 2 files" in out
    left = sorted(f for f in os.listdir(cache_dir) if not f.startswith("."))
    assert len(left) == 5 and "notes.txt" in left
    code, out, _ = run(["--show", show, "--cache", cache_dir, "--prune"], capsys)
    assert "0 rendered, 2 present" in out and "pruned 0 files" in out


class FetchingLayer:
    """A layer type of another kind that fetches precomputed notes when built."""

    TYPE = "fetcher_for_test"
    DOC = ""

    def __init__(self, ctx, params):
        from severed.engine.layers.base import normalise_params

        self.params = normalise_params(self.PARAMS, params)
        for hz in (220.0, 330.0):
            ctx.cache.get_or_render(Recipe("sine_ping", {"freq_hz": hz, "length_s": 0.25}),
                                    ctx.sample_rate)


@pytest.fixture
def fetching_layer():
    from severed.engine.layers.base import LAYER_TYPES
    from severed.engine.params import Param

    FetchingLayer.PARAMS = (Param("notes", 2, automatable=False, kind=int),)
    LAYER_TYPES[FetchingLayer.TYPE] = FetchingLayer
    yield
    del LAYER_TYPES[FetchingLayer.TYPE]


def test_audio_other_layers_fetch_is_rendered_too(tmp_path, show_file, capsys,
                                                   fetching_layer):
    extra = ('[scenes.b.layers.notes]\ntype = "fetcher_for_test"\n'
             '[scenes.b.layers.more_notes]\ntype = "fetcher_for_test"\n')
    show = show_file(extra)
    cache_dir = tmp_path / "cache"
    code, out, err = run(["--show", show, "--cache", cache_dir], capsys)
    assert code == 0, err
    assert "4 rendered, 0 present, 0 failed" in out  # 2 from samplers + 220 and 330 Hz once
    cache = Cache(cache_dir)
    for hz in (220.0, 330.0):
        assert cache.status(Recipe("sine_ping", {"freq_hz": hz, "length_s": 0.25}),
                            48000) == "present"
    code, out, _ = run(["--show", show, "--cache", cache_dir, "--prune"], capsys)
    assert "0 rendered, 4 present" in out and "pruned 0 files" in out


def test_loudness_measuring_shows_on_the_one_progress_bar(monkeypatch, capsys):
    # A first run printed a line per scene measured, under the bar; now the bar names it.
    from types import SimpleNamespace

    from severed.commands import precompute
    from severed.loudness import calibration

    def calibrate(show, cache, progress, **settings):
        for scene in ("outie", "innie"):
            progress(scene)
        return []

    monkeypatch.setattr(calibration, "calibrate", calibrate)
    site = SimpleNamespace(audio=SimpleNamespace(sample_rate=48000, channels=2), mains_hz=50)
    shown = []
    assert precompute._calibrate(None, site, None, [], bar=shown.append) == []
    assert shown == ["loudness of scene outie", "loudness of scene innie"]
    assert capsys.readouterr().err == ""
