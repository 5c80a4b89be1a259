"""Reading and checking show files: scenes, layers, transitions, tension.

``load_show(source)`` takes a path to a show file or the name of a built-in show
(``src/severed/shows/NAME.toml``) and returns a :class:`~severed.config.model.Show`, or
raises a ConfigError listing every problem::

    warnings = []
    show = load_show("lumon", warnings=warnings)
    print(show.initial_scene, list(show.scenes))

Layer parameters are checked against the layer type's own declaration
(``LAYER_TYPES[type].PARAMS`` plus the mix parameters every layer has); numeric ones
become Automations. A layer with ``enabled = false`` is checked and then left out.
Scenes no transition can reach are warnings, not errors.
"""

import importlib.resources
import os
import re

from severed.config.model import (Guards, LayerSpec, Reaction, ReverbSpec, SceneSpec,
                                  Show, TensionSpec, Transition)
from severed.config.schema import (Field, Report, check_table, check_value, did_you_mean,
                                   hand_over_warnings, join_key, parse_toml, read_text,
                                   type_ok)
from severed.errors import ConfigError
from severed.show.events import KIND_STATES

CURVES = ("equal_power", "linear", "cut")
COMMANDS = ("scene", "volume", "mute", "unmute", "trigger")
#: Every state a sensor event may name, whatever the sensor's kind.
SENSOR_STATES = tuple(s for pair in KIND_STATES.values() for s in pair) + ("fault", "recovered")

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_EVENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)\.([A-Za-z_]+)$")

SHOW_FIELDS = (
    Field("name", str, None, doc="name of the show, in logs"),
    Field("initial_scene", str, None, required=True, doc="scene playing at start"),
    Field("crossfade_s", float, 3.0, min=0.0, max=120.0, doc="default crossfade"),
    Field("curve", str, "equal_power", choices=CURVES, doc="default crossfade curve"),
)

TENSION_FIELDS = (
    Field("rise_per_start", float, 0.05, min=0.0, max=1.0,
          doc="added at each start of a tension sensor"),
    Field("rise_per_s", float, 0.03, min=0.0, max=1.0,
          doc="added per second while a tension sensor is active, per sensor"),
    Field("decay_s", float, 60.0, min=0.1, max=3600.0, doc="time constant of the fall to 0"),
    Field("sensors", list, [], items=str, doc="sensors that drive it; empty: every pir"),
)
#: The name ``rise_per_start`` had when tension counted only starts of motion.
OLD_RISE = "rise"

SCENE_FIELDS = (
    Field("loudness_lufs", float, None, min=-70.0, max=0.0, doc="target loudness"),
    Field("overlay", bool, False, doc="plays on top of the current scene"),
    Field("reverb", dict, None, doc="the scene's reverb"),
    Field("mono", bool, False, doc="the whole output mono while the scene plays (other "
          "scenes' tails included), narrowing over the crossfade into it"),
    Field("layers", dict, {}, doc="the scene's layers"),
)

REVERB_FIELDS = (
    Field("decay_s", float, 1.5, min=0.1, max=30.0, doc="RT60"),
    Field("damping", float, 0.5, min=0.0, max=1.0, doc="0 bright .. 1 dark"),
    Field("predelay_ms", float, 10.0, min=0.0, max=500.0, doc="delay before the reverb"),
)

GUARD_FIELDS = (  # shared by transitions and reactions
    Field("if_motion_within_s", float, None, min=0.0, max=86400.0),
    Field("if_no_motion_for_s", float, None, min=0.0, max=86400.0),
    Field("if_sensor", dict, None, doc="{ sensor = \"state\", ... }"),
    Field("if_tension_above", float, None, min=0.0, max=1.0),
    Field("if_tension_below", float, None, min=0.0, max=1.0),
)

TRANSITION_FIELDS = (
    Field("from", object, None, required=True, doc="a scene, a list of scenes, or \"*\""),
    Field("to", str, None, doc="target scene"),
    Field("overlay", str, None, doc="overlay scene to switch on instead"),
    Field("on", str, None, doc="event that fires it"),
    Field("after_s", float, None, min=0.0, max=86400.0, doc="seconds in the source scene"),
) + GUARD_FIELDS + (
    Field("crossfade_s", float, None, min=0.0, max=120.0),
    Field("curve", str, None, choices=CURVES),
    Field("overlay_s", float, None, min=0.0, max=86400.0, doc="overlay off after this long"),
)

REACTION_FIELDS = (
    Field("from", object, "*", doc="a scene or overlay, a list of them, or \"*\""),
    Field("on", str, None, required=True, doc="event that fires it"),
    Field("trigger", str, None, required=True, doc="layer whose one-shot it plays"),
) + GUARD_FIELDS


def layer_types():
    """The registry of layer types (type name -> Layer class)."""
    from severed.engine.layers import LAYER_TYPES  # importing it registers every type

    return LAYER_TYPES


def builtin_shows():
    """Names of the built-in shows."""
    root = importlib.resources.files("severed") / "shows"
    try:
        return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))
    except (FileNotFoundError, NotADirectoryError):
        return []


def resolve_show(source):
    """The file of a show given as a path or a built-in name; ConfigError if none."""
    source = str(source)
    if os.path.exists(source) or "/" in source or source.endswith(".toml"):
        return source
    candidate = importlib.resources.files("severed") / "shows" / f"{source}.toml"
    if candidate.is_file():
        return str(candidate)
    names = builtin_shows()
    raise ConfigError(f"{source}: no such show file or built-in show (built-in: "
                      f"{', '.join(names) or 'none'}){did_you_mean(source, names)}")


def load_show(source, warnings=None):
    """Read and check a show (a path or a built-in name); return a Show."""
    path = resolve_show(source)
    return load_show_text(read_text(path), path, warnings)


def load_show_text(text, path=None, warnings=None):
    """Check show ``text`` (``path`` names it in messages); return a Show or raise
    ConfigError with every problem. Warnings go to ``warnings`` if it is a list."""
    report = Report(path, text)
    data = parse_toml(text, report.path)
    show = check_show_data(data, path, report)
    hand_over_warnings(report, warnings)
    report.raise_if_errors()
    return show


def check_show_data(data, path, report):
    """Build a Show from parsed TOML, reporting problems into ``report``."""
    sections = ("show", "tension", "scenes", "transitions", "reactions")
    for key in data:
        if key not in sections:
            report.error(key, "unknown section" + did_you_mean(key, sections))
    head = check_table(data.get("show", {}), SHOW_FIELDS, "show", report)
    name = head["name"] or (os.path.splitext(os.path.basename(path))[0] if path else "show")
    tension = _check_tension(data.get("tension", {}), report)
    scenes = _check_scenes(data.get("scenes"), report)
    initial = head["initial_scene"]
    if initial is not None and scenes is not None:
        if initial not in scenes:
            report.error("show.initial_scene", f"no scene {initial!r}"
                         + did_you_mean(initial, list(scenes)))
        elif scenes[initial].overlay:
            report.error("show.initial_scene", f"{initial!r} is an overlay scene; the show "
                         "must start in a normal scene")
    transitions = _check_transitions(data.get("transitions", []), scenes or {}, head, report)
    reactions = _check_reactions(data.get("reactions", []), scenes or {}, report)
    if scenes and initial in scenes:
        _warn_unreachable(initial, scenes, transitions, report)
    return Show(path=str(path) if path is not None else None, name=name,
                initial_scene=initial or "", scenes=scenes or {},
                transitions=tuple(transitions), reactions=tuple(reactions),
                tension=TensionSpec(tension["rise_per_start"], tension["rise_per_s"],
                                    tension["decay_s"], tuple(tension["sensors"])),
                crossfade_s=head["crossfade_s"], curve=head["curve"])


def _check_tension(raw, report):
    """The [tension] table; a show written when tension counted only starts of motion
    (``rise``) keeps its meaning under the new name, with a warning that says so."""
    values = check_table(raw, TENSION_FIELDS, "tension", report, extra=(OLD_RISE,))
    if not isinstance(raw, dict) or OLD_RISE not in raw:
        return values
    key = join_key("tension", OLD_RISE)
    f = TENSION_FIELDS[0]
    problem = check_value(raw[OLD_RISE], f)
    if problem:
        report.error(key, problem)
    elif "rise_per_start" in raw:
        report.error(key, "the old name of rise_per_start: give only rise_per_start")
    else:
        values["rise_per_start"] = float(raw[OLD_RISE])
        per_s = f"{values['rise_per_s']:g}" + ("" if "rise_per_s" in raw else " unless set")
        report.warning(key, f"renamed rise_per_start: write rise_per_start = "
                       f"{raw[OLD_RISE]:g}. Tension now also rises while a tension sensor "
                       f"is active, by rise_per_s a second per sensor ({per_s}); "
                       "rise_per_s = 0 keeps the old model, where only starts count")
    return values


# ------------------------------------------------------------------------ scenes

def _check_scenes(raw, report):
    if raw is None:
        report.error("scenes", "a show needs at least one scene: [scenes.NAME]")
        return None
    if not isinstance(raw, dict):
        report.error("scenes", "must be a table of [scenes.NAME] tables")
        return None
    scenes = {}
    for name, table in raw.items():
        key = join_key("scenes", name)
        if not _NAME.match(name):
            report.error(key, f"{name!r} cannot name a scene: use letters, digits, _ and -")
        if not isinstance(table, dict):
            report.error(key, "must be a table")
            continue
        values = check_table(table, SCENE_FIELDS, key, report)
        reverb = ReverbSpec()
        if values["reverb"] is not None:
            reverb = ReverbSpec(**check_table(values["reverb"], REVERB_FIELDS,
                                              join_key(key, "reverb"), report))
        layers = []
        for lname, ltable in values["layers"].items():
            spec = _check_layer(lname, ltable, join_key(key, "layers", lname), report)
            if spec is not None:
                layers.append(spec)
        scenes[name] = SceneSpec(name=name, layers=tuple(layers),
                                 loudness_lufs=values["loudness_lufs"],
                                 overlay=values["overlay"], reverb=reverb,
                                 mono=values["mono"])
    if scenes and all(s.overlay for s in scenes.values()):
        report.error("scenes", "every scene is an overlay: a show needs a normal scene")
    for scene in scenes.values():
        for layer in scene.layers:
            _check_after(layer, scene, scenes, report)
    return scenes


def _check_after(layer, scene, scenes, report):
    """``after`` names the scenes an entry may come from: normal scenes, not its own."""
    if not layer.after:
        return
    key = join_key("scenes", scene.name, "layers", layer.name, "after")
    if scene.overlay:
        report.error(key, "an overlay is switched on, not entered from a scene: "
                     "'after' applies to layers of normal scenes")
        return
    normal = [n for n, s in scenes.items() if not s.overlay and n != scene.name]
    for name in layer.after:
        if not isinstance(name, str):
            report.error(key, "must be a list of scene names")
        elif name not in normal:
            why = ("its own scene" if name == scene.name
                   else "an overlay" if name in scenes else "no scene")
            report.error(key, f"{name!r} is {why}: name the scenes the show comes "
                         f"from into {scene.name!r}" + did_you_mean(name, normal))


def _check_layer(name, table, key, report):
    """A LayerSpec, or None when the layer is disabled or its type unknown."""
    from severed.engine.layers.base import MIX_PARAMS
    from severed.engine.params import Const

    if not _NAME.match(name):
        report.error(key, f"{name!r} cannot name a layer: use letters, digits, _ and -")
    if not isinstance(table, dict):
        report.error(key, "must be a table with a type")
        return None
    types = layer_types()
    ltype = table.get("type")
    if ltype is None:
        report.error(join_key(key, "type"), "is required (one of "
                     f"{', '.join(sorted(types)) or 'no types registered'})")
        return None
    if not isinstance(ltype, str) or ltype not in types:
        report.error(join_key(key, "type"), f"unknown layer type {ltype!r} (known: "
                     f"{', '.join(sorted(types)) or 'none'}){did_you_mean(ltype, types)}")
        return None
    cls = types[ltype]
    declared = {p.name: p for p in tuple(cls.PARAMS) + tuple(MIX_PARAMS)}
    errors_before = len(report.errors)
    for k in table:
        if k != "type" and k not in declared:
            report.error(join_key(key, k), f"not a parameter of layer type {ltype!r}"
                         + did_you_mean(k, sorted(declared)))
    values = {}
    for pname, param in declared.items():
        pkey = join_key(key, pname)
        if pname not in table:
            default = param.default
            values[pname] = Const(float(default)) if _numeric(param) else default
            continue
        values[pname] = _check_param(table[pname], param, pkey, report)
    if values.get("enabled") is False:
        return None
    params = {p.name: values[p.name] for p in cls.PARAMS}
    # A layer type may know more than its declarations say (a sampler knows which
    # recipes exist): let it report before the show ever plays.
    check = getattr(cls, "check_params", None)
    if check is not None and len(report.errors) == errors_before:
        for sub, msg in check(params):
            report.error(join_key(key, sub) if sub else key, msg)
    return LayerSpec(name=name, type=ltype, params=params,
                     gain_db=values["gain_db"], reverb_send=values["reverb_send"],
                     after=tuple(values["after"]))


def _numeric(param):
    return param.kind is float


def _check_param(raw, param, key, report):
    from severed.engine.params import Const, parse_automation

    if _numeric(param):
        auto, problems = parse_automation(raw, param)
        for sub, msg in problems:
            report.error(join_key(key, sub), msg)
        return auto if auto is not None else Const(float(param.default))
    f = Field(param.name, param.kind, param.default, min=param.min, max=param.max,
              choices=param.choices)
    if param.kind is list and isinstance(raw, list) and (param.min is not None
                                                         or param.max is not None):
        # bounds on a list parameter apply to each of its numbers
        for v in raw:
            msg = "must be a list of numbers" if not type_ok(v, float) else param.check_number(v)
            if msg:
                report.error(key, msg)
                return param.default
    msg = check_value(raw, f)
    if msg:
        report.error(key, msg)
        return param.default
    return raw


# ------------------------------------------------------------------- transitions

def _check_transitions(raw, scenes, head, report):
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        report.error("transitions", "must be an array of tables: [[transitions]]")
        return []
    out = []
    for i, table in enumerate(raw, 1):
        key = f"transitions[{i}]"
        v = check_table(table, TRANSITION_FIELDS, key, report)
        sources = _check_sources(v["from"], scenes, join_key(key, "from"), report)
        to, overlay = v["to"], v["overlay"]
        if (to is None) == (overlay is None):
            report.error(key, "needs exactly one of 'to' (change scene) or 'overlay' "
                         "(switch an overlay on)")
        if to is not None and scenes:
            if to not in scenes:
                report.error(join_key(key, "to"), f"no scene {to!r}" + did_you_mean(to, list(scenes)))
            elif scenes[to].overlay:
                report.error(join_key(key, "to"), f"{to!r} is an overlay scene: switch it on "
                             f"with overlay = {to!r}")
        if overlay is not None and scenes:
            if overlay not in scenes:
                report.error(join_key(key, "overlay"), f"no scene {overlay!r}"
                             + did_you_mean(overlay, list(scenes)))
            elif not scenes[overlay].overlay:
                report.error(join_key(key, "overlay"), f"{overlay!r} is not an overlay scene "
                             "(set overlay = true in it, or use to =)")
        if v["overlay_s"] is not None and overlay is None:
            report.error(join_key(key, "overlay_s"), "only applies with overlay =")
        if (v["on"] is None) == (v["after_s"] is None):
            report.error(key, "needs exactly one of 'on' (an event) or 'after_s' (a timer)")
        if v["on"] is not None:
            msg = check_event_name(v["on"])
            if msg:
                report.error(join_key(key, "on"), msg)
        guards = _check_guards(v, key, report)
        out.append(Transition(
            sources=sources, to=to, on=v["on"], after_s=v["after_s"], guards=guards,
            crossfade_s=head["crossfade_s"] if v["crossfade_s"] is None else v["crossfade_s"],
            curve=v["curve"] or head["curve"], overlay=overlay, overlay_s=v["overlay_s"]))
    return out


# ---------------------------------------------------------------------- reactions

def _check_reactions(raw, scenes, report):
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        report.error("reactions", "must be an array of tables: [[reactions]]")
        return []
    out = []
    for i, table in enumerate(raw, 1):
        key = f"reactions[{i}]"
        v = check_table(table, REACTION_FIELDS, key, report)
        sources = _check_sources(v["from"], scenes, join_key(key, "from"), report,
                                 overlays=True)
        if v["on"] is not None:
            msg = check_event_name(v["on"])
            if msg:
                report.error(join_key(key, "on"), msg)
        layer = v["trigger"]
        if layer is not None and scenes and sources:
            _check_trigger_layer(layer, sources, scenes, join_key(key, "trigger"), report)
        guards = _check_guards(v, key, report)
        if layer is not None and v["on"] is not None:
            out.append(Reaction(sources=sources, on=v["on"], layer=layer, guards=guards))
    return out


def _check_trigger_layer(layer, sources, scenes, key, report):
    """The layer must be in one of the sources and be of a type with a one-shot."""
    from severed.engine.layers.base import Layer

    types = layer_types()

    names = list(scenes) if sources == ("*",) else [n for n in sources if n in scenes]
    specs = [spec for n in names for spec in scenes[n].layers if spec.name == layer]
    if not specs:
        known = sorted({spec.name for n in names for spec in scenes[n].layers})
        where = "any scene" if sources == ("*",) else ", ".join(repr(n) for n in names)
        report.error(key, f"no layer {layer!r} in {where}" + did_you_mean(layer, known))
        return
    for spec in specs:
        cls = types.get(spec.type)
        if cls is not None and cls.trigger is Layer.trigger:
            playable = sorted(t for t, c in types.items() if c.trigger is not Layer.trigger)
            report.error(key, f"layer {layer!r} is a {spec.type!r}, which has no one-shot "
                         f"to play (types that do: {', '.join(playable)})")
            return


def check_event_name(name):
    """A message when ``name`` is not ``sensor.state`` or ``cmd.COMMAND``, else None."""
    m = _EVENT.match(name)
    if not m:
        return (f"{name!r} is not an event name: write sensor.state (like door.closed) "
                "or cmd.COMMAND")
    prefix, state = m.groups()
    if prefix == "cmd":
        if state not in COMMANDS:
            return (f"unknown command {name!r} (cmd.{', cmd.'.join(COMMANDS)})"
                    + did_you_mean(name, [f"cmd.{c}" for c in COMMANDS]))
        return None
    if state not in SENSOR_STATES:
        return (f"{state!r} is not a sensor state (one of {', '.join(SENSOR_STATES)})"
                + did_you_mean(state, SENSOR_STATES))
    return None


def _check_sources(raw, scenes, key, report, overlays=False):
    if raw is None:
        return ()
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        report.error(key, "must be a scene name, a list of scene names, or \"*\"")
        return ()
    if "*" in names:
        if len(names) > 1:
            report.error(key, "\"*\" already means every scene; give it alone")
        return ("*",)
    for n in names:
        if not scenes:
            break
        if n not in scenes:
            report.error(key, f"no scene {n!r}" + did_you_mean(n, list(scenes)))
        elif scenes[n].overlay and not overlays:
            report.error(key, f"{n!r} is an overlay scene; transitions start from the "
                         "scene playing underneath")
    return tuple(names)


def _check_guards(v, key, report):
    states = ()
    if v["if_sensor"] is not None:
        pairs = []
        for sensor, state in v["if_sensor"].items():
            skey = join_key(key, "if_sensor", sensor)
            if not isinstance(state, str):
                report.error(skey, "must be a state name as a string, like \"closed\"")
            elif state not in SENSOR_STATES[:-2]:
                report.error(skey, f"{state!r} is not a sensor state (one of "
                             f"{', '.join(SENSOR_STATES[:-2])})"
                             + did_you_mean(state, SENSOR_STATES[:-2]))
            else:
                pairs.append((sensor, state))
        states = tuple(pairs)
    above, below = v["if_tension_above"], v["if_tension_below"]
    if above is not None and below is not None and above >= below:
        report.error(join_key(key, "if_tension_below"), f"{below:g} is not above "
                     f"if_tension_above = {above:g}: the transition could never fire")
    within, quiet = v["if_motion_within_s"], v["if_no_motion_for_s"]
    if within is not None and quiet is not None:
        report.error(key, "if_motion_within_s and if_no_motion_for_s together can never "
                     "both be true")
    return Guards(motion_within_s=within, no_motion_for_s=quiet, sensor_states=states,
                  min_tension=above, max_tension=below)


def _warn_unreachable(initial, scenes, transitions, report):
    reached = {initial}
    overlays_on = set()
    changed = True
    while changed:
        changed = False
        for t in transitions:
            if t.sources == ("*",) or reached.intersection(t.sources):
                target = t.to or t.overlay
                pool = reached if t.to else overlays_on
                if target and target not in pool:
                    pool.add(target)
                    changed = True
    for name, scene in scenes.items():
        if name not in reached and name not in overlays_on:
            what = "overlay" if scene.overlay else "scene"
            report.warning(join_key("scenes", name), f"no transition reaches this {what} "
                           "from the initial scene (only a cmd.scene command can play it)")
