"""The sampler layer measured: seamless loops, oneshots on their sample, every_s on
schedule, pitch following rate, voice stealing without clicks, faults that silence
only their own layer, and no allocation while rendering."""

import logging
import tracemalloc

from unittest import mock

import numpy as np
import pytest

from severed.config import load_show_text
from severed.engine.engine import Engine
from severed.engine.layers.base import LayerContext
from severed.engine.layers.sampler import Sampler
from severed.engine.params import Controls, Ramp
from severed.precompute import Cache, recipes
from severed.show import events as ev

SR = 48000


def _sine(params, sr):
    n = int(round(params["length_s"] * sr))
    t = np.arange(n) / sr
    return (0.5 * np.sin(2 * np.pi * params["freq_hz"] * t)).astype(np.float32)[:, None]


def _ramp(params, sr):
    n = int(params["frames"])
    return (np.arange(n) / n).astype(np.float32)[:, None]


def _impulse(params, sr):
    a = np.zeros((int(params["frames"]), 1), np.float32)
    a[int(params["at"])] = 1.0
    return a


def _dc(params, sr):
    return np.full((int(params["length_s"] * sr), 1), 0.25, np.float32)


def _stereo(params, sr):
    n = 4800
    return np.stack([np.full(n, 0.5), np.full(n, -0.25)], 1).astype(np.float32)


TEST_RECIPES = {
    "t_sine": (_sine, {"freq_hz": 440.0, "length_s": 0.5}),
    "t_ramp": (_ramp, {"frames": 1000}),
    "t_impulse": (_impulse, {"frames": 2000, "at": 0}),
    "t_dc": (_dc, {"length_s": 1.0}),
    "t_stereo": (_stereo, {}),
}


@pytest.fixture(autouse=True)
def test_recipes():
    for name, (fn, defaults) in TEST_RECIPES.items():
        recipes.recipe(name, defaults=defaults)(fn)
    yield
    for name in TEST_RECIPES:
        recipes.RECIPES.pop(name, None)


@pytest.fixture
def cache(tmp_path):
    return Cache(tmp_path / "cache")


def make(cache, max_frames=512, channels=2, **params):
    ctx = LayerContext("scene.sampler", SR, channels, max_frames, np.random.default_rng(5),
                       cache=cache)
    layer = Sampler(ctx, params)
    assert layer.fault is None, layer.fault
    return layer


def render(layer, seconds=None, frames=None, block=512, channels=2, before_block=None):
    total = frames if frames is not None else int(round(seconds * SR))
    out = np.zeros((total, channels), np.float32)
    buf = np.zeros((block, channels), np.float32)
    pos = i = 0
    while pos < total:
        n = min(block, total - pos)
        if before_block:
            before_block(i, layer)
        buf[:] = 0.0
        layer.process(buf, n, Controls(t=pos / SR, scene_s=pos / SR))
        out[pos:pos + n] = buf[:n]
        pos += n
        i += 1
    return out


def peak_freq(y):
    w = np.hanning(len(y))
    mag = np.abs(np.fft.rfft(y * w))
    k = int(np.argmax(mag[1:-1])) + 1
    a, b, c = np.log(mag[k - 1:k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * SR / len(y)


# ---------------------------------------------------------------------------- loop

def loop_model(src, period, head, total):
    """What a loop must play: the region, then around again with the head spliced in."""
    k = np.arange(total)
    w = k % period
    out = src[w].copy()
    later = (k >= period) & (w < len(head))
    out[later] = head[w[later]]
    return out


@pytest.mark.parametrize("block", [512, 97, 2048])
def test_loop_plays_the_region_then_the_crossfaded_head_exactly(cache, block):
    layer = make(cache, max_frames=2048, recipe="t_ramp", mode="loop", loop_crossfade_s=0.002)
    n, c = 1000, 96
    assert (layer.period, layer.xfade) == (n - c, c)
    src = np.arange(n) / n
    x = (np.arange(c) + 0.5) / c
    a, b = src[:c], src[n - c:]
    r = np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b))
    assert layer.loop_correlation == pytest.approx(r)
    fin, fout = np.sin(np.pi / 2 * x), np.cos(np.pi / 2 * x)
    head = (a * fin + b * fout) / np.sqrt(1 + 2 * r * fin * fout)
    out = render(layer, frames=5000, block=block)
    np.testing.assert_allclose(out[:, 0], loop_model(src, n - c, head, 5000), atol=1e-6)
    np.testing.assert_array_equal(out[:, 0], out[:, 1])  # mono to both channels


def test_loop_point_is_seamless(cache):
    """A 440 Hz sine cut at 0.2505 s (110.2 cycles) jumps at the loop point unless
    the crossfade hides it: sample-to-sample steps stay within the sine's own."""
    natural = 0.5 * 2 * np.pi * 440 / SR
    params = dict(recipe="t_sine", recipe_params={"length_s": 0.2505}, mode="loop")
    smooth = render(make(cache, loop_crossfade_s=0.03, **params), 1.2)[:, 0]
    raw = render(make(cache, loop_crossfade_s=0.0, **params), 1.2)[:, 0]
    assert np.abs(np.diff(raw)).max() > 4 * natural  # the test can see a click
    assert np.abs(np.diff(smooth)).max() < 1.45 * natural
    # and the loop keeps its level: RMS over each 50 ms within 3 dB of the sine's
    win = SR // 20
    rms = [np.sqrt(np.mean(smooth[i:i + win] ** 2)) for i in range(0, len(smooth) - win, win)]
    assert 20 * np.log10(min(rms) / (0.5 / np.sqrt(2))) > -3.0
    assert 20 * np.log10(max(rms) / (0.5 / np.sqrt(2))) < 3.0


def _noise(params, sr):
    rng = np.random.default_rng(int(params["seed"]))
    return (0.3 * rng.standard_normal(int(params["length_s"] * sr))).astype(np.float32)[:, None]


def test_loop_level_holds_for_alike_and_unrelated_ends(cache, temp_noise_recipe):
    """A loop cut at whole cycles (ends alike, r = 1) and a noise loop (ends unrelated,
    r = 0) both keep their level through the crossfade: no 3 dB bump, no dip."""
    tone = make(cache, recipe="t_sine", recipe_params={"freq_hz": 1000.0, "length_s": 0.5},
                mode="loop", loop_crossfade_s=0.1)
    assert tone.loop_correlation > 0.999
    out = render(tone, 1.2)[:, 0]
    env = np.abs(out).reshape(-1, 48).max(axis=1)  # peak per 1 ms (one cycle)
    assert 20 * np.log10(env.max() / 0.5) < 0.01
    assert 20 * np.log10(env.min() / 0.5) > -0.01

    noise = make(cache, recipe="t_noise", mode="loop", loop_crossfade_s=0.2)
    assert noise.loop_correlation < 0.05
    out = render(noise, 2.0)[:, 0]
    fade = out[int(0.8 * SR):int(1.0 * SR)]  # the second pass's crossfaded head
    level = 20 * np.log10(np.sqrt(np.mean(fade ** 2)) / 0.3)
    assert abs(level) < 0.5


@pytest.fixture
def temp_noise_recipe():
    recipes.recipe("t_noise", defaults={"length_s": 1.0, "seed": 3})(_noise)
    yield
    recipes.RECIPES.pop("t_noise", None)


def test_loop_start_s_and_reset(cache):
    layer = make(cache, recipe="t_ramp", mode="loop", start_s=100 / SR, loop_crossfade_s=0.0)
    first = render(layer, frames=300)[:, 0]
    np.testing.assert_allclose(first, (np.arange(100, 400)) / 1000, atol=1e-7)
    layer.reset()
    again = render(layer, frames=300)[:, 0]
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("rate", [2.0, 0.5, 1.5, 0.25, 4.0])
def test_rate_changes_pitch(cache, rate):
    layer = make(cache, recipe="t_sine", recipe_params={"freq_hz": 1000.0, "length_s": 1.0},
                 mode="loop", rate=rate)
    out = render(layer, 1.0)[:, 0]
    assert abs(peak_freq(out[SR // 10:]) - 1000.0 * rate) < 0.5


def test_rate_ramp_glides_without_steps(cache):
    layer = make(cache, recipe="t_sine", recipe_params={"freq_hz": 1000.0, "length_s": 1.0},
                 mode="loop", rate=Ramp(1.0, 2.0, 0.5))
    out = render(layer, 0.8)[:, 0]
    natural_at_2k = 0.5 * 2 * np.pi * 2000 / SR
    assert np.abs(np.diff(out)).max() < 1.02 * natural_at_2k
    assert abs(peak_freq(out[int(0.55 * SR):]) - 2000.0) < 1.0
    assert abs(peak_freq(out[:int(0.05 * SR)]) - 1050.0) < 60.0


def test_any_block_size_gives_the_same_samples(cache):
    params = dict(recipe="t_sine", recipe_params={"length_s": 0.3}, mode="loop", rate=1.37)
    a = render(make(cache, max_frames=2048, **params), 0.5, block=2048)
    b = render(make(cache, max_frames=2048, **params), 0.5, block=61)
    np.testing.assert_allclose(a, b, atol=1e-6)


# ------------------------------------------------------------------- oneshots

@pytest.mark.parametrize("block", [512, 300])
def test_oneshot_starts_on_the_first_frame_after_its_trigger(cache, block):
    layer = make(cache, recipe="t_impulse", recipe_params={"at": 100}, mode="oneshot",
                 start_s=100 / SR)
    triggers = {0: 1, 3: 1, 7: 2}  # block index -> triggers before it

    def fire(i, lay):
        for _ in range(triggers.get(i, 0)):
            lay.trigger()

    out = render(layer, frames=block * 10, block=block, before_block=fire)[:, 0]
    hits = np.flatnonzero(out)
    assert list(hits) == [0, 3 * block, 7 * block]
    assert out[7 * block] == pytest.approx(2.0)  # two voices at once
    assert render(make(cache, recipe="t_impulse", mode="oneshot"), frames=4000).max() == 0.0


def test_oneshot_plays_to_its_end_then_stops(cache):
    layer = make(cache, recipe="t_ramp", mode="oneshot")
    layer.trigger()
    out = render(layer, frames=1500)[:, 0]
    np.testing.assert_allclose(out[:999], np.arange(999) / 1000, atol=1e-7)
    assert np.all(out[999:] == 0.0)
    assert not layer.v_active.any()


def test_oneshot_at_half_speed_lasts_twice_as_long(cache):
    layer = make(cache, recipe="t_ramp", mode="oneshot", rate=0.5)
    layer.trigger()
    out = render(layer, frames=2500)[:, 0]
    assert np.count_nonzero(out) == 1997  # positions 0.5 .. 998.5 (0 itself is silent)
    np.testing.assert_allclose(out[:1998], np.arange(1998) / 2000, atol=1e-6)


def test_stolen_voice_fades_out_in_10_ms(cache):
    layer = make(cache, max_frames=480, recipe="t_dc", mode="oneshot", voices=2)
    out = render(layer, frames=480 * 5, block=480,
                 before_block=lambda i, lay: lay.trigger() if i < 3 else None)[:, 0]
    assert out[0] == pytest.approx(0.25) and out[480] == pytest.approx(0.5)
    fade = out[960:1440]
    assert fade[0] == pytest.approx(0.75, abs=1e-6)
    assert np.all(np.diff(fade) <= 1e-7)  # falling ...
    assert np.abs(np.diff(fade)).max() < 1.01 * 0.25 / 480  # ... no faster than 10 ms
    np.testing.assert_allclose(out[1440:], 0.5, atol=1e-6)  # two voices remain


def test_every_s_hits_on_schedule(cache):
    layer = make(cache, recipe="t_impulse", mode="every_s", every_s=0.1, offset_s=0.05)
    out = render(layer, 1.0, block=333)[:, 0]
    expected = [2400 + 4800 * m for m in range(10)]
    assert list(np.flatnonzero(out)) == expected


def test_every_s_jitter_moves_hits_within_bounds(cache):
    layer = make(cache, recipe="t_impulse", mode="every_s", every_s=0.1, jitter=0.5)
    out = render(layer, 3.0, block=512)[:, 0]
    gaps = np.diff(np.flatnonzero(out)) / SR
    assert len(gaps) >= 20
    assert gaps.min() >= 0.05 - 1e-4 and gaps.max() <= 0.15 + 1e-4
    assert gaps.std() > 0.01
    again = render(make(cache, recipe="t_impulse", mode="every_s", every_s=0.1, jitter=0.5),
                   3.0, block=512)[:, 0]
    np.testing.assert_array_equal(out, again)  # same seed, same hits


def test_stereo_source_keeps_channels_and_folds_to_mono(cache):
    stereo = render(make(cache, recipe="t_stereo", mode="loop", loop_crossfade_s=0.0),
                    frames=1000)
    np.testing.assert_allclose(stereo[:, 0], 0.5)
    np.testing.assert_allclose(stereo[:, 1], -0.25)
    layer = make(cache, channels=1, recipe="t_stereo", mode="loop", loop_crossfade_s=0.0)
    mono = render(layer, frames=1000, channels=1)
    np.testing.assert_allclose(mono[:, 0], 0.125)


# ------------------------------------------------------------------------ faults

SHOW = """
[show]
name = "faults"
initial_scene = "a"
[scenes.a.layers.tone]
type = "tone"
freq_hz = 440
gain_db = -12
{extra}
"""

BAD_LAYERS = """
[scenes.a.layers.gone]
type = "sampler"
file = "{missing}"
mode = "loop"
[scenes.a.layers.typo]
type = "sampler"
recipe = "sine_pnig"
[scenes.a.layers.ping]
type = "sampler"
recipe = "sine_ping"
recipe_params = {{ freq_hz = 880, length_s = 0.2 }}
mode = "oneshot"
gain_db = -6
"""


def engine_for(text, cache):
    # The show checker refuses unknown recipes up front; these tests are about the
    # layer's own defence (a recipe can still vanish between check and play), so the
    # check is switched off while the show is loaded.
    with mock.patch.object(Sampler, "check_params", classmethod(lambda cls, params: [])):
        show = load_show_text(text, "test.toml")
    engine = Engine(show, sample_rate=SR, max_frames=1024, seed=1, cache=cache)
    engine.start("a", fade_s=0.0)
    return engine


def run_engine(engine, seconds, actions=()):
    total = int(seconds * SR)
    out = np.zeros((total, 2), np.float32)
    buf = np.zeros((1024, 2), np.float32)
    pending = dict(actions)
    for pos in range(0, total, 1024):
        if pos in pending:
            engine.apply(pending[pos])
        n = min(1024, total - pos)
        engine.render(buf, n)
        out[pos:pos + n] = buf[:n]
    return out


def test_a_missing_file_silences_only_its_own_layer(tmp_path, cache, caplog):
    missing = tmp_path / "stems" / "nope.wav"
    with caplog.at_level(logging.ERROR, "severed.engine.sampler"):
        bad = engine_for(SHOW.format(extra=BAD_LAYERS.format(missing=missing)), cache)
        out = run_engine(bad, 1.0)
    good = run_engine(engine_for(SHOW.format(extra=""), cache), 1.0)
    np.testing.assert_array_equal(out, good)  # the tone plays on, untouched
    layers = {s.spec.name: s.layer for s in bad.scenes["a"].slots}
    assert str(missing) in layers["gone"].fault
    assert "sine_pnig" in layers["typo"].fault and "sine_ping" in layers["typo"].fault
    assert layers["ping"].fault is None
    assert caplog.text.count(str(missing)) == 1  # logged once, not per block
    assert "a.gone" in caplog.text


def test_engine_trigger_reaches_the_sampler(cache):
    engine = engine_for(SHOW.format(extra=BAD_LAYERS.format(missing="/nope.wav")), cache)
    base = run_engine(engine_for(SHOW.format(extra=""), cache), 1.0)
    out = run_engine(engine, 1.0, actions=[(10240, ev.Trigger("ping"))])
    diff = np.abs(out - base)[:, 0]
    assert diff[:10240].max() == 0.0
    onset = np.flatnonzero(diff > 1e-4)[0]
    start = 10240 + engine.master.limiter.lookahead  # the master delays everything
    assert start <= onset < start + 48  # the ping's 5 ms attack crosses 1e-4 early
    assert diff[start:start + 9600].max() > 0.05


# ------------------------------------------------------------------ allocation

@pytest.mark.parametrize("params", [
    dict(recipe="t_sine", mode="loop", rate=1.3),
    dict(recipe="t_sine", mode="every_s", every_s=0.02, voices=3, rate=0.9),
    dict(recipe="t_stereo", mode="loop", rate=Ramp(0.5, 2.0, 0.1)),
    dict(recipe="t_stereo", mode="every_s", every_s=0.01, voices=2),  # steals each hit
])
def test_process_allocates_nothing_block_sized(cache, params):
    block = 4096
    layer = make(cache, max_frames=block, **params)
    buf = np.zeros((block, 2), np.float32)
    controls = [Controls(t=i * block / SR, scene_s=i * block / SR) for i in range(45)]
    for i in range(5):
        layer.process(buf, block, controls[i])
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for i in range(5, 45):
            layer.process(buf, block, controls[i])
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 4096  # a block of float32 frames would be 32 KiB


def test_check_params_reports_before_the_engine_is_built():
    assert Sampler.check_params({"recipe": "sine_ping", "recipe_params": {"freq_hz": 1}}) == []
    assert Sampler.check_params({"file": "/any/file.wav"}) == []
    [(key, msg)] = Sampler.check_params({"recipe": "sine_pnig"})
    assert key == "recipe" and "did you mean 'sine_ping'" in msg
    [(key, msg)] = Sampler.check_params({"recipe": "sine_ping", "recipe_params": {"fq": 1}})
    assert key == "recipe_params" and "'fq'" in msg
    [(key, msg)] = Sampler.check_params({"recipe": "sine_ping", "file": "x.wav"})
    assert key == "" and "not both" in msg
    [(key, msg)] = Sampler.check_params({})
    assert "recipe" in msg and "file" in msg


def test_a_recipe_that_crashes_silences_only_its_layer(cache, caplog):
    def broken(params, sr):
        raise ZeroDivisionError("oops")

    recipes.recipe("t_broken", defaults={})(broken)
    try:
        ctx = LayerContext("s.broken", SR, 2, 512, np.random.default_rng(0), cache=cache)
        layer = Sampler(ctx, {"recipe": "t_broken", "mode": "loop"})
        assert "ZeroDivisionError: oops" in layer.fault
        buf = np.zeros((512, 2), np.float32)
        layer.process(buf, 512, Controls())
        layer.trigger()
        assert not buf.any()
    finally:
        recipes.RECIPES.pop("t_broken", None)


ENTER_SHOW = """
[show]
name = "enter"
initial_scene = "a"
[scenes.a.layers.quiet]
type = "tone"
gain_db = -120
[scenes.b.layers.ding]
type = "sampler"
recipe = "t_impulse"
mode = "oneshot"
on_enter = true
gain_db = 0
[scenes.b.layers.no_ding]
type = "sampler"
recipe = "t_impulse"
recipe_params = { at = 10 }
mode = "oneshot"
gain_db = 0
"""


def test_on_enter_plays_at_the_frame_the_scene_is_entered(cache):
    show = load_show_text(ENTER_SHOW, "test.toml")
    engine = Engine(show, sample_rate=SR, max_frames=1024, seed=1, cache=cache)
    engine.start("a", fade_s=0.0)
    out = run_engine(engine, 0.5, actions=[(10240, ev.ChangeScene("a", "b", 0.0, "linear"))])
    hits = np.flatnonzero(np.abs(out[:, 0]) > 0.5)
    start = 10240 + engine.master.limiter.lookahead
    assert list(hits) == [start]  # the ding's impulse, on the event's frame; no_ding silent


def test_recipes_of_the_instruments_are_found_without_importing_them():
    import subprocess
    import sys

    code = ("import sys; from severed.precompute.recipes import RECIPES, check_recipe; "
            "before = 'felt_note' in RECIPES; "
            "print(before, check_recipe('felt_note', {}), 'felt_note' in RECIPES)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "[]", "True"]


# ---------------------------------------------------------- against the oracle

@pytest.mark.parametrize("block", [64, 333, 2048])
@pytest.mark.parametrize("params", [
    dict(recipe="t_sine", mode="loop", rate=Ramp(0.5, 3.0, 0.4), loop_crossfade_s=0.05),
    dict(recipe="t_stereo", mode="loop", rate=0.7, loop_crossfade_s=0.01),
    dict(recipe="t_sine", mode="every_s", every_s=0.03, voices=3,
         rate=Ramp(0.25, 4.0, 0.5)),
    dict(recipe="t_stereo", mode="every_s", every_s=0.015, voices=2, rate=1.0),
])
@pytest.mark.parametrize("channels", [1, 2])
def test_kernel_matches_the_numpy_playback_it_replaced(cache, block, params, channels):
    # The same float32/float64 operations in the same order: equal to the bit.
    from tests.engine.oracles.sampler import OracleSampler

    outs = []
    for cls in (Sampler, OracleSampler):
        ctx = LayerContext("scene.sampler", SR, channels, block, np.random.default_rng(5),
                           cache=cache)
        layer = cls(ctx, dict(params))
        assert layer.fault is None
        outs.append(render(layer, seconds=0.8, block=block, channels=channels))
    assert np.abs(outs[1]).max() > 0.1
    np.testing.assert_array_equal(outs[0], outs[1])
