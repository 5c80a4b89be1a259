import textwrap
from pathlib import Path

import pytest

from severed.config import load_show, load_show_text
from severed.config.model import Guards, ReverbSpec, TensionSpec
from severed.engine.params import Const, Lfo, Mapping, Ramp
from severed.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
[show]
name = "example"
initial_scene = "outie"
crossfade_s = 2.0

[tension]
rise_per_start = 0.2
decay_s = 30
sensors = ["motion"]

[scenes.outie]
loudness_lufs = -32
reverb = { decay_s = 4.0, damping = 0.4, predelay_ms = 30 }

[scenes.outie.layers.hum]
type = "testtone"
gain_db = -30
reverb_send = 0.3
freq_hz = { lfo = "sine", rate_hz = 0.03, min = 300, max = 900 }
wave = "saw"

[scenes.outie.layers.off]
type = "testtone"
enabled = false

[scenes.descent]
[scenes.descent.layers.rise]
type = "testtone"
gain_db = { from = -60, to = -20, over_s = 30 }
freq_hz = { map = "tension", out = [100, 400] }
voices = 5
ratios = [1, 1.5]

[scenes.innie]

[scenes.barrier]
overlay = true

[[transitions]]
from = "outie"
to = "descent"
on = "door.closed"
if_motion_within_s = 10
if_sensor = { door = "closed" }
crossfade_s = 0.5

[[transitions]]
from = "descent"
to = "innie"
after_s = 12
curve = "linear"

[[transitions]]
from = ["descent", "innie"]
on = "door.open"
overlay = "barrier"
overlay_s = 8
if_tension_above = 0.2
if_tension_below = 0.9

[[transitions]]
from = "*"
to = "outie"
on = "cmd.mute"
"""


def show(text, path="show.toml", warnings=None):
    return load_show_text(textwrap.dedent(text), path, warnings)


def problems(text, path="show.toml"):
    with pytest.raises(ConfigError) as info:
        show(text, path)
    return info.value.problems


@pytest.fixture
def good(test_layer):
    warnings = []
    return show(GOOD, warnings=warnings), warnings


def test_good_show_builds_every_object(good):
    s, warnings = good
    assert warnings == []
    assert s.name == "example" and s.initial_scene == "outie" and s.crossfade_s == 2.0
    assert list(s.scenes) == ["outie", "descent", "innie", "barrier"]
    assert s.tension == TensionSpec(0.2, 0.03, 30.0, ("motion",))
    outie = s.scenes["outie"]
    assert outie.loudness_lufs == -32 and outie.reverb == ReverbSpec(4.0, 0.4, 30.0)
    assert [layer.name for layer in outie.layers] == ["hum"]  # "off" is disabled
    hum = outie.layers[0]
    assert hum.type == "testtone"
    assert hum.gain_db == Const(-30.0) and hum.reverb_send == Const(0.3)
    assert hum.params["freq_hz"] == Lfo("sine", 0.03, 300.0, 900.0, 0.0)
    assert hum.params["wave"] == "saw"
    # every declared param present, the mix params not
    assert set(hum.params) == {"freq_hz", "voices", "wave", "sticky", "ratios", "label"}
    assert hum.params["voices"] == 3 and hum.params["sticky"] is False
    rise = s.scenes["descent"].layers[0]
    assert rise.gain_db == Ramp(-60.0, -20.0, 30.0)
    assert rise.params["freq_hz"] == Mapping("tension", 0.0, 1.0, 100.0, 400.0)
    assert rise.params["voices"] == 5 and rise.params["ratios"] == [1, 1.5]
    assert rise.reverb_send == Const(0.0)  # MIX_PARAMS default
    assert s.scenes["barrier"].overlay and s.scenes["innie"].reverb == ReverbSpec()


def test_good_show_transitions(good):
    s, _ = good
    t1, t2, t3, t4 = s.transitions
    assert t1.sources == ("outie",) and t1.to == "descent" and t1.on == "door.closed"
    assert t1.guards == Guards(motion_within_s=10, sensor_states=(("door", "closed"),))
    assert t1.crossfade_s == 0.5 and t1.curve == "equal_power"
    assert t2.after_s == 12 and t2.on is None and t2.crossfade_s == 2.0 and t2.curve == "linear"
    assert t3.sources == ("descent", "innie") and t3.to is None
    assert t3.overlay == "barrier" and t3.overlay_s == 8
    assert t3.guards.min_tension == 0.2 and t3.guards.max_tension == 0.9
    assert t4.sources == ("*",) and t4.on == "cmd.mute"


def test_layer_problems_name_scene_layer_and_line(test_layer):
    text = GOOD.replace('wave = "saw"', 'wave = "square"\nfreq_hx = 3\nvoices = 9') \
               .replace('ratios = [1, 1.5]', 'ratios = [1, 9]') \
               .replace('rate_hz = 0.03, min = 300', 'rate_hz = 0.03, min = 3')
    p = problems(text)
    assert len(p) == 5, p
    joined = "\n".join(p)
    assert "show.toml:21: scenes.outie.layers.hum.freq_hx: not a parameter of layer type " \
           "'testtone' (did you mean 'freq_hz'?)" in joined
    assert "show.toml:20: scenes.outie.layers.hum.wave: 'square' is not one of sine, saw" in joined
    assert "show.toml:22: scenes.outie.layers.hum.voices: 9 is above the maximum 8" in joined
    assert "show.toml:19: scenes.outie.layers.hum.freq_hz: 3.0 is below the minimum 20.0" in joined
    assert "scenes.descent.layers.rise.ratios: 9 is above the maximum 8.0" in joined


def test_automation_table_problems_name_inner_key(test_layer):
    text = GOOD.replace('freq_hz = { map = "tension", out = [100, 400] }',
                        'freq_hz = { map = "tension", outt = [100, 400] }') \
               .replace('gain_db = { from = -60, to = -20, over_s = 30 }',
                        'gain_db = { from = -60, to = -20, over_s = -1 }')
    p = problems(text)
    assert "show.toml:29: scenes.descent.layers.rise.gain_db.over_s: must be 0 or more" in p
    assert any(x.startswith("show.toml:30: scenes.descent.layers.rise.freq_hz.outt: unknown key")
               for x in p)
    assert "show.toml:30: scenes.descent.layers.rise.freq_hz.out: is required" in p


def test_non_automatable_param_rejects_automation(test_layer):
    p = problems(GOOD.replace("voices = 5", "voices = { from = 1, to = 4, over_s = 3 }"))
    assert p == ["show.toml:31: scenes.descent.layers.rise.voices: must be a whole number, "
                 "not a table"]


def test_unknown_layer_type_did_you_mean(test_layer):
    p = problems(GOOD.replace('type = "testtone"\ngain_db = -30', 'type = "testone"\ngain_db = -30'))
    assert len(p) == 1
    assert p[0].startswith("show.toml:16: scenes.outie.layers.hum.type: unknown layer type "
                           "'testone'")
    assert p[0].endswith("(did you mean 'testtone'?)")


def test_cross_checks_on_scenes(test_layer):
    text = GOOD.replace('initial_scene = "outie"', 'initial_scene = "outy"') \
               .replace('to = "innie"', 'to = "inny"') \
               .replace('overlay = "barrier"', 'overlay = "innie"') \
               .replace('from = "*"\nto = "outie"', 'from = "*"\nto = "barrier"')
    p = problems(text)
    assert "show.toml:3: show.initial_scene: no scene 'outy' (did you mean 'outie'?)" in p
    assert "show.toml:49: transitions[2].to: no scene 'inny' (did you mean 'innie'?)" in p
    assert any(x.startswith("show.toml:56: transitions[3].overlay: 'innie' is not an overlay")
               for x in p)
    assert any(x.startswith("show.toml:63: transitions[4].to: 'barrier' is an overlay scene")
               for x in p)
    assert len(p) == 4, p


def test_transition_needs_exactly_one_trigger_and_one_target(test_layer):
    text = GOOD + '\n[[transitions]]\nfrom = "outie"\nto = "innie"\noverlay = "barrier"\n' \
                  'on = "door.open"\nafter_s = 3\n'
    p = problems(text)
    assert p == [
        "show.toml:66: transitions[5]: needs exactly one of 'to' (change scene) or 'overlay' "
        "(switch an overlay on)",
        "show.toml:66: transitions[5]: needs exactly one of 'on' (an event) or 'after_s' "
        "(a timer)"]


@pytest.mark.parametrize("on, msg", [
    ("door", "is not an event name"),
    ("door.shut", "'shut' is not a sensor state"),
    ("cmd.scen", "unknown command 'cmd.scen'"),
    ("door.closed.now", "is not an event name"),
])
def test_event_names_are_checked(test_layer, on, msg):
    p = problems(GOOD.replace('on = "door.closed"', f'on = "{on}"'))
    assert len(p) == 1 and p[0].startswith("show.toml:42: transitions[1].on: ")
    assert msg in p[0]


def test_guard_problems(test_layer):
    text = GOOD.replace("if_tension_above = 0.2", "if_tension_above = 0.95") \
               .replace('if_sensor = { door = "closed" }', 'if_sensor = { door = "shut" }')
    p = problems(text)
    assert any("transitions[1].if_sensor.door: 'shut' is not a sensor state" in x for x in p)
    assert any("transitions[3].if_tension_below: 0.9 is not above if_tension_above" in x
               for x in p)


def test_unreachable_scene_is_a_warning(test_layer):
    warnings = []
    s = show(GOOD + "\n[scenes.attic]\n", warnings=warnings)
    assert "attic" in s.scenes
    assert warnings == ["show.toml:66: scenes.attic: warning: no transition reaches this "
                        "scene from the initial scene (only a cmd.scene command can play it)"]


def test_show_without_scenes():
    p = problems("[show]\ninitial_scene = 'a'\n")
    assert p == ["show.toml: scenes: a show needs at least one scene: [scenes.NAME]"]


def test_builtin_name_not_found_suggests():
    with pytest.raises(ConfigError) as info:
        load_show("no-such-show-xyz")
    assert "no such show file or built-in show" in info.value.problems[0]


def test_load_show_from_file(tmp_path, test_layer):
    f = tmp_path / "mine.toml"
    f.write_text(GOOD.replace('name = "example"\n', ""))
    s = load_show(str(f))
    assert s.name == "mine" and s.path == str(f)


def test_builtin_shows_load_cleanly_with_the_real_layer_types():
    """Every shipped show passes, with no warnings, against the example site's sensors."""
    from severed.config import builtin_shows, check_show_for_site, load_site

    names = builtin_shows()
    if not names:
        pytest.skip("no built-in show yet")
    site = load_site(ROOT / "installation" / "severed.toml")
    for name in names:
        warnings = []
        s = load_show(name, warnings=warnings)
        assert warnings == [], name
        assert s.initial_scene in s.scenes
        assert s.transitions or name == "safe", name  # safe mode stays put on purpose
        assert check_show_for_site(s, site) == ([], []), name


REACTIVE = """\
[show]
initial_scene = "office"
[scenes.office.layers.stapler]
type = "cue"
recipe = "stapler"
[scenes.office.layers.hum]
type = "hum"
[scenes.alarm]
overlay = true
[scenes.alarm.layers.bell]
type = "cue"
recipe = "elevator_bell"
"""


def test_reactions_build_with_their_guards():
    s = show(REACTIVE + '[[reactions]]\non = "motion.start"\ntrigger = "stapler"\n'
                        'if_tension_above = 0.5\n'
                        '[[reactions]]\nfrom = ["alarm"]\non = "reward.press"\n'
                        'trigger = "bell"\n')
    first, second = s.reactions
    assert (first.sources, first.on, first.layer) == (("*",), "motion.start", "stapler")
    assert first.guards == Guards(min_tension=0.5)
    assert (second.sources, second.layer) == (("alarm",), "bell")  # overlays may react


@pytest.mark.parametrize("reaction, message", [
    ('from = "office"\non = "motion.start"\ntrigger = "stapple"',
     "show.toml:16: reactions[1].trigger: no layer 'stapple' in 'office' "
     "(did you mean 'stapler'?)"),
    ('on = "motion.start"\ntrigger = "hum"',
     "show.toml:15: reactions[1].trigger: layer 'hum' is a 'hum', which has no one-shot "
     "to play (types that do: cue, motif, sampler)"),
    ('on = "motion.begin"\ntrigger = "stapler"',
     "show.toml:14: reactions[1].on: 'begin' is not a sensor state"),
    ('on = "motion.start"',
     "show.toml:13: reactions[1].trigger: is required"),
    ('on = "motion.start"\ntrigger = "stapler"\nif_motion_within = 3',
     "show.toml:16: reactions[1].if_motion_within: unknown key (did you mean "
     "'if_motion_within_s'?)"),
])
def test_reaction_problems_name_the_key(reaction, message):
    p = problems(REACTIVE + "[[reactions]]\n" + reaction + "\n")
    assert len(p) == 1 and p[0].startswith(message), p


def test_layer_after_names_the_scenes_an_entry_comes_from():
    base = ('[show]\ninitial_scene = "outie"\n[scenes.ascent]\n[scenes.glare]\n'
            'overlay = true\n[scenes.outie.layers.buzz]\ntype = "hum"\n')
    s = show(base + 'after = ["ascent"]\n')
    assert s.scenes["outie"].layers[0].after == ("ascent",)
    p = problems(base + 'after = ["ascnt", "glare", "outie"]\n')
    assert p == [
        "show.toml:8: scenes.outie.layers.buzz.after: 'ascnt' is no scene: name the "
        "scenes the show comes from into 'outie' (did you mean 'ascent'?)",
        "show.toml:8: scenes.outie.layers.buzz.after: 'glare' is an overlay: name the "
        "scenes the show comes from into 'outie'",
        "show.toml:8: scenes.outie.layers.buzz.after: 'outie' is its own scene: name the "
        "scenes the show comes from into 'outie'"]


OLD_TENSION = """\
[show]
initial_scene = "a"
[tension]
rise = 0.3
decay_s = 40
[scenes.a]
"""


def test_a_show_written_when_only_starts_counted_keeps_its_rise_with_a_warning():
    warnings = []
    s = load_show_text(OLD_TENSION, "old.toml", warnings=warnings)
    assert s.tension == TensionSpec(rise_per_start=0.3, rise_per_s=0.03, decay_s=40.0)
    assert len(warnings) == 1
    w = warnings[0]
    assert w.startswith("old.toml:4: tension.rise: warning: renamed rise_per_start: "
                        "write rise_per_start = 0.3."), w
    assert "by rise_per_s a second per sensor (0.03 unless set)" in w
    assert "rise_per_s = 0 keeps the old model" in w


def test_the_old_rise_with_its_new_name_is_an_error():
    text = OLD_TENSION.replace("decay_s = 40", "rise_per_start = 0.2")
    with pytest.raises(ConfigError) as exc:
        load_show_text(text, "old.toml")
    assert exc.value.problems == ["old.toml:4: tension.rise: the old name of "
                                  "rise_per_start: give only rise_per_start"]
    bad = OLD_TENSION.replace("rise = 0.3", "rise = 3")
    with pytest.raises(ConfigError) as exc:
        load_show_text(bad, "old.toml")
    assert exc.value.problems == ["old.toml:4: tension.rise: 3 is above the maximum 1"]
