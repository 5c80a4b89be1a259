"""A small show for the tests of the render loop, the sensors and reloads: a "lift"
with two scenes of plain tones, "up" (220 Hz) and "down" (110 Hz) at -40 dB, so that
which scene plays can be read from the spectrum. A test adds its own transitions (and
scenes): ``load_show_text(lift_show(TRANSITIONS), "lift.toml")``."""

SCENES = """
[show]
name = "lift"
initial_scene = "up"
[scenes.up.layers.t]
type = "tone"
freq_hz = 220
gain_db = -40
[scenes.down.layers.t]
type = "tone"
freq_hz = 110
gain_db = -40
"""


def lift_show(transitions, more_scenes=""):
    """The lift's scenes, ``more_scenes`` (TOML) and ``transitions`` (TOML)."""
    return SCENES + more_scenes + transitions
