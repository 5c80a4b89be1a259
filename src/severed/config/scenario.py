"""Reading and checking scenarios: timed sensor edges and commands for offline runs.

``load_scenario(path, show=None, site=None)`` returns a
:class:`~severed.config.model.Scenario` with its steps sorted by time. Given the show and
the site config it will be played with, it also checks that the scenes and sensors it
names exist::

    scenario = load_scenario("tests/data/visit.toml", show=show, site=site)
    for step in scenario.steps:
        print(step.at_s, step.sensor or step.command, step.level, step.args)
"""

from severed.config.model import Scenario, ScenarioStep
from severed.config.schema import (Field, Report, check_table, did_you_mean,
                                   hand_over_warnings, join_key, parse_toml, read_text)
from severed.show.events import KIND_STATES

COMMANDS = ("scene", "volume", "mute", "unmute", "trigger")

SCENARIO_FIELDS = (
    Field("seed", int, 0, min=0, max=2**63 - 1, doc="seed of every random stream"),
    Field("duration_s", float, None, min=0.001, max=7 * 86400.0, required=True,
          doc="length of the run"),
)

STEP_FIELDS = (
    Field("at_s", float, None, min=0.0, required=True, doc="when, from the start"),
    Field("sensor", str, None, doc="sensor that changes (a raw edge)"),
    Field("level", int, None, choices=(0, 1), doc="1 active, 0 inactive"),
    Field("command", str, None, choices=COMMANDS, doc="or a command"),
    Field("scene", str, None, doc="for command = \"scene\""),
    Field("db", float, None, min=-120.0, max=12.0, doc="for command = \"volume\""),
    Field("event", str, None, doc="for command = \"trigger\": the event to inject"),
)

#: The argument each command needs, and the ones it may not have.
COMMAND_ARGS = {"scene": "scene", "volume": "db", "mute": None, "unmute": None,
                "trigger": "event"}


def load_scenario(path, show=None, site=None, warnings=None):
    """Read and check a scenario file; return a Scenario or raise ConfigError."""
    return load_scenario_text(read_text(path), path, show, site, warnings)


def load_scenario_text(text, path=None, show=None, site=None, warnings=None):
    """Check scenario ``text``; see :func:`load_scenario`."""
    report = Report(path, text)
    data = parse_toml(text, report.path)
    scenario = check_scenario_data(data, path, report, show, site)
    hand_over_warnings(report, warnings)
    report.raise_if_errors()
    return scenario


def check_scenario_data(data, path, report, show=None, site=None):
    """Build a Scenario from parsed TOML, reporting problems into ``report``."""
    head = check_table(data, SCENARIO_FIELDS, "", report, extra=("timeline",))
    duration = head["duration_s"]
    raw = data.get("timeline", [])
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        report.error("timeline", "must be an array of tables: [[timeline]]")
        raw = []
    sensors = {s.name: s for s in site.sensors} if site is not None else None
    steps = []
    for i, table in enumerate(raw, 1):
        key = f"timeline[{i}]"
        v = check_table(table, STEP_FIELDS, key, report)
        if v["at_s"] is None:
            continue
        if duration is not None and v["at_s"] > duration:
            report.warning(join_key(key, "at_s"), f"{v['at_s']:g} s is after the end "
                           f"(duration_s = {duration:g}); it never happens")
        step = _check_step(v, table, key, report, show, sensors)
        if step is not None:
            steps.append(step)
    steps.sort(key=lambda s: s.at_s)  # stable: steps at one time keep file order
    return Scenario(path=str(path) if path is not None else None,
                    duration_s=duration or 0.0, seed=head["seed"], steps=tuple(steps))


def _check_step(v, table, key, report, show, sensors):
    is_edge = "sensor" in table or "level" in table
    is_command = "command" in table
    if is_edge == is_command:
        report.error(key, "needs either sensor and level (a sensor edge) or command")
        return None
    if is_edge:
        for k in ("scene", "db", "event"):
            if k in table:
                report.error(join_key(key, k), "only applies to a command")
        if v["sensor"] is None or v["level"] is None:
            missing = "sensor" if "sensor" not in table else "level"
            if missing not in table:
                report.error(join_key(key, missing), "is required with a sensor edge")
            return None
        if sensors is not None and v["sensor"] not in sensors:
            report.error(join_key(key, "sensor"), f"no sensor {v['sensor']!r} in the site "
                         "config" + did_you_mean(v["sensor"], list(sensors)))
        return ScenarioStep(at_s=v["at_s"], sensor=v["sensor"], level=v["level"])
    command = v["command"]
    if command is None:
        return None
    needed = COMMAND_ARGS[command]
    for k in ("scene", "db", "event", "sensor", "level"):
        if k in table and k != needed:
            report.error(join_key(key, k), f"does not apply to command {command!r}")
    args = {}
    if needed is not None:
        if needed not in table:
            report.error(join_key(key, needed), f"is required with command {command!r}")
            return None
        if v[needed] is None:
            return None
        args[needed] = v[needed]
    if command == "scene" and show is not None and args["scene"] not in show.scenes:
        report.error(join_key(key, "scene"), f"no scene {args['scene']!r} in show "
                     f"{show.name!r}" + did_you_mean(args["scene"], list(show.scenes)))
    if command == "trigger":
        msg = _check_trigger_event(args["event"], sensors)
        if msg:
            report.error(join_key(key, "event"), msg)
    return ScenarioStep(at_s=v["at_s"], command=command, args=args)


def _check_trigger_event(name, sensors):
    sensor, _, state = name.partition(".")
    if not state or sensor == "cmd":
        return (f"{name!r} is not a sensor event: write sensor.state, like "
                "\"reward.press\"")
    if sensors is None:
        every = {s for pair in KIND_STATES.values() for s in pair}
        if state not in every:
            return f"{state!r} is not a sensor state" + did_you_mean(state, sorted(every))
        return None
    if sensor not in sensors:
        return f"no sensor {sensor!r} in the site config" + did_you_mean(sensor, list(sensors))
    states = KIND_STATES[sensors[sensor].kind]
    if state not in states:
        return (f"a {sensors[sensor].kind} sensor is {' or '.join(states)}, not {state!r}"
                + did_you_mean(state, states))
    return None
