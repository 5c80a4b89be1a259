"""Hardware I/O timings: sensor edge -> on_edge, and the audio writer thread's work.

Runs anywhere (no sound card, no GPIO): sensors on gpiozero's MockFactory, audio through
an ALSA ``file`` PCM over the ``null`` PCM defined in a temporary ~/.asoundrc. The file
PCM is not paced, so the writer's per-write time is our own cost (conversion, copying,
PortAudio and ALSA plugin overhead), not waiting for a device. On a Pi Zero 2 W expect
about 10x these numbers; one block of 2048 frames lasts 42.7 ms at 48 kHz.

    .venv/bin/python benchmarks/bench_sink.py [--blocks 500] [--edges 5000]
"""

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path


def percentiles(values_s):
    v = sorted(values_s)
    pick = lambda q: v[min(len(v) - 1, int(q * len(v)))] * 1e6  # noqa: E731
    return (f"median {statistics.median(v) * 1e6:7.1f} us  p99 {pick(0.99):7.1f} us  "
            f"max {v[-1] * 1e6:7.1f} us  (n={len(v)})")


def bench_edges(n_edges):
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    from severed.config.model import SensorSpec
    from severed.hardware.sensors import SensorBank

    Device.pin_factory = MockFactory()
    stamps = []
    bank = SensorBank([SensorSpec("door", "door", 17), SensorSpec("motion", "pir", 4,
                                                                  pull="down",
                                                                  active_state="high")],
                      on_edge=lambda t, name, level: stamps.append(t),
                      clock=time.perf_counter)
    for name, pin in (("door (Button)", 17), ("motion (DigitalInputDevice)", 4)):
        mock = Device.pin_factory.pin(pin)
        latencies = []
        for i in range(n_edges):
            before = time.perf_counter()
            mock.drive_high() if i % 2 else mock.drive_low()
            latencies.append(stamps[-1] - before)
        print(f"edge -> on_edge, {name:28s} {percentiles(latencies)}")
    bank.close()
    Device.pin_factory.reset()
    Device.pin_factory = None


def bench_conditioning(n_calls):
    """Conditioning runs on the render thread: its cost per block matters."""
    from severed.config.model import SensorSpec
    from severed.hardware.conditioning import Conditioner

    specs = [SensorSpec("door", "door", 17, stuck_after_s=600.0),
             SensorSpec("motion", "pir", 4, warmup_s=1.0, merge_s=3.0),
             SensorSpec("motion2", "pir", 5, merge_s=3.0),
             SensorSpec("reward", "button", 27, hold_s=2.0)]
    cond = Conditioner(specs, 0.0)
    block_s = 2048 / 48000
    t0 = time.perf_counter()
    for i in range(n_calls):
        cond.poll(i * block_s)
    per_poll = (time.perf_counter() - t0) / n_calls
    names = [s.name for s in specs]
    t = n_calls * block_s
    t0 = time.perf_counter()
    for i in range(n_calls):  # a storm: every sensor bouncing every 7 ms
        cond.edge(t + i * 0.007, names[i % 4], (i // 4) % 2)
    per_edge = (time.perf_counter() - t0) / n_calls
    print(f"conditioning, 4 sensors: poll {per_poll * 1e6:.1f} us per block, "
          f"edge {per_edge * 1e6:.1f} us per raw edge in a bounce storm")


def bench_writer(n_blocks, sample_format, block_frames=2048):
    import numpy as np

    from severed.hardware.pyaudio_sink import PyAudioSink

    sink = PyAudioSink("default", 48000, 2, sample_format, block_frames, 3).open()
    write_times, convert_times = [], []
    stream_write, convert = sink._stream.write, sink._conv.convert

    def timed_write(*a, **kw):
        t = time.perf_counter()
        stream_write(*a, **kw)
        write_times.append(time.perf_counter() - t)

    def timed_convert(block):
        t = time.perf_counter()
        out = convert(block)
        convert_times.append(time.perf_counter() - t)
        return out

    sink._stream.write, sink._conv.convert = timed_write, timed_convert
    block = (np.random.default_rng(1).uniform(-1.2, 1.2, (block_frames, 2))
             .astype(np.float32))
    render_side = []
    start = time.perf_counter()
    for _ in range(n_blocks):
        t = time.perf_counter()
        sink.write(block)
        render_side.append(time.perf_counter() - t)
    sink.close()
    wall = time.perf_counter() - start
    print(f"{sample_format:7s} stream.write          {percentiles(write_times)}")
    print(f"{sample_format:7s} convert float32->fmt  {percentiles(convert_times)}")
    print(f"{sample_format:7s} sink.write (render)   {percentiles(render_side)}")
    audio_s = n_blocks * block_frames / 48000
    print(f"{sample_format:7s} {n_blocks} blocks ({audio_s:.1f} s of audio) in {wall:.3f} s: "
          f"{audio_s / wall:.0f}x real time; zero blocks fed meanwhile: "
          f"{len(write_times) - n_blocks}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=500)
    parser.add_argument("--edges", type=int, default=5000)
    args = parser.parse_args()
    print(f"CPU threads: {os.cpu_count()}, Python threads at start: {threading.active_count()}")
    bench_edges(args.edges)
    bench_conditioning(args.edges)
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "capture.raw"
        (Path(tmp) / ".asoundrc").write_text(
            f'pcm.!default {{\n type file\n slave.pcm "null"\n file "{capture}"\n'
            f' format "raw"\n}}\n')
        os.environ["HOME"] = tmp  # before PortAudio starts: ALSA reads ~/.asoundrc then
        for fmt in ("int16", "int32", "float32"):
            bench_writer(args.blocks, fmt)
            capture.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
