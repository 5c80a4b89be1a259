"""Cuts silence their whole scene: glitch cuts and scheduled silences measured on a
scene of a pad, a hum and a noise bed (with reverb) whose cutting layer comes last in
the table. Inside a cut the scene is below -60 dBFS, it comes back at its level, the
edges are ramps and not clicks, and neither another scene nor another engine is cut.

A scene heard alone has its cut applied after the master's 20 Hz high-pass: inside
the cut the output is digital silence. A scene cut while another plays (a crossfade,
an overlay) is cut before the master; then the high-pass settles for a few tens of
milliseconds after the cut's edge (it lets go of the lowest frequencies it was holding
back): still below -60 dBFS over a silence with 20 ms fades."""

import numpy as np
import pytest

from severed.config import load_show_text
from severed.engine.engine import Engine
from severed.show import events as ev

SR = 48000

BED = """
[scenes.{scene}]
reverb = {{ decay_s = 1.5, damping = 0.4, predelay_ms = 10 }}
[scenes.{scene}.layers.pad]
type = "pad"
gain_db = -20
reverb_send = 0.3
[scenes.{scene}.layers.hum]
type = "hum"
gain_db = -26
[scenes.{scene}.layers.bed]
type = "noise"
color = "pink"
gain_db = -24
reverb_send = 0.3
"""

# The first silence: a 20 ms fade from 2.00 s, silent 2.02 s to 2.52 s, back by 2.54 s;
# heard 5 ms later (the master limiter's look-ahead).
GAPS = """
[scenes.{scene}.layers.gaps]
type = "silence"
every_s = 100
jitter = 0
offset_s = {offset_s}
silence_s = 0.5
ramp_ms = 20
"""
CUT_START_S, CUT_STOP_S, RAMP_S = 2.025, 2.525, 0.02

# Cuts only, 150 ms each, about one a second.
CHIP = """
[scenes.{scene}.layers.chip]
type = "glitch"
rate_hz = 1.0
pop_share = 0.0
hiss_share = 0.0
cut_ms = [150, 150]
"""

TONE = """
[scenes.{scene}.layers.tone]
type = "tone"
freq_hz = 440
gain_db = -20
"""


def show_text(*scenes, initial="a"):
    """``scenes``: (scene name, [fragment, ...]) in table order."""
    text = f'[show]\nname = "cuts"\ninitial_scene = "{initial}"\n'
    for scene, parts in scenes:
        for part in parts:
            text += part.format(scene=scene, offset_s=2.0)
    return text


def make(text, block=2048, seed=3):
    show = load_show_text(text, "cuts.toml")
    engine = Engine(show, sample_rate=SR, max_frames=block, seed=seed)
    engine.start(show.initial_scene, fade_s=0.0)
    return engine


def render(engine, seconds, block=2048, actions=(), probe=None):
    """``actions``: (time_s, action), applied at the first block boundary after.
    ``probe``: a scene name; then return (audio, the scene's cut curve as heard: the
    curve of each block, read after it as the soak probe does, delayed by the
    master's look-ahead)."""
    total = int(seconds * SR)
    out = np.zeros((total, engine.channels), np.float32)
    curve = np.ones(total + block, np.float32)
    buf = np.zeros((block, engine.channels), np.float32)
    pending = sorted(actions, key=lambda a: a[0])
    pos = 0
    while pos < total:
        while pending and pending[0][0] * SR <= pos:
            engine.apply(pending.pop(0)[1])
        n = min(block, total - pos)
        engine.render(buf, n)
        out[pos:pos + n] = buf[:n]
        if probe is not None and not engine.scenes[probe].cut.open:
            curve[pos:pos + n] = engine.scenes[probe].cut.curve[:n]
        pos += n
    if probe is None:
        return out
    latency = engine.master.limiter.lookahead
    return out, np.r_[np.ones(latency, np.float32), curve][:total]


def span(x, a_s, b_s):
    return x[int(a_s * SR):int(b_s * SR)]


def rms_db(x):
    return 10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-30)


def max_step(x):
    return float(np.abs(np.diff(x, axis=0)).max())


@pytest.fixture(scope="module")
def silence_last():
    return render(make(show_text(("a", [BED, GAPS]))), 3.2)


def test_a_scheduled_silence_listed_last_silences_pad_hum_noise_and_reverb(silence_last):
    out = silence_last
    before = span(out, 1.50, 1.98)
    assert rms_db(before) > -30  # the bed plays
    assert np.abs(span(out, CUT_START_S, CUT_STOP_S)).max() == 0.0  # alone: after the master


def test_after_a_silence_the_scene_is_back_at_its_level(silence_last):
    out = silence_last
    before = rms_db(span(out, 1.50, 1.98))
    after = rms_db(span(out, CUT_STOP_S + RAMP_S, CUT_STOP_S + RAMP_S + 0.48))
    assert after == pytest.approx(before, abs=1.0)


def test_the_edges_of_a_silence_are_no_steeper_than_the_sound_around_them(silence_last):
    out = silence_last
    around = max(max_step(span(out, 1.50, 1.98)), max_step(span(out, 2.56, 3.04)))
    fall = max_step(span(out, CUT_START_S - RAMP_S - 0.005, CUT_START_S + 0.005))
    rise = max_step(span(out, CUT_STOP_S - 0.005, CUT_STOP_S + RAMP_S + 0.005))
    assert fall <= around and rise <= around


def test_the_order_of_the_layer_table_does_not_matter(silence_last):
    first = render(make(show_text(("a", [GAPS, BED]))), 3.2)
    assert np.abs(first - silence_last).max() < 1e-6


def test_a_silence_not_yet_due_leaves_the_scene_exactly_as_without_it():
    text = show_text(("a", [BED, GAPS])).replace("offset_s = 2.0", "offset_s = 30.0")
    with_gaps = render(make(text), 1.5)
    without = render(make(show_text(("a", [BED]))), 1.5)
    assert np.array_equal(with_gaps, without)


def test_the_silence_is_where_the_layer_put_it(silence_last):
    _, curve = render(make(show_text(("a", [BED, GAPS]))), 3.2, probe="a")
    silent = np.flatnonzero(curve == 0.0)
    assert silent[0] / SR == pytest.approx(CUT_START_S, abs=1e-4)
    assert silent[-1] / SR == pytest.approx(CUT_STOP_S, abs=1e-4)
    ramp = np.flatnonzero((curve > 0.0) & (curve < 1.0))
    assert len(ramp) == pytest.approx(2 * RAMP_S * SR, abs=2)


def runs_of(mask):
    """(start, stop) of each run of True."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return list(zip(edges[::2], edges[1::2]))


def test_glitch_cuts_listed_last_silence_the_whole_scene_without_clicks():
    text = show_text(("a", [BED, CHIP]))
    out, curve = render(make(text), 8.0, probe="a")
    ref = render(make(text.replace('type = "glitch"', 'type = "glitch"\nenabled = false')), 8.0)
    # The layers keep their own noise streams: without the chip, the same sound uncut.
    cuts = runs_of(curve == 0.0)
    assert len(cuts) >= 4  # about 8 expected
    around = max_step(ref[SR // 2:])
    for a, b in cuts:
        assert 7150 <= b - a <= 2 * 7200  # 150 ms less the ramps; overlapping cuts merge
        assert np.abs(out[a:b]).max() == 0.0
        for edge in (a, b):
            assert max_step(out[edge - 5 * 48:edge + 5 * 48]) <= around
    # Outside the cuts and their ramps the sound is the uncut one.
    near = curve < 1.0
    assert np.abs(out[~near] - ref[~near]).max() < 1e-5


@pytest.mark.parametrize("cutter_first", [True, False])
def test_a_cut_in_the_outgoing_scene_does_not_cut_the_incoming_one(cutter_first):
    """Scene "a" (the bed, with a silence) crosses to "b" (a tone) from 1 s to 3 s; the
    silence at 2 s takes "a" out, "b" plays on. Either order in the show file: the
    scene rendered first in a block renders in place, the other through its bus."""
    a = ("a", [BED, GAPS])
    b = ("b", [TONE])
    order = (a, b) if cutter_first else (b, a)
    change = [(1.0, ev.ChangeScene("a", "b", 2.0, "linear"))]
    out = render(make(show_text(*order)), 3.0, actions=change)
    quiet_a = show_text(*order).replace('type = "pad"', 'type = "pad"\nenabled = false') \
        .replace('type = "hum"', 'type = "hum"\nenabled = false') \
        .replace('type = "noise"', 'type = "noise"\nenabled = false')
    b_alone = render(make(quiet_a), 3.0, actions=change)
    assert rms_db(span(b_alone, CUT_START_S, CUT_STOP_S)) > -30  # "b" is well in
    assert rms_db(span(out - b_alone, 1.5, 1.98)) > -40  # "a" is still heard before
    assert rms_db(span(out - b_alone, CUT_START_S, CUT_STOP_S)) < -60  # and not inside


def test_two_engines_in_one_process_keep_their_cuts_to_themselves():
    """Same scene name, same block size, rendered block by block in turn: each engine's
    output is the one it makes alone."""
    late = show_text(("a", [BED, GAPS]))
    early = late.replace("offset_s = 2.0", "offset_s = 1.0")
    alone = [render(make(early), 3.0), render(make(late), 3.0)]
    engines = [make(early), make(late)]
    block = 2048
    outs = [np.zeros_like(alone[0]) for _ in engines]
    buf = np.zeros((block, 2), np.float32)
    for pos in range(0, len(alone[0]), block):
        n = min(block, len(alone[0]) - pos)
        for engine, out in zip(engines, outs):
            engine.render(buf, n)
            out[pos:pos + n] = buf[:n]
    assert np.array_equal(outs[0], alone[0]) and np.array_equal(outs[1], alone[1])
    # And the cuts differ: the early engine's silence is at 1 s, the late one's at 2 s.
    assert rms_db(span(outs[0], 1.05, 1.5)) < -60 < rms_db(span(outs[1], 1.05, 1.5))


def test_the_test_tone_plays_through_a_cut():
    """A technician's test tone is not part of any scene: a cut leaves it sounding."""
    engine = make(show_text(("a", [BED, GAPS])))
    engine.tone.start("both", freq_hz=1000.0, seconds=10.0)
    out = render(engine, 3.0)
    inside = span(out, CUT_START_S, CUT_STOP_S)[:, 0]
    spectrum = np.abs(np.fft.rfft(inside * np.hanning(len(inside))))
    f = np.fft.rfftfreq(len(inside), 1 / SR)
    assert f[np.argmax(spectrum)] == pytest.approx(1000.0, abs=3.0)
    assert rms_db(inside) > -40
