"""When the frames a render loop writes are heard, on the wall clock.

A group of booths agrees on scene changes in wall-clock time (``time.time()``, which
chrony keeps in step across a venue's Pis); each booth turns that time into a frame of
its own sample clock. The render loop tells an :class:`OutputClock` after each
``sink.write`` how many frames it has written; the sink's output latency says how long
the last of them takes to reach the speaker::

    clock = OutputClock(48000, output_latency_s(sink))
    loop.output_clock = clock             # the loop calls clock.wrote(frames) per block
    frame = clock.frame_at(time.time() + 0.4)

A write returns late when the render thread was woken late, never early: the smallest
offset over the last few blocks is the truest one, and a late wake-up does not move it.
"""

import time

WINDOW_BLOCKS = 32


class OutputClock:
    def __init__(self, sample_rate, latency_s, wall=time.time, window=WINDOW_BLOCKS):
        self.sample_rate = sample_rate
        self.latency_s = latency_s
        self._wall = wall
        self._offsets = [None] * window
        self._next = 0
        self.offset_s = None  # wall-clock time at which frame 0 is heard; None until a write

    def wrote(self, frames_written):
        """The sink has taken every frame before ``frames_written`` (render thread)."""
        offset = self._wall() + self.latency_s - frames_written / self.sample_rate
        self._offsets[self._next] = offset
        self._next = (self._next + 1) % len(self._offsets)
        self.offset_s = min(o for o in self._offsets if o is not None)

    def frame_at(self, wall_s):
        """The frame heard at wall-clock time ``wall_s``."""
        offset = self.offset_s
        if offset is None:
            offset = self._wall() + self.latency_s
        return int(round((wall_s - offset) * self.sample_rate))

    def wall_at(self, frame):
        """The wall-clock time at which ``frame`` is heard."""
        offset = self.offset_s
        if offset is None:
            offset = self._wall() + self.latency_s
        return offset + frame / self.sample_rate


def output_latency_s(sink):
    """How long after ``sink.write`` returns the last frame written is heard.

    A PyAudio sink holds ``render_ahead_blocks`` in its queue when ``write`` returns,
    then PortAudio's own buffer; a paced null or WAV sink returns ``ahead_s`` before
    the frames are due. Other sinks: 0."""
    ahead = getattr(sink, "render_ahead_blocks", None)
    if ahead is not None:
        device = 0.0
        stream = getattr(sink, "_stream", None)
        if stream is not None and hasattr(stream, "get_output_latency"):
            try:
                device = float(stream.get_output_latency())
            except Exception:  # noqa: BLE001 - a vanished device: its buffer is unknown
                device = 0.0
        return ahead * sink.block_frames / sink.sample_rate + device
    pacer = getattr(sink, "_pacer", None)
    return float(getattr(pacer, "ahead_s", 0.0)) if pacer is not None else 0.0
