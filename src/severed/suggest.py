""""Did you mean": the nearest of the known names to one mistyped."""

import difflib


def did_you_mean(name, choices):
    """``"; did you mean 'innie'?"`` for the choice closest to ``name``, or ``""``."""
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
