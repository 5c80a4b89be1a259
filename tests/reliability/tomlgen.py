"""Writing TOML text for the fuzz tests: values, inline tables, and mutations of
valid files (lines dropped, doubled, cut, values swapped, bytes inserted)."""

import math

from hypothesis import strategies as st

# Key names the three schemas use, so random structures land near the valid ones.
KEYS = (
    "show", "name", "initial_scene", "crossfade_s", "curve", "tension", "rise_per_start",
    "rise_per_s", "decay_s", "sensors", "scenes", "layers", "type", "gain_db", "reverb_send",
    "overlay", "reverb",
    "damping", "predelay_ms", "loudness_lufs", "transitions", "from", "to", "on", "after_s",
    "overlay_s", "if_motion_within_s", "if_no_motion_for_s", "if_sensor",
    "if_tension_above", "if_tension_below", "freq_hz", "color", "cutoff_hz", "lfo",
    "rate_hz", "min", "max", "map", "out", "in", "over_s", "recipe", "recipe_params",
    "file", "enabled", "site", "mains_hz", "master_trim_db", "cache_dir", "event_log",
    "pin_factory", "audio", "device", "sample_rate", "block_frames", "render_ahead_blocks",
    "sample_format", "hours", "open", "close", "days", "fade_s", "kind", "pin", "pull",
    "active_state", "debounce_s", "hold_s", "flap_limit", "stuck_after_s", "required",
    "seed", "duration_s", "timeline", "at_s", "sensor", "level", "command", "scene", "db",
    "event", "door", "motion", "reward", "outie", "innie", "wind", "noise", "tone",
    "drone", "glitch", "silence", "pad", "hum", "clicks", "motif", "notes", "beats", "bpm",
)
WORDS = KEYS + ("door.closed", "motion.start", "reward.press", "equal_power", "cut",
                "linear", "pink", "white", "sine", "tension", "scene_s", "mock", "null",
                "wav:/tmp/x.wav", "09:00", "24:00", "mon", "*", "lowpass", "")


def key_text(k):
    if k and all(c.isalnum() or c in "_-" for c in k):
        return k
    return '"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"'


def value_text(v):
    """TOML for a Python value (inline tables and arrays)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        out = []
        for c in v:
            if c in '"\\':
                out.append("\\" + c)
            elif ord(c) < 0x20 or ord(c) == 0x7F:
                out.append(f"\\u{ord(c):04x}")
            elif 0xD800 <= ord(c) <= 0xDFFF:
                out.append("?")
            else:
                out.append(c)
        return '"' + "".join(out) + '"'
    if isinstance(v, list):
        return "[" + ", ".join(value_text(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{key_text(k)} = {value_text(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def document_text(data):
    """A whole document: top-level keys as ``key = value`` lines."""
    return "\n".join(f"{key_text(k)} = {value_text(v)}" for k, v in data.items()) + "\n"


scalars = st.one_of(
    st.integers(min_value=-2**63, max_value=2**63 - 1),
    st.sampled_from([0, 1, -1, 2, 17, 48000, 2048, 10**12]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 0.5, -0.0, 1e-9, 1e300, 3.0, -30.0]),
    st.booleans(),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)
documents = st.dictionaries(keys, values, max_size=6)


@st.composite
def mutated(draw, text):
    """``text`` with a few random line edits: drop, double, cut, swap a value, insert."""
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "double", "cut", "value", "insert", "key"]))
        line = lines[i]
        if op == "drop":
            del lines[i]
        elif op == "double":
            lines.insert(i, line)
        elif op == "cut":
            lines[i] = line[:draw(st.integers(0, len(line)))]
        elif op == "value" and "=" in line:
            k = line.split("=", 1)[0]
            lines[i] = f"{k}= {value_text(draw(values))}"
        elif op == "key" and "=" in line:
            v = line.split("=", 1)[1]
            lines[i] = f"{key_text(draw(keys))} ={v}"
        else:
            lines.insert(i, draw(st.text(max_size=20)))
    if draw(st.booleans()):
        text = "\n".join(lines)
        return text[:draw(st.integers(0, len(text)))]
    return "\n".join(lines)
