"""Checks that need both a show and the site it plays in, and telling files apart.

A show is written without knowing the building; the site config says which sensors
exist and of what kind. :func:`check_show_for_site` reports the events, guards and
tension sensors of a show that the site cannot produce::

    errors, warnings = check_show_for_site(show, site)

:func:`detect_kind` tells a show, a site config and a scenario apart by their top-level
tables, for ``severed check``.
"""

from severed.config.schema import Report, did_you_mean, parse_toml, read_text
from severed.errors import ConfigError
from severed.show.events import KIND_STATES

_MARKS = {
    "show": ("show", "scenes", "transitions", "reactions", "tension"),
    "site": ("site", "audio", "hours", "sensors"),
    "scenario": ("timeline", "duration_s", "seed"),
}


def detect_kind_data(data, path="<text>"):
    """"show", "site" or "scenario" for parsed TOML, from its top-level keys."""
    found = {kind for kind, marks in _MARKS.items() if any(m in data for m in marks)}
    if len(found) == 1:
        return found.pop()
    if not found:
        raise ConfigError(f"{path}: cannot tell what this file is: a show has [show] and "
                          "[scenes.NAME], a site config [site], [audio] or [sensors.NAME], "
                          "a scenario duration_s and [[timeline]] (or give --kind)")
    raise ConfigError(f"{path}: mixes the tables of a {' and a '.join(sorted(found))}: "
                      "keep each in its own file (or give --kind)")


def detect_kind(path):
    """"show", "site" or "scenario" for the file at ``path``; ConfigError if unclear."""
    return detect_kind_data(parse_toml(read_text(path), path), path)


def check_show_for_site(show, site):
    """(errors, warnings) about sensors a show relies on that the site lacks."""
    text = None
    if show.path:
        try:
            text = read_text(show.path)
        except ConfigError:
            text = None
    report = Report(show.path or show.name, text)
    sensors = {s.name: s for s in site.sensors}
    pirs = [s.name for s in site.sensors if s.kind == "pir"]
    where = f"in the site config {site.path}" if site.path else "in the site config"

    def check_sensor(key, sensor, state):
        if sensor not in sensors:
            report.error(key, f"no sensor {sensor!r} {where}" + did_you_mean(sensor, list(sensors)))
            return
        states = KIND_STATES[sensors[sensor].kind]
        if state is not None and state not in states + ("fault", "recovered"):
            report.error(key, f"{sensor!r} is a {sensors[sensor].kind} sensor: its states "
                         f"are {' and '.join(states)}, not {state!r}")

    rules = [(f"transitions[{i}]", t) for i, t in enumerate(show.transitions, 1)]
    rules += [(f"reactions[{i}]", r) for i, r in enumerate(show.reactions, 1)]
    for key, t in rules:
        if t.on and not t.on.startswith("cmd."):
            sensor, _, state = t.on.partition(".")
            check_sensor(f"{key}.on", sensor, state)
        for sensor, state in t.guards.sensor_states:
            check_sensor(f"{key}.if_sensor.{sensor}", sensor, state)
        if (t.guards.motion_within_s is not None or t.guards.no_motion_for_s is not None) \
                and not pirs:
            report.warning(key, f"has a motion guard but there is no pir sensor {where}")
    for sensor in show.tension.sensors:
        check_sensor("tension.sensors", sensor, None)
    if not show.tension.sensors and not pirs and _uses_tension(show):
        report.warning("tension", f"tension never rises: no pir sensor {where}")
    return report.errors, report.warnings


def _uses_tension(show):
    if any(t.guards.min_tension is not None or t.guards.max_tension is not None
           for t in show.transitions + show.reactions):
        return True
    for scene in show.scenes.values():
        for layer in scene.layers:
            for value in list(layer.params.values()) + [layer.gain_db, layer.reverb_send]:
                if getattr(value, "source", None) == "tension":
                    return True
    return False
