"""Layer parameters: how a layer declares them, and how a show file automates them.

A layer type lists its parameters as :class:`Param` declarations (name with its unit,
default, bounds). In a show file any numeric parameter marked ``automatable`` may be
written as one of:

- a number: a constant, ``cutoff_hz = 900``
- a ramp from scene entry: ``gain_db = { from = -60, to = -20, over_s = 30 }``
- an LFO: ``cutoff_hz = { lfo = "sine", rate_hz = 0.05, min = 450, max = 1350 }``
  (shapes: sine, triangle, square, saw; optional ``phase`` in cycles 0..1)
- a mapping from a show variable: ``rate_hz = { map = "tension", out = [4, 16] }``
  (variables: ``tension`` 0..1, ``scene_s`` seconds in the scene; optional ``in`` range,
  default [0, 1]; the input is clamped to it)

Automations are evaluated once per block (control rate) by :meth:`Automation.value`;
layers smooth the result so that every change is ramped.
"""

import math
from dataclasses import dataclass

SHAPES = ("sine", "triangle", "square", "saw")
VARIABLES = ("tension", "scene_s")


@dataclass(frozen=True)
class Param:
    """One declared layer parameter."""

    name: str
    default: object
    min: float | None = None
    max: float | None = None
    automatable: bool = True
    choices: tuple | None = None  # allowed strings for a choice parameter
    kind: type = float  # float, int, str, bool, list
    doc: str = ""

    def check_number(self, value):
        """Return a message when ``value`` is out of bounds, else None."""
        if self.min is not None and value < self.min:
            return f"{value} is below the minimum {self.min}"
        if self.max is not None and value > self.max:
            return f"{value} is above the maximum {self.max}"
        return None


@dataclass(frozen=True)
class Controls:
    """What automations may read: engine time and the show's variables at a block."""

    t: float = 0.0  # engine seconds at the block start
    scene_s: float = 0.0  # seconds since the owning scene was entered
    tension: float = 0.0

    def variable(self, name):
        return self.scene_s if name == "scene_s" else self.tension


class Automation:
    """A parameter value that may move; ``value(controls)`` gives it at a block."""

    constant = False

    def value(self, controls):
        raise NotImplementedError

    def bounds(self):
        """(lowest, highest) value it can take, for checking against a Param."""
        raise NotImplementedError


@dataclass(frozen=True)
class Const(Automation):
    v: float
    constant = True

    def value(self, controls):
        return self.v

    def bounds(self):
        return self.v, self.v


@dataclass(frozen=True)
class Ramp(Automation):
    start: float
    end: float
    over_s: float

    def value(self, controls):
        if self.over_s <= 0:
            return self.end
        x = min(max(controls.scene_s / self.over_s, 0.0), 1.0)
        return self.start + (self.end - self.start) * x

    def bounds(self):
        return min(self.start, self.end), max(self.start, self.end)


@dataclass(frozen=True)
class Lfo(Automation):
    shape: str
    rate_hz: float
    lo: float
    hi: float
    phase: float = 0.0

    def value(self, controls):
        x = (self.rate_hz * controls.t + self.phase) % 1.0
        if self.shape == "sine":
            u = 0.5 - 0.5 * math.cos(2 * math.pi * x)
        elif self.shape == "triangle":
            u = 1.0 - abs(2.0 * x - 1.0)
        elif self.shape == "square":
            u = 1.0 if x < 0.5 else 0.0
        else:  # saw
            u = x
        return self.lo + (self.hi - self.lo) * u

    def bounds(self):
        return min(self.lo, self.hi), max(self.lo, self.hi)


@dataclass(frozen=True)
class Mapping(Automation):
    source: str
    in_lo: float
    in_hi: float
    out_lo: float
    out_hi: float

    def value(self, controls):
        v = controls.variable(self.source)
        span = self.in_hi - self.in_lo
        x = 0.0 if span == 0 else min(max((v - self.in_lo) / span, 0.0), 1.0)
        return self.out_lo + (self.out_hi - self.out_lo) * x

    def bounds(self):
        return min(self.out_lo, self.out_hi), max(self.out_lo, self.out_hi)


def _pair(raw, key, problems):
    if (isinstance(raw, list) and len(raw) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)):
        return float(raw[0]), float(raw[1])
    problems.append((key, "must be a list of two numbers, like [0, 1]"))
    return None


def parse_automation(raw, param=None):
    """Turn a show-file value into an Automation.

    Returns ``(automation, problems)`` where problems is a list of ``(subkey, message)``;
    subkey is "" for the value itself, or the name of the offending inner key. The
    automation is None when the value cannot be used.
    """
    problems = []
    if isinstance(raw, bool):
        return None, [("", "must be a number or an automation table, not true/false")]
    if isinstance(raw, (int, float)):
        auto = Const(float(raw))
    elif isinstance(raw, dict):
        kinds = [k for k in ("from", "lfo", "map") if k in raw]
        if len(kinds) != 1:
            return None, [("", "an automation table needs exactly one of 'from' (ramp), "
                               "'lfo' or 'map'")]
        allowed = {"from": {"from", "to", "over_s"},
                   "lfo": {"lfo", "rate_hz", "min", "max", "phase"},
                   "map": {"map", "in", "out"}}[kinds[0]]
        for key in raw:
            if key not in allowed:
                problems.append((key, f"unknown key in a {kinds[0]} automation "
                                      f"(expected {', '.join(sorted(allowed))})"))
        auto = _parse_table(kinds[0], raw, problems)
    else:
        return None, [("", f"must be a number or an automation table, not {type(raw).__name__}")]
    if auto is not None and param is not None:
        if not param.automatable and not auto.constant:
            problems.append(("", "cannot be automated: give a plain number"))
        lo, hi = auto.bounds()
        for v in (lo, hi):
            msg = param.check_number(v)
            if msg:
                problems.append(("", msg))
                break
    return (auto if not problems else None), problems


def _number(raw, key, problems, required=True, default=None, positive=False):
    if key not in raw:
        if required:
            problems.append((key, "is required"))
        return default
    v = raw[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        problems.append((key, "must be a number"))
        return default
    if positive and v <= 0:
        problems.append((key, "must be above 0"))
        return default
    return float(v)


def _parse_table(kind, raw, problems):
    if kind == "from":
        start = _number(raw, "from", problems)
        end = _number(raw, "to", problems)
        over = _number(raw, "over_s", problems)
        if over is not None and over < 0:
            problems.append(("over_s", "must be 0 or more"))
        return None if problems else Ramp(start, end, over)
    if kind == "lfo":
        shape = raw["lfo"]
        if shape not in SHAPES:
            problems.append(("lfo", f"unknown shape {shape!r} (expected one of {', '.join(SHAPES)})"))
        rate = _number(raw, "rate_hz", problems, positive=True)
        lo = _number(raw, "min", problems)
        hi = _number(raw, "max", problems)
        phase = _number(raw, "phase", problems, required=False, default=0.0)
        return None if problems else Lfo(shape, rate, lo, hi, phase)
    source = raw["map"]
    if source not in VARIABLES:
        problems.append(("map", f"unknown variable {source!r} (expected one of {', '.join(VARIABLES)})"))
    in_range = _pair(raw.get("in", [0.0, 1.0]), "in", problems)
    out_range = _pair(raw["out"], "out", problems) if "out" in raw else None
    if "out" not in raw:
        problems.append(("out", "is required"))
    if problems:
        return None
    return Mapping(source, in_range[0], in_range[1], out_range[0], out_range[1])
