"""Fuzzing the loaders: show files, site configs and scenarios, as random bytes,
random structures near the schema, and mutations of valid files. Each ends in a
ConfigError whose problems all name the file, or in a valid result that plays: never
another exception, never a hang."""

import contextlib
import re
import signal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from severed.config import (check_show_for_site, load_scenario_text, load_show_text,
                            load_site_text)
from severed.engine.engine import Engine
from severed.errors import ConfigError
from severed.precompute.cache import Cache

from tomlgen import document_text, documents, mutated, values

pytestmark = pytest.mark.filterwarnings("ignore")

FILE = "fuzz.toml"
HANG_S = 10  # any single load or short play taking longer than this is a hang

# A small show with every cheap layer type and every kind of transition; mutations of
# it that still validate are built and played.
SMALL_SHOW = """
[show]
name = "small"
initial_scene = "a"
crossfade_s = 0.2

[tension]
rise_per_start = 0.3
decay_s = 20

[scenes.a]
reverb = { decay_s = 0.5 }

[scenes.a.layers.gl]
type = "glitch"
rate_hz = { map = "tension", out = [0.5, 5.0] }

[scenes.a.layers.n]
type = "noise"
color = "pink"
filter = "lowpass"
cutoff_hz = { lfo = "sine", rate_hz = 0.5, min = 300, max = 900 }
gain_db = -20
reverb_send = 0.3

[scenes.a.layers.t]
type = "tone"
freq_hz = 220
gain_db = { from = -30, to = -12, over_s = 1 }

[scenes.b.layers.d]
type = "drone"
freq_hz = 55
voices = 2
gain_db = -14

[scenes.b.layers.s]
type = "silence"
every_s = 2
silence_s = 0.3
offset_s = 0.5

[scenes.b.layers.h]
type = "hum"
gain_db = -24

[scenes.b.layers.p]
type = "pad"
freqs_hz = [110.0, 165.0]
gain_db = -20

[scenes.o]
overlay = true

[scenes.o.layers.c]
type = "clicks"
rate_hz = 8
gain_db = -20

[[transitions]]
from = "a"
to = "b"
on = "door.closed"
if_motion_within_s = 30

[[transitions]]
from = "b"
to = "a"
after_s = 3
curve = "cut"

[[transitions]]
from = "*"
on = "motion.start"
if_tension_above = 0.5
overlay = "o"
overlay_s = 1
"""

DEV_SITE_EXTRA = """
[hours]
open = "09:00"
close = "18:00"
days = ["mon", "tue"]
fade_s = 10

[audio]
dac = "none"
device = "null"
sample_rate = 48000
block_frames = 1024
render_ahead_blocks = 3
sample_format = "int16"
"""

SCENARIO = """
seed = 3
duration_s = 6
[[timeline]]
at_s = 0.5
sensor = "motion"
level = 1
[[timeline]]
at_s = 1.0
sensor = "door"
level = 1
[[timeline]]
at_s = 1.5
command = "volume"
db = -6
[[timeline]]
at_s = 2.0
command = "trigger"
event = "motion.start"
[[timeline]]
at_s = 2.5
command = "scene"
scene = "o"
[[timeline]]
at_s = 3.0
command = "mute"
[[timeline]]
at_s = 3.5
command = "unmute"
"""


@contextlib.contextmanager
def no_hang(seconds=HANG_S):
    def alarm(signum, frame):
        raise TimeoutError(f"took longer than {seconds} s: a hang")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def expect_config_error_or(load, text):
    """``load(text)``'s result, or None after a ConfigError that names the file."""
    with no_hang():
        try:
            return load(text)
        except ConfigError as exc:
            assert exc.problems, "a ConfigError without problems"
            for p in exc.problems:
                assert isinstance(p, str) and p.startswith(FILE + ":"), p
            return None


def lumon_text():
    import importlib.resources
    return (importlib.resources.files("severed") / "shows" / "lumon.toml").read_text()


def dev_site_text():
    from severed.commands.common import dev_site_path
    with open(dev_site_path(), encoding="utf-8") as fh:
        text = fh.read()
    # DEV_SITE_EXTRA brings a full [audio] table: drop the dev config's own.
    return re.sub(r"(?ms)^\[audio\]\n.*?(?=^\[)", "", text) + DEV_SITE_EXTRA


@pytest.fixture(scope="module")
def dev_site():
    return load_site_text(dev_site_text(), "dev.toml")


@pytest.fixture(scope="module")
def small_show():
    return load_show_text(SMALL_SHOW, "small.toml")


def play(show, frames=512, blocks=4):
    """Build the show's engine and render a few blocks of each scene: all finite."""
    engine = Engine(show, max_frames=frames, seed=1, cache=Cache(None))
    engine.start(show.initial_scene, fade_s=0.0)
    out = np.zeros((frames, 2), np.float32)
    for name in show.scenes:
        from severed.show.events import ChangeScene
        engine.apply(ChangeScene(engine.current, name, 0.01))
        for _ in range(blocks):
            engine.render(out, frames)
            assert np.isfinite(out).all(), name


FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

text_or_bytes = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("utf-8", errors="replace")),
)


# ------------------------------------------------------------------ random text


@FUZZ
@given(text_or_bytes)
def test_random_text_as_a_show(text):
    expect_config_error_or(lambda t: load_show_text(t, FILE), text)


@FUZZ
@given(text_or_bytes)
def test_random_text_as_a_site(text):
    expect_config_error_or(lambda t: load_site_text(t, FILE), text)


@FUZZ
@given(text_or_bytes)
def test_random_text_as_a_scenario(text):
    expect_config_error_or(lambda t: load_scenario_text(t, FILE), text)


# ------------------------------------------------------- structures near the schema


@FUZZ
@given(documents)
def test_random_structures_as_any_file(data):
    text = document_text(data)
    for load in (load_show_text, load_site_text, load_scenario_text):
        expect_config_error_or(lambda t: load(t, FILE), text)


@FUZZ
@given(st.dictionaries(st.sampled_from(["show", "tension", "scenes", "transitions"]),
                       values, min_size=1, max_size=4))
def test_random_show_sections(data):
    expect_config_error_or(lambda t: load_show_text(t, FILE), document_text(data))


# ------------------------------------------------------------- mutated valid files


@FUZZ
@given(mutated(SMALL_SHOW))
def test_mutated_small_show_fails_clearly_or_plays(text):
    show = expect_config_error_or(lambda t: load_show_text(t, FILE), text)
    if show is not None:
        with no_hang():
            play(show)


@settings(FUZZ, max_examples=40)
@given(mutated(lumon_text()))
def test_mutated_lumon_show(text):
    expect_config_error_or(lambda t: load_show_text(t, FILE), text)


@FUZZ
@given(text=mutated(dev_site_text()))
def test_mutated_site_fails_clearly_or_checks_against_the_show(text, small_show):
    site = expect_config_error_or(lambda t: load_site_text(t, FILE), text)
    if site is not None:
        with no_hang():
            errors, warnings = check_show_for_site(small_show, site)
        assert all(isinstance(e, str) for e in errors + warnings)


@FUZZ
@given(text=mutated(SCENARIO))
def test_mutated_scenario_fails_clearly_or_plays(text, dev_site, small_show):
    from severed.hardware.sinks import NullSink
    from severed.loop import RenderLoop
    scenario = expect_config_error_or(
        lambda t: load_scenario_text(t, FILE, show=small_show, site=dev_site), text)
    if scenario is None:
        return
    loop = RenderLoop(small_show, dev_site, NullSink(), scenario=scenario, block_frames=1024,
                      cache=Cache(None))
    with no_hang():
        loop.run(seconds=min(scenario.duration_s, 4.0))
    assert np.isfinite(loop.peak_dbfs)


# ------------------------------------------------- shapes random fuzzing rarely makes


@pytest.mark.parametrize("kind", ["array", "inline-table"])
def test_deeply_nested_values_are_a_config_error(kind):
    n = 1000
    text = ("a = " + "[" * n + "]" * n if kind == "array"
            else "a = " + "{b = " * n + "1" + "}" * n)
    expect_config_error_or(lambda t: load_show_text(t, FILE), text)


def test_a_long_dotted_table_header_loads_in_seconds():
    text = "[" + "a." * 50000 + "b]\n"
    with no_hang(3):
        try:
            load_show_text(text, FILE)
        except ConfigError:
            pass


# ---------------------------------------------------------------- stems


def _wav_bytes(frames=480, channels=2, rate=48000, bits=16):
    import io
    import wave
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(bits // 8)
        w.setframerate(rate)
        w.writeframes(bytes(frames * channels * bits // 8))
    return buf.getvalue()


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_damaged_stems_are_refused_by_name_or_play(tmp_path_factory, data):
    """A stem cut short, overwritten in places, or replaced by random bytes, as a show
    names it: ``severed check``'s and a reload's stem check (``check_stems``) names
    the file, or the file is audio the cache converts. Never another exception."""
    from severed.config.model import SiteConfig
    from severed.preflight import check_stems
    good = _wav_bytes(frames=data.draw(st.integers(1, 2000)),
                      channels=data.draw(st.integers(1, 3)),
                      bits=data.draw(st.sampled_from([8, 16, 24, 32])))
    how = data.draw(st.sampled_from(["cut", "poke", "random"]))
    if how == "cut":
        raw = good[:data.draw(st.integers(0, len(good)))]
    elif how == "poke":
        raw = bytearray(good)
        for _ in range(data.draw(st.integers(1, 6))):
            raw[data.draw(st.integers(0, min(len(raw) - 1, 60)))] = data.draw(
                st.integers(0, 255))
        raw = bytes(raw)
    else:
        raw = data.draw(st.binary(max_size=400))
    folder = tmp_path_factory.mktemp("stem")
    name = data.draw(st.sampled_from(["x.wav", "x.flac", "x.ogg", "x"]))
    (folder / name).write_bytes(raw)
    (folder / "show.toml").write_text(
        f'[show]\nname = "s"\ninitial_scene = "a"\n[scenes.a.layers.m]\ntype = "sampler"\n'
        f'file = "{name}"\n')
    from severed.config import load_show
    show = load_show(str(folder / "show.toml"))
    with no_hang():
        errors = check_stems(SiteConfig(), show)
        if errors:
            assert len(errors) == 1 and str(folder / name) in errors[0], errors
            assert "scenes.a.layers.m.file" in errors[0], errors
            return
        cache = Cache(str(folder / "c"))
        from severed.precompute.stems import Stem
        audio = cache.get_or_render(Stem(str(folder / name)), 48000)
    assert audio.shape[0] >= 1 and audio.shape[1] in (1, 2) and np.isfinite(audio).all()
