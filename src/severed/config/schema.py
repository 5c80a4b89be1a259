"""Declarative checking of TOML tables, and collecting every problem in a file.

Each section of a file is declared once as a tuple of :class:`Field` (type, default,
bounds or choices, one line of doc); :func:`check_table` checks a parsed table against
it and fills in defaults. Problems go to a :class:`Report`, which formats them as
``FILE:LINE: path.to.key: message`` (the line found by scanning the file's text) and
raises one :class:`~severed.errors.ConfigError` holding all of them::

    report = Report(path, text)
    data = read_toml_text(text, path)
    values = check_table(data.get("site", {}), SITE_FIELDS, "site", report)
    report.raise_if_errors()

Key paths are dotted; the n-th table of an array of tables is written ``name[n]``,
counting from 1 (``transitions[2].on`` is the ``on`` of the second ``[[transitions]]``).
"""

import difflib
import re
import tomllib
from dataclasses import dataclass
from typing import Callable

from severed.errors import ConfigError

_TYPE_NAMES = {float: "a number", int: "a whole number", str: "a string",
               bool: "true or false", list: "a list", dict: "a table"}


@dataclass(frozen=True)
class Field:
    """One key of a section: its type, default, bounds or choices, and meaning."""

    name: str
    kind: type = float  # float, int, str, bool, list, dict
    default: object = None
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    required: bool = False
    doc: str = ""
    items: type | None = None  # for lists: the type of every item
    check: Callable | None = None  # value -> message when invalid, else None


def did_you_mean(word, candidates):
    """`` (did you mean 'x'?)`` for the closest candidate, or ""."""
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def join_key(*parts):
    """Dotted key path from parts, skipping empty ones."""
    return ".".join(str(p) for p in parts if p not in (None, ""))


def type_ok(value, kind):
    """True when a TOML value has the declared type (ints count as numbers, bools do not)."""
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def check_value(value, f):
    """Return a message when ``value`` does not fit field ``f``, else None."""
    if not type_ok(value, f.kind):
        return f"must be {_TYPE_NAMES.get(f.kind, f.kind.__name__)}, not {_toml_type(value)}"
    if f.kind is list and f.items is not None:
        for i, item in enumerate(value):
            if not type_ok(item, f.items):
                return (f"item {i + 1} must be {_TYPE_NAMES.get(f.items, f.items.__name__)}, "
                        f"not {_toml_type(item)}")
    if f.choices is not None:
        items = value if f.kind is list else [value]
        for item in items:
            if item not in f.choices:
                shown = ", ".join(str(c) for c in f.choices)
                hint = did_you_mean(item, f.choices) if isinstance(item, str) else ""
                return f"{item!r} is not one of {shown}{hint}"
    if f.kind in (int, float):
        if f.min is not None and value < f.min:
            return f"{value} is below the minimum {f.min:g}"
        if f.max is not None and value > f.max:
            return f"{value} is above the maximum {f.max:g}"
    if f.check is not None:
        return f.check(value)
    return None


def check_table(raw, fields, path, report, extra=()):
    """Check table ``raw`` against ``fields``; return {name: value} with defaults filled.

    Keys in ``extra`` are allowed and left for the caller. Unknown keys, wrong types,
    out-of-bounds values and missing required keys are reported; an invalid value is
    replaced by the field's default so checking can go on.
    """
    values = {}
    if not isinstance(raw, dict):
        report.error(path, f"must be a table, not {_toml_type(raw)}")
        raw = {}
    known = {f.name for f in fields} | set(extra)
    for key in raw:
        if key not in known:
            report.error(join_key(path, key), "unknown key" + did_you_mean(key, sorted(known)))
    for f in fields:
        if f.name not in raw:
            if f.required:
                report.error(join_key(path, f.name), "is required")
            values[f.name] = f.default
            continue
        value = raw[f.name]
        msg = check_value(value, f)
        if msg:
            report.error(join_key(path, f.name), msg)
            values[f.name] = f.default
        else:
            values[f.name] = float(value) if f.kind is float else value
    return values


def _toml_type(value):
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


# ------------------------------------------------------------------ reading files

_AT_LINE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def read_text(path):
    """The text of a file, or a ConfigError naming it."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None


MAX_LINE_CHARS = 10_000


def parse_toml(text, path):
    """Parse TOML; a syntax error becomes ``ConfigError("FILE:LINE: message")``."""
    # tomllib is quadratic in the parts of a dotted key: a pathological line could
    # stall a reload for minutes. No config, show or scenario needs lines this long.
    for lineno, line in enumerate(text.splitlines(), 1):
        if len(line) > MAX_LINE_CHARS:
            raise ConfigError(f"{path}:{lineno}: line is {len(line)} characters long; "
                              f"at most {MAX_LINE_CHARS} are read")
    try:
        return tomllib.loads(text)
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        raise ConfigError(f"{path}: TOML syntax: values nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _AT_LINE.search(msg)
        if m:
            msg = _AT_LINE.sub("", msg)
            line, column = int(m.group(1)), int(m.group(2))
            opened = unclosed_bracket(text, line, column)
            if opened is not None and opened[0] != line and _runs_into_next(msg, text, line):
                # The parser notices a missing ] or } only where the next key begins,
                # lines later: point at the bracket left open instead.
                raise ConfigError(f"{path}:{opened[0]}: TOML syntax: {opened[1]!r} opened "
                                  f"on this line is not closed (the parser stopped at line "
                                  f"{line}, column {column}: {msg})") from None
            raise ConfigError(f"{path}:{line}: TOML syntax: {msg} "
                              f"(column {column})") from None
        raise ConfigError(f"{path}: TOML syntax: {msg}") from None


_KEY_LINE = re.compile(r"""^\s*(\[|[A-Za-z0-9_."'-]+\s*=)""")


def _runs_into_next(msg, text, line):
    """Whether a syntax error looks like a bracket left open: the parser says so, or
    it stopped at what starts the next key or table (not at a bad value inside)."""
    rows = text.split("\n")
    return msg.startswith("Unclosed") or (
        line <= len(rows) and _KEY_LINE.match(rows[line - 1]) is not None)


def unclosed_bracket(text, line, column):
    """(line, "[" or "{") of the outermost array or inline table still open at
    ``line``:``column`` (1-based) of ``text``, or None. Strings, comments and table
    headers are skipped; good enough to find a bracket someone forgot to close."""
    stack = []
    lines = text.split("\n")
    quote = None  # the open string's delimiter: ", ', \"\"\" or '''
    for number, row in enumerate(lines[:line], 1):
        if number == line:
            row = row[:max(0, column - 1)]
        if quote is None and not stack and row.lstrip().startswith("["):
            continue  # a table header: [a.b] or [[a]]
        i = 0
        while i < len(row):
            ch = row[i]
            if quote is not None:
                if len(quote) == 1 and quote == '"' and ch == "\\":
                    i += 2
                    continue
                if row.startswith(quote, i):
                    i += len(quote)
                    quote = None
                    continue
                i += 1
                continue
            if ch == "#":
                break
            if ch in "\"'":
                quote = ch * 3 if row.startswith(ch * 3, i) else ch
                i += len(quote)
                continue
            if ch in "[{":
                stack.append((number, ch))
            elif ch in "]}" and stack and "[{"["]}".index(ch)] == stack[-1][1]:
                stack.pop()
            i += 1
        if quote is not None and len(quote) == 1:
            quote = None  # a one-line string ends with its line (TOML says so)
    return stack[0] if stack else None


# ------------------------------------------------------------------ problem report

def _split_key(text):
    """Split a TOML key (``a."b.c".d``) into its parts."""
    parts, cur, quote = [], "", None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            else:
                cur += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return parts


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")
_KEYLINE = re.compile(r"""^\s*((?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')"""
                      r"""(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'))*)\s*=""")


# No valid file nests deeper than a few levels; prefixes past this are not indexed, so
# a pathological header of thousands of dotted parts costs linear time, not quadratic.
MAX_KEY_DEPTH = 32


class KeyLines:
    """Line numbers of keys and tables in a TOML text, found by scanning its lines."""

    def __init__(self, text):
        self.lines = {}
        table = []
        counts = {}
        in_multiline = None
        for lineno, line in enumerate(text.splitlines(), 1):
            if in_multiline:
                if line.count(in_multiline) % 2 == 1:
                    in_multiline = None
                continue
            m = _HEADER.match(line)
            if m:
                parts = _split_key(m.group(2))
                name = ".".join(parts)
                if m.group(1) == "[[":
                    counts[name] = counts.get(name, 0) + 1
                    parts = parts[:-1] + [f"{parts[-1]}[{counts[name]}]"]
                table = self._expand(parts, counts)
                for n in range(1, min(len(table), MAX_KEY_DEPTH) + 1):  # [a.b] defines a
                    self.lines.setdefault(".".join(table[:n]), lineno)
                continue
            m = _KEYLINE.match(line)
            if m:
                key = ".".join(table + _split_key(m.group(1)))
                self.lines.setdefault(key, lineno)
                rest = line[m.end():]
                for q in ('"""', "'''"):
                    if rest.count(q) % 2 == 1:
                        in_multiline = q

    @staticmethod
    def _expand(parts, counts):
        # [transitions.x] under [[transitions]] belongs to the latest array element
        out = []
        for i, p in enumerate(parts):
            n = counts.get(".".join(out + [p])) if i < MAX_KEY_DEPTH else None
            out.append(f"{p}[{n}]" if n and not p.endswith("]") else p)
        return out

    def find(self, key):
        """Line of ``key``, or of its nearest enclosing key or table; None if unknown."""
        parts = key.split(".") if key else []
        while parts:
            line = self.lines.get(".".join(parts))
            if line is not None:
                return line
            parts.pop()
        return None


class Report:
    """Every error and warning found in one file, formatted with file, line and key."""

    def __init__(self, path, text=None):
        self.path = str(path) if path is not None else "<text>"
        self.key_lines = KeyLines(text) if text else None
        self.errors = []
        self.warnings = []

    def format(self, key, message):
        line = self.key_lines.find(key) if self.key_lines else None
        where = f"{self.path}:{line}" if line else self.path
        return f"{where}: {key}: {message}" if key else f"{where}: {message}"

    def error(self, key, message):
        self.errors.append(self.format(key, message))

    def warning(self, key, message):
        self.warnings.append(self.format(key, "warning: " + message))

    def raise_if_errors(self):
        if self.errors:
            raise ConfigError(self.errors)


def hand_over_warnings(report, warnings):
    """Append the report's warnings to the caller's list, if the caller gave one."""
    if warnings is not None:
        warnings.extend(report.warnings)
