"""A bracket left open anywhere in the lumon show is reported on its own line (once it
was reported lines later, where the parser met the next key)."""

import re

import pytest

from severed.config import load_show_text
from severed.errors import ConfigError

from test_fuzz_config import lumon_text


def closing_brackets(text):
    """(line number, line without its last closing bracket) for each line that opens
    and closes a value bracket of its own."""
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0]
        if re.match(r"\s*\[", code) or "=" not in code:
            continue  # a table header, or no value
        last = max(code.rfind("]"), code.rfind("}"))
        if last > code.find("="):
            yield number, line[:last] + line[last + 1:]


def test_every_unclosed_bracket_of_lumon_is_reported_on_its_line():
    text = lumon_text()
    lines = text.splitlines()
    cases = list(closing_brackets(text))
    assert len(cases) > 20  # lumon has arrays and inline tables aplenty
    for number, broken in cases:
        damaged = "\n".join(lines[:number - 1] + [broken] + lines[number:]) + "\n"
        with pytest.raises(ConfigError) as err:
            load_show_text(damaged, "lumon.toml")
        first = err.value.problems[0]
        assert first.startswith(f"lumon.toml:{number}: TOML syntax"), (number, first)
