"""Print the system test's site config: the installer's example with the loopback
card's playback side as the output, mock pins (sensors driven with `severed trigger`)
and no opening hours (it plays whatever the VM's clock says).

    python3 tests/system/site_config.py installation/severed.toml > severed.toml
    python3 tests/system/site_config.py installation/severed.toml --name lobby-b
"""

import argparse
import re
import sys
import tomllib

DEVICE = "hw:CARD=Loopback,DEV=0"


def site_config(text, name="systest"):
    """The example config ``text`` changed for the VM; raises ValueError if a key the
    change relies on is missing from the example."""
    replacements = [
        (r'(?m)^name = ".*"$', f'name = "{name}"'),
        (r'(?m)^device = ".*"$', f'device = "{DEVICE}"'),
        (r'(?m)^pin_factory = ".*"$', 'pin_factory = "mock"'),
    ]
    for pattern, new in replacements:
        text, count = re.subn(pattern, new, text)
        if count != 1:
            raise ValueError(f"the example config has {count} lines matching {pattern!r}")
    # Drop the [hours] table (up to the next table): the show plays all the time.
    text, count = re.subn(r"(?ms)^\[hours\]\n.*?(?=^\[|^# -+)", "", text)
    if count != 1:
        raise ValueError("the example config has no [hours] table to remove")
    parsed = tomllib.loads(text)
    assert parsed["audio"]["device"] == DEVICE and "hours" not in parsed
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("example")
    parser.add_argument("--name", default="systest")
    args = parser.parse_args()
    with open(args.example, encoding="utf-8") as f:
        sys.stdout.write(site_config(f.read(), args.name))


if __name__ == "__main__":
    main()
