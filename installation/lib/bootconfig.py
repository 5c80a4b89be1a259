#!/usr/bin/env python3
"""config.txt edits and DAC table look-ups for install.sh and uninstall.sh.

Pure text in, text out: the shell scripts decide where files live, back them up and
write them. Only the standard library (python3 >= 3.11 for tomllib), so it runs on a
fresh Raspberry Pi OS before the project is installed.

    bootconfig.py dacs DACS_TOML                     names, one a line
    bootconfig.py dac DACS_TOML NAME FIELD           one field (lists: one item a line)
    bootconfig.py apply DACS_TOML NAME < config.txt  config.txt with the severed block
    bootconfig.py remove < config.txt                config.txt without it
    bootconfig.py dac-table DACS_TOML                the Markdown table in hardware/README.md
    bootconfig.py site-config DACS_TOML NAME < severed.toml
                                                     the example site config for DAC NAME

``apply`` and ``remove`` write the new text to stdout and one line per warning to
stderr (prefixed "warning: "); exit status 2 means the input cannot be edited safely.

What ``apply`` changes, and nothing else:
  * a block between BEGIN and END at the end of the file (replaced in place when it is
    already there), holding ``[all]``, ``dtoverlay=`` (ends the previous overlay's
    parameter scope, so ``dtparam=audio`` reaches the base device tree and not
    vc4-kms-v3d's own ``audio`` parameter), ``dtparam=audio=off`` and the DAC's
    overlays;
  * ``,noaudio`` appended to an existing ``dtoverlay=vc4-kms-v3d`` line, with a marker
    comment above it so ``remove`` can undo exactly that.
The "none" DAC writes no block (and removes an old one).
"""

import re
import sys
import tomllib
from pathlib import Path

BEGIN = "# --- severed ---"
END = "# --- end severed ---"
VC4_MARK = "# severed: ,noaudio added below (HDMI audio off: the DAC is the only sound card)"
MAX_LINE_CHARS = 97  # the firmware ignores config.txt lines of 98 characters and more

_VC4 = re.compile(r"^dtoverlay=vc4-kms-v3d(-pi\d)?(,.*)?$")


class EditError(Exception):
    """config.txt cannot be edited safely (e.g. a half-removed block)."""


def load_dacs(path):
    with open(path, "rb") as f:
        table = tomllib.load(f)
    return table["dacs"]


def dac(table, name):
    if name not in table:
        names = ", ".join(sorted(table))
        raise EditError(f"unknown DAC {name!r}; known: {names}")
    return table[name]


def block_lines(name, entry):
    """The lines between the markers for one DAC (empty for the "none" DAC)."""
    if not entry["overlays"]:
        return []
    lines = [
        f"# Written by severed's install.sh for the {name} DAC; uninstall.sh removes it.",
        "[all]",
        "dtoverlay=",
        "dtparam=audio=off",
    ]
    lines += [f"dtoverlay={overlay}" for overlay in entry["overlays"]]
    return lines


def _split(text):
    """Lines without their endings, and whether the text ended with a newline."""
    if text == "":
        return [], True
    if text.endswith("\n"):
        return text.split("\n")[:-1], True
    return text.split("\n"), False


def _find_block(lines):
    starts = [i for i, line in enumerate(lines) if line.strip() == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.strip() == END]
    if not starts and not ends:
        return None
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise EditError(
            f"config.txt: the lines {BEGIN!r} and {END!r} are not one clean pair; "
            "fix them by hand (the backup is beside config.txt)")
    return starts[0], ends[0]


def _without_block(lines):
    found = _find_block(lines)
    if found is None:
        return lines, None
    start, end = found
    # The blank line install.sh put before the block goes with it.
    cut = start - 1 if start > 0 and lines[start - 1].strip() == "" else start
    return lines[:cut] + lines[end + 1:], cut


def _undo_vc4(lines):
    out = []
    i = 0
    while i < len(lines):
        if lines[i] == VC4_MARK and i + 1 < len(lines) and _VC4.match(lines[i + 1]):
            out.append(re.sub(r",noaudio(?=,|$)", "", lines[i + 1], count=1))
            i += 2
            continue
        out.append(lines[i])
        i += 1
    return out


def _apply_vc4(lines, warnings):
    out = []
    for i, line in enumerate(lines):
        match = _VC4.match(line)
        already_marked = i > 0 and lines[i - 1] == VC4_MARK
        params = (match.group(2) or "").split(",") if match else []
        if match and "noaudio" not in params and not already_marked:
            new = line + ",noaudio"
            if len(new) > MAX_LINE_CHARS:
                warnings.append(f"config.txt line {i + 1}: adding ,noaudio would make it "
                                f"{len(new)} characters; HDMI audio left on")
            else:
                out += [VC4_MARK, new]
                continue
        out.append(line)
    return out


def _foreign_sound_overlays(lines, table, warnings):
    known = {o for entry in table.values() for o in entry["overlays"]}
    known |= {"iqaudio-dacplus", "hifiberry-dacplus-std", "hifiberry-dacplus-pro"}
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("dtoverlay="):
            overlay = stripped[len("dtoverlay="):].split(",")[0]
            if overlay in known:
                warnings.append(
                    f"config.txt line {i + 1}: {stripped!r} is outside the severed block; "
                    "two sound overlays fight over I2S: comment it out by hand if unwanted")


def apply(text, table, name):
    """Return (new_text, warnings) with the block for DAC ``name``."""
    if "\r\n" in text:  # edited on Windows: keep its line endings
        new, warnings = apply(text.replace("\r\n", "\n"), table, name)
        return new.replace("\n", "\r\n"), warnings
    entry = dac(table, name)
    lines, had_newline = _split(text)
    lines = _undo_vc4(lines)
    lines, cut = _without_block(lines)
    warnings = []
    new_block = block_lines(name, entry)
    for line in new_block:
        if len(line) > MAX_LINE_CHARS:
            raise EditError(f"config.txt line {line!r} would be over {MAX_LINE_CHARS} characters")
    if new_block:
        _foreign_sound_overlays(lines, table, warnings)
        # Lines after an existing block stay after it: count them from the end, since
        # the vc4 edit above the block adds a line.
        after = 0 if cut is None else len(lines) - cut
        lines = _apply_vc4(lines, warnings)
        block = ["", BEGIN] + new_block + [END]
        at = len(lines) - after
        lines = lines[:at] + block + lines[at:]
        had_newline = True
    return _join(lines, had_newline), warnings


def remove(text):
    """Return text without the block and without the ,noaudio install.sh added."""
    if "\r\n" in text:
        return remove(text.replace("\r\n", "\n")).replace("\n", "\r\n")
    lines, had_newline = _split(text)
    lines, _ = _without_block(lines)
    lines = _undo_vc4(lines)
    return _join(lines, had_newline)


def _join(lines, newline_at_end):
    if not lines:
        return ""
    return "\n".join(lines) + ("\n" if newline_at_end else "")


def markdown_table(table):
    """The DAC table as hardware/README.md shows it (a test keeps the two in step)."""
    rows = ["| `--dac` | board | config.txt | ALSA card id | hw mixer | GPIOs taken |",
            "|---|---|---|---|---|---|"]
    for name, entry in table.items():
        overlays = "<br>".join(f"`dtoverlay={o}`" for o in entry["overlays"]) or "(none)"
        card = f"`{entry['card_id']}`" if entry["card_id"] else "-"
        mixer = f"`{entry['mixer']}`" if entry["mixer"] else "none"
        pins = ", ".join(str(p) for p in entry["pins"]) or "-"
        rows.append(f"| `{name}` | {entry['name']} | {overlays} | {card} | {mixer} | {pins} |")
    return "\n".join(rows) + "\n"


def _dac_table(dacs_toml):
    """severed.hardware.dacs.DacTable of the checkout holding ``dacs_toml``: the pin
    rules live there once, in plain Python that runs before severed is installed."""
    src = Path(dacs_toml).resolve().parents[2]  # src/severed/data/dacs.toml -> src
    sys.path.insert(0, str(src))
    try:
        from severed.hardware.dacs import DacTable
    except ImportError as exc:
        raise EditError(f"{src}/severed/hardware/dacs.py cannot be loaded ({exc}): is "
                        "--source a severed checkout?") from None
    finally:
        sys.path.remove(str(src))
    return DacTable.read(dacs_toml)


_HEADER_LINE = re.compile(r"^\s*\[")


def _section(lines, header):
    """(start, end) line indices of the table ``[header]`` (end: the next header)."""
    pattern = re.compile(r"^\s*\[\s*" + re.escape(header).replace(r"\.", r"\s*\.\s*")
                         + r"\s*\]\s*(#.*)?$")
    for i, line in enumerate(lines):
        if pattern.match(line):
            end = next((j for j in range(i + 1, len(lines)) if _HEADER_LINE.match(lines[j])),
                       len(lines))
            return i, end
    return None


def _set_dac(lines, name):
    entry = f'dac = "{name}"'
    found = _section(lines, "audio")
    if found is None:
        return lines + ["", "[audio]", entry]
    start, end = found
    for i in range(start + 1, end):
        if re.match(r"^\s*#?\s*dac\s*=", lines[i]):
            return lines[:i] + [entry] + lines[i + 1:]
    return lines[:start + 1] + [entry] + lines[start + 1:]


def site_config(text, table, name):
    """(new_text, moves): site config ``text`` (the example) for DAC ``name``: ``dac``
    set, and each sensor on a pin that board takes moved to the first free sensor pin.
    ``moves`` says, one line each, which wire goes to which header pin."""
    table.entry(name)  # unknown names fail here, with "did you mean"
    lines, had_newline = _split(text)
    lines = _set_dac(lines, name)
    sensors = tomllib.loads(text).get("sensors", {})
    taken = table.pins_taken(name)
    used = {t.get("pin") for t in sensors.values() if isinstance(t, dict)}
    moves = []
    for sensor, spec in sensors.items():
        old = spec.get("pin") if isinstance(spec, dict) else None
        if not table.is_named(name) or old not in taken:
            continue
        free = table.free_sensor_pins(name, used=used)
        found = _section(lines, f"sensors.{sensor}")
        if not free or found is None:
            raise EditError(f"sensor {sensor!r} is on BCM {old}, which the {table.board(name)} "
                            "takes, and no free pin is left: edit the site config by hand")
        new = free[0]
        used.add(new)
        old_h, new_h = table.header_pin(old), table.header_pin(new)
        start, end = found
        for i in range(start + 1, end):
            line = lines[i].replace(f"header pin {old_h}", f"header pin {new_h}")
            m = re.match(r"^(\s*pin\s*=\s*)(\d+)(\s*)(#.*)?$", line)
            if m:
                comment = (m.group(4) or "#").replace(f"BCM {old}", f"BCM {new}")
                # Keep the comment in its column.
                gap = (m.group(3) or " ") + " " * max(0, len(m.group(2)) - len(str(new)))
                line = (f"{m.group(1)}{new}{gap}{comment} (moved off BCM {old}: "
                        f"the {name} takes it)")
            lines[i] = line
        moves.append(f"{sensor}: wire it to header pin {new_h} (BCM {new}), not pin {old_h} "
                     f"(BCM {old}): the {table.board(name)} takes BCM {old} ({taken[old]}); "
                     f"the new site config says pin = {new}")
    return _join(lines, had_newline), moves


def main(argv):
    try:
        command = argv[1]
        if command == "dacs":
            print("\n".join(load_dacs(argv[2])))
        elif command == "dac":
            value = dac(load_dacs(argv[2]), argv[3])[argv[4]]
            if isinstance(value, list):
                value = "\n".join(str(v) for v in value)
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            if value != "":
                print(value)
        elif command == "apply":
            new, warnings = apply(sys.stdin.read(), load_dacs(argv[2]), argv[3])
            sys.stdout.write(new)
            for w in warnings:
                print(f"warning: {w}", file=sys.stderr)
        elif command == "dac-table":
            sys.stdout.write(markdown_table(load_dacs(argv[2])))
        elif command == "remove":
            sys.stdout.write(remove(sys.stdin.read()))
        elif command == "site-config":
            new, moves = site_config(sys.stdin.read(), _dac_table(argv[2]), argv[3])
            sys.stdout.write(new)
            for move in moves:
                print(f"moved: {move}", file=sys.stderr)
        else:
            raise IndexError
    except EditError as exc:
        print(f"bootconfig: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # severed's ConfigError: unknown DAC, unreadable table
        print(f"bootconfig: {exc}", file=sys.stderr)
        return 2
    except (IndexError, KeyError) as exc:
        print(f"bootconfig: bad arguments {argv[1:]} ({exc})\n{__doc__}", file=sys.stderr)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
