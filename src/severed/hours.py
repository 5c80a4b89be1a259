"""Opening hours: is the exhibit open at a given local time?

``close`` may be earlier than ``open`` for a night opening (22:00 to 02:00): the hours
after midnight then belong to the day the opening started.
"""

from datetime import timedelta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def minutes(hhmm):
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def is_open(hours, when):
    """True when ``when`` (a naive local datetime) falls within ``hours``."""
    now = when.hour * 60 + when.minute
    start, end = minutes(hours.open), minutes(hours.close)
    today = DAYS[when.weekday()]
    if start < end:
        return today in hours.days and start <= now < end
    if start == end:  # open around the clock on the listed days
        return today in hours.days
    yesterday = DAYS[(when - timedelta(days=1)).weekday()]
    return (today in hours.days and now >= start) or (yesterday in hours.days and now < end)
