"""Tension in the built-in show, driven by a model HC-SR501 in both of its modes: the
figures of docs/configuration.md ("Tension").

    .venv/bin/python benchmarks/tension_figures.py

A visitor steps in outside (moving 2-6 s), the door closes at 8 s, the floor plays from
18 s; then they pace non-stop from 25 to 65 s, or make one pass (30-33 s). The PIR and
its conditioning are those of tests/show/test_tension.py (the installation's site,
hold pot at its minimum, 3 s); run it from the checkout's root.
"""

import dataclasses
import sys

sys.path[:0] = [".", "tests"]
from tests.show.test_tension import ARRIVE, DOOR, peak, visit  # noqa: E402

from severed.config import load_show  # noqa: E402

PACING = ARRIVE + [(25.0, 65.0)]
ONE_PASS = ARRIVE + [(30.0, 33.0)]


def first(trace, after, above):
    """Seconds after ``after`` until tension is above ``above`` (None: never)."""
    return next((round(t - after, 1) for t, v in trace if t >= after and v > above), None)


def main():
    show = load_show("lumon")
    t = show.tension
    print(f"lumon: rise_per_start {t.rise_per_start:g}, rise_per_s {t.rise_per_s:g}, "
          f"decay_s {t.decay_s:g}")
    # The model before activity counted: each start added 0.15, active time nothing.
    starts_only = dataclasses.replace(show, tension=dataclasses.replace(
        t, rise_per_start=0.15, rise_per_s=0.0))
    for mode in ("retrigger", "single"):
        pacing, _ = visit(PACING, mode, door=DOOR, show=show)
        on_floor = next(v for when, v in pacing if when >= 25.0)
        one, _ = visit(ONE_PASS, mode, door=DOOR, show=show)
        old, _ = visit(PACING, mode, door=DOOR, show=starts_only)
        print(f"{mode:9s}  on the floor (25 s) {on_floor:.2f}; pacing: above 0.85 after "
              f"{first(pacing, 25.0, 0.85)} s, 1 after {first(pacing, 25.0, 0.999)} s; "
              f"one pass peaks at {peak(one, 25.0, 70.0):.2f}; pacing, starts only "
              f"(rise 0.15): peak {peak(old, 25.0, 70.0):.2f}")


if __name__ == "__main__":
    main()
