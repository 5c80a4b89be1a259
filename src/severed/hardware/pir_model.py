"""What an HC-SR501 PIR puts on its output pin while a visitor moves: a model for
simulations, scenarios and tests of how the show hears motion.

The board (a BISS0001 behind a Fresnel lens) has two modes, set by its jumper:

* **retriggering** (``"retrigger"``, jumper H, most boards' default): the output goes
  high at the first detection and stays high while detections keep coming; it falls
  ``hold_s`` after the last one. A visitor pacing non-stop is one long high level.
* **single-shot** (``"single"``, jumper L): the output is high for ``hold_s`` from the
  first detection, whatever follows, then low. A visitor pacing non-stop is a train
  of ``hold_s`` pulses ``block_s`` apart.

In both modes the sensor is blind for ``block_s`` (about 2.5 s) after its output
falls; a movement still going on then triggers it again at once. ``hold_s`` is the
board's "time" pot: about 3 s fully anticlockwise, up to about 300 s clockwise.
Movement is given as intervals during which the visitor moves (and is detected
continuously)::

    pir = HCSR501("single", hold_s=3.0)
    pir.edges([(10.0, 50.0)])           # moving from 10 s to 50 s
    # [(10.0, 1), (13.0, 0), (15.5, 1), (18.5, 0), ...]

The edges are pin levels as the sensor drives them (1 = high = motion), for
``[[timeline]]`` steps of a scenario or straight into the conditioning.
"""

MODES = ("retrigger", "single")
BLOCK_S = 2.5  # the BISS0001's blind time after the output falls (datasheet default)


class HCSR501:
    def __init__(self, mode="retrigger", hold_s=3.0, block_s=BLOCK_S):
        if mode not in MODES:
            raise ValueError(f"HC-SR501 mode {mode!r}: not one of {', '.join(MODES)}")
        if not hold_s > 0 or block_s < 0:
            raise ValueError("HC-SR501: hold_s must be above 0 and block_s 0 or more")
        self.mode = mode
        self.hold_s = float(hold_s)
        self.block_s = float(block_s)

    def edges(self, moves):
        """[(t, level), ...] the output pin takes for movement during ``moves``, a list
        of (start_s, end_s) intervals; starts high, ends low."""
        moves = sorted((float(a), float(b)) for a, b in moves if b > a)
        out = []
        ready = float("-inf")  # the end of the blind time after the last pulse
        while True:
            on = _first_detection(moves, ready)
            if on is None:
                return out
            off = on + self.hold_s
            if self.mode == "retrigger":
                # Every detection while high restarts the hold; movement is detected
                # up to its end, so the level falls hold_s after the last movement
                # that began before it would have fallen.
                for a, b in moves:
                    if a < off and b > on:
                        off = max(off, b + self.hold_s)
            out += [(on, 1), (off, 0)]
            ready = off + self.block_s


def _first_detection(moves, ready):
    """The first moment at or after ``ready`` at which the visitor moves, or None."""
    for a, b in moves:
        if b > ready:
            return max(a, ready)
    return None
