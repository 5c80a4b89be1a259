"""Flood limits: the token bucket and the summary of repeated log lines."""

import logging

from severed.service.ratelimit import RepeatSummary, TokenBucket


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_bucket_allows_a_burst_then_the_rate():
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock)
    assert [bucket.take() for _ in range(7)] == [True] * 5 + [False] * 2
    clock.t += 0.35  # 3.5 tokens back
    assert [bucket.take() for _ in range(4)] == [True] * 3 + [False]
    clock.t += 60  # never more than the burst
    assert sum(bucket.take() for _ in range(20)) == 5


def test_repeats_are_summarised_and_the_first_is_always_logged(caplog):
    clock = Clock()
    quiet = RepeatSummary(logging.getLogger("t"), burst=3, window_s=10.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="t"):
        for i in range(1000):
            quiet.log("vol", logging.INFO, "command volume %d", i)
        quiet.log("other", logging.WARNING, "refused uid %d", 7)
        clock.t += 10.0
        quiet.log("vol", logging.INFO, "command volume %d", 1000)  # a new window
        quiet.flush()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["command volume 0", "command volume 1", "command volume 2",
                     "refused uid 7",
                     "command volume 0: 997 more like it in 10 s, not logged",
                     "command volume 1000"]


def test_the_summary_comes_when_the_window_ends_even_if_the_flood_stopped(caplog):
    quiet = RepeatSummary(logging.getLogger("t"), burst=1, window_s=0.2)
    with caplog.at_level(logging.INFO, logger="t"):
        for _ in range(50):
            quiet.log("k", logging.WARNING, "knock")
        import time
        time.sleep(0.6)
    assert [r.getMessage() for r in caplog.records] == [
        "knock", "knock: 49 more like it in 0.2 s, not logged"]
