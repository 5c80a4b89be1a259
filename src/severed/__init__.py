"""severed: sound installation firmware for a Raspberry Pi.

A headless daemon plays a show (scenes of layered, partly procedural sound) and moves
between its scenes on sensor events: an elevator door, motion sensors, a button.
"""

__version__ = "0.1.0"
