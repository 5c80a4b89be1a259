"""The show's layer types on their own: exact timing, fragmentation, cuts, floors."""

import numpy as np
import pytest

from severed.engine.layers import LAYER_TYPES
from severed.engine.layers.base import LayerContext, SceneCut
from severed.engine.layers.voices import VoiceBank
from severed.engine.params import Const, Controls, Mapping

SR = 48000


def build(kind, name="s.layer", block=1024, seed=1, scene_cut=None, **params):
    ctx = LayerContext(name, SR, 2, block, np.random.default_rng(seed), scene_cut=scene_cut)
    wrapped = {k: (Const(float(v)) if isinstance(v, (int, float)) and not isinstance(v, bool)
                   and LAYER_TYPES[kind].param(k).automatable and LAYER_TYPES[kind].param(k).kind is float
                   else v) for k, v in params.items()}
    return LAYER_TYPES[kind](ctx, wrapped)


def run(layers, seconds, block=1024, tension=0.0):
    """Render layers of one scene together (same Controls per block, like the engine);
    returns one (frames, 2) array per layer."""
    n = int(seconds * SR)
    outs = [np.zeros((n + block, 2), np.float32) for _ in layers]
    for i in range(0, n, block):
        ctl = Controls(t=i / SR, scene_s=i / SR, tension=tension)
        for layer, out in zip(layers, outs):
            layer.process(out[i:i + block], block, ctl)
    return [o[:n] for o in outs]


def run_scene(layers, cut, seconds, block=1024):
    """Render layers sharing the scene cut ``cut`` into one mix, as a scene does: the
    curve reopened before each block, applied to the whole mix after it."""
    n = int(seconds * SR)
    out = np.zeros((n + block, 2), np.float32)
    for i in range(0, n, block):
        ctl = Controls(t=i / SR, scene_s=i / SR, tension=0.0)
        cut.reopen()
        for layer in layers:
            layer.process(out[i:i + block], block, ctl)
        cut.apply(out[i:i + block], block)
    return out[:n]


def starts(x, threshold=1e-3, min_gap_s=0.05):
    """Frames where the signal rises above threshold after min_gap_s below it."""
    idx = np.flatnonzero(np.abs(x[:, 0]) > threshold)
    if len(idx) == 0:
        return []
    new = np.r_[True, np.diff(idx) > min_gap_s * SR]
    return [int(i) for i in idx[new]]


@pytest.mark.parametrize("block", [256, 1024, 2048])
def test_voice_bank_starts_on_the_sample_at_any_block_size(block):
    bank = VoiceBank(2, block, SR)
    src = np.zeros((1000, 1), np.float32)
    src[0] = 1.0
    src[500] = -0.5
    k = bank.add_source(src)
    out = np.zeros((10 * block + 5000, 2), np.float32)
    bank.start(k, delay=37, gain=0.5)
    bank.start(k, delay=3 * block + 11, gain=1.0)  # far off: held until due
    for i in range(0, 10 * block, block):
        bank.render(out[i:i + block], block)
    hits = np.flatnonzero(out[:, 0])
    assert list(hits) == [37, 537, 3 * block + 11, 3 * block + 511]
    assert out[37, 0] == 0.5 and out[3 * block + 511, 1] == -0.5


def test_voice_bank_half_speed_doubles_length_and_halves_pitch():
    bank = VoiceBank(1, 1024, SR, max_stretch=2.0)
    t = np.arange(SR) / SR
    k = bank.add_source((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[:, None])
    bank.start(k, rate=0.5)
    out = np.zeros((3 * SR, 1), np.float32)
    for i in range(0, 3 * SR - 1024, 1024):
        bank.render(out[i:i + 1024], 1024)
    assert np.abs(out[int(1.9 * SR):int(1.99 * SR)]).max() > 0.4
    assert np.abs(out[int(2.01 * SR):]).max() == 0.0
    spec = np.abs(np.fft.rfft(out[:SR, 0]))
    assert np.argmax(spec) == pytest.approx(500, abs=1)


def test_rhythm_hits_on_the_grid_with_swing():
    r = build("rhythm", bpm=120, steps_per_beat=2, sounds=["pen_click"],
              patterns=["x"], gains_db=[0], swing=0.25, takes=1)
    (out,) = run([r], 3.0)
    step = SR // 4  # eighth notes at 120 bpm: 0.25 s
    expect = [k * step + (step // 4 if k % 2 else 0) for k in range(12)]
    got = starts(out, min_gap_s=0.1)
    assert len(got) == 12
    assert np.max(np.abs(np.array(got) - expect)) <= 48  # within 1 ms (the click's rise)


def test_rhythm_density_follows_tension():
    params = dict(bpm=120, steps_per_beat=4, sounds=["pen_click"], patterns=["5"],
                  gains_db=[0], takes=1)
    calm = build("rhythm", seed=3, **params)
    calm.params["density"] = Mapping("tension", 0, 1, 0.4, 2.0)
    busy = build("rhythm", seed=3, **params)
    busy.params["density"] = Mapping("tension", 0, 1, 0.4, 2.0)
    (a,) = run([calm], 10.0, tension=0.0)
    (b,) = run([busy], 10.0, tension=1.0)
    # 80 steps: 20 % of them at rest, all of them at full tension.
    # (a pen click is two clicks 35 ms apart: count hits 60 ms apart)
    assert 8 <= len(starts(a, threshold=0.01, min_gap_s=0.06)) <= 26
    assert len(starts(b, threshold=0.01, min_gap_s=0.06)) == 80


def test_rhythm_bars_drop_out_fill_and_accent():
    """Bar by bar (16 sixteenths at 120 bpm: 2 s), a track sits out, plays its fill
    or accents its hits, as the chances say; a bar is one or the other whole."""
    params = dict(bpm=120, steps_per_beat=4, sounds=["pen_click"],
                  patterns=["x...x...x...x..."], gains_db=[0], takes=1)
    (plain,) = run([build("rhythm", **params)], 4.0)
    (out,) = run([build("rhythm", dropout=1.0, **params)], 4.0)
    assert np.abs(out).max() == 0.0
    (out,) = run([build("rhythm", fills=["x.x.x.x.x.x.x.x."], fill=1.0, **params)], 4.0)
    assert len(starts(out, threshold=0.01, min_gap_s=0.06)) == 16  # eighths, 2 bars
    (loud,) = run([build("rhythm", accent=1.0, **params)], 4.0)
    assert 20 * np.log10(np.abs(loud).max() / np.abs(plain).max()) == pytest.approx(6.0, abs=0.1)
    dropping = build("rhythm", seed=5, dropout=0.5, **params)
    (out,) = run([dropping], 40.0)
    bars = [np.abs(out[k * 2 * SR:(k + 1) * 2 * SR]).max() > 0 for k in range(20)]
    assert 4 <= sum(bars) <= 16  # some bars play, some sit out, each whole


def test_rhythm_fills_need_one_pattern_per_track():
    from severed.errors import ConfigError
    with pytest.raises(ConfigError, match="fills"):
        build("rhythm", sounds=["pen_click", "stapler"], patterns=["x...", "..x."],
              gains_db=[0, 0], fills=["xxxx"], takes=1)


def test_motif_takes_differ_and_the_harder_is_louder_and_brighter():
    m = build("motif", notes=[0], beats=[1], root_hz=261.63, bpm=60, every_s=100,
              offset_s=0.0, accent=0, takes=3, velocity_spread=0.3,
              recipe_params={"length_s": 0.5, "release_s": 0.1})
    (src0, g0), (src1, g1), (src2, g2) = m.source[0.0]
    a, b, c = (m.bank.sources[k][:, 0] for k in (src0, src1, src2))
    assert g0 < g1 < g2

    def centroid(x):
        spec = np.abs(np.fft.rfft(x[:SR // 5]))
        return np.sum(np.fft.rfftfreq(SR // 5, 1 / SR) * spec) / np.sum(spec)

    assert centroid(a) < centroid(b) < centroid(c)  # struck harder, brighter
    for x, y in ((a, b), (b, c), (a, c)):
        assert abs(np.corrcoef(x, y)[0, 1]) < 0.9


def test_motif_plays_the_figure_in_time_and_in_tune():
    m = build("motif", notes=[12, 7, 4, 0], beats=[1, 1, 1, 1], root_hz=440, bpm=60,
              every_s=100, offset_s=0.5, accent=0, recipe="sine_ping",
              recipe_params={"length_s": 0.9, "decay_s": 0.3})
    (out,) = run([m], 5.0)
    assert starts(out, threshold=1e-4) == pytest.approx([24000, 72000, 120000, 168000], abs=2)
    for k, semis in enumerate([12, 7, 4, 0]):
        x = out[24000 + k * SR + 1000:24000 + k * SR + 41000, 0]
        f = np.fft.rfftfreq(len(x), 1 / SR)[np.argmax(np.abs(np.fft.rfft(x)))]
        assert f == pytest.approx(440 * 2 ** (semis / 12), rel=0.01)


def test_motif_fragmentation_and_dissonance():
    common = dict(notes=[7, 3, 2, -2], beats=[1, 1, 1, 1], root_hz=220, bpm=120,
                  every_s=2.0, offset_s=0.0, recipe="sine_ping",
                  recipe_params={"length_s": 0.4, "decay_s": 0.1})
    (silent,) = run([build("motif", drop=1.0, **common)], 6.0)
    assert np.abs(silent).max() == 0.0
    sour = build("motif", dissonance=1.0, **common)
    (out,) = run([sour], 2.0)
    # Every note raised or doubled a semitone: the semitone-up partials are present.
    spec = np.abs(np.fft.rfft(out[:, 0]))
    f = np.fft.rfftfreq(len(out), 1 / SR)
    level = lambda hz: spec[np.abs(f - hz) < 2].max()  # noqa: E731
    ups = [220 * 2 ** ((s + 1) / 12) for s in (7, 3, 2, -2)]
    assert min(level(hz) for hz in ups) > 0.1 * spec.max()


def test_glitch_cuts_silence_the_scene_for_50_to_300_ms():
    cut = SceneCut(1024)
    drone = build("drone", name="cutscene.sub", freq_hz=200, voices=1, drift_cents=0)
    glitch = build("glitch", name="cutscene.chip", rate_hz=2.0, pop_share=0.0,
                   hiss_share=0.0, cut_ms=[50, 300], seed=5, scene_cut=cut)
    out = run_scene([drone, glitch], cut, 20.0)
    env = np.abs(out[:, 0]).reshape(-1, 48).max(axis=1)  # 1 ms peaks
    quiet = env < 1e-4
    edges = np.flatnonzero(np.diff(quiet.astype(int)))
    runs = [(b - a) for a, b in zip(edges[::2] + 1, edges[1::2] + 1)] if quiet[0] == 0 else []
    assert len(runs) >= 15  # about 40 expected in 20 s; overlapping cuts merge
    assert min(runs) >= 48 and max(runs) <= 900  # ms (merged neighbours may reach past 300)
    assert np.median(runs) <= 300


def test_scheduled_silence():
    cut = SceneCut(1024)
    drone = build("drone", name="gapscene.sub", freq_hz=200, voices=1, drift_cents=0)
    gaps = build("silence", name="gapscene.gaps", every_s=2.0, jitter=0.0, silence_s=0.5,
                 offset_s=1.0, ramp_ms=20, scene_cut=cut)
    out = run_scene([drone, gaps], cut, 6.0)
    for start in (1.0, 3.0, 5.0):
        inside = out[int((start + 0.03) * SR):int((start + 0.5) * SR)]
        assert np.abs(inside).max() < 1e-6
        assert np.abs(out[int((start - 0.3) * SR):int((start - 0.1) * SR)]).max() > 0.5


def test_drone_never_goes_below_25_hz():
    d = build("drone", freq_hz=30, bend=-12, voices=1, drift_cents=0)
    (out,) = run([d], 4.0)
    x = out[SR:, 0]
    f = np.fft.rfftfreq(len(x), 1 / SR)[np.argmax(np.abs(np.fft.rfft(x)))]
    assert f == pytest.approx(25.0, abs=0.5)


def test_cue_sounds_on_the_first_frame_after_entry():
    cue = build("cue", recipe="sine_ping", recipe_params={"freq_hz": 1000, "attack_s": 0.0005})
    cue.enter()
    (out,) = run([cue], 0.5)
    assert starts(out, threshold=1e-3)[0] <= 48
