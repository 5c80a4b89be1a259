"""The event log's writer thread: a disk that holds a write (an SD card collecting its
garbage, a hung NFS mount) must not hold up the render loop. The writer's ``os.write``
is held on an Event the test controls, so nothing here depends on how fast the machine
is: the loop renders its blocks while the writer is provably stuck, then the file is
checked record by record."""

import collections
import json
import logging
import os
import threading

import numpy as np
import pytest

from severed import eventlog
from severed.config import load_show_text
from severed.eventlog import EventLog
from severed.loop import RenderLoop
from severed.show.events import Event

from capture_sink import Capture

BLOCK = 1024
SHOW = """
[show]
name = "two"
initial_scene = "main"
crossfade_s = 0.01

[scenes.main.layers.tone]
type = "tone"
freq_hz = 220
gain_db = -12

[scenes.other.layers.tone]
type = "tone"
freq_hz = 330
gain_db = -12
"""


@pytest.fixture(scope="module")
def site():
    from severed.commands.common import load_inputs
    return load_inputs()[0]


@pytest.fixture
def stuck_disk(monkeypatch, tmp_path):
    """Writes to files under tmp_path wait until ``release`` is set, whichever thread
    makes them; ``entered`` says one is waiting. Other files are written as usual."""
    entered, release = threading.Event(), threading.Event()
    real = os.write

    def write(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(tmp_path)):
            entered.set()
            release.wait(30.0)  # a failing test ends, not hangs
        return real(fd, data)

    monkeypatch.setattr(eventlog.os, "write", write)
    yield entered, release
    release.set()


def scene_changes(loop, blocks):
    """A scene command in every block: two records each (the command, the scene
    change), and a journal line for the change."""
    for i in range(blocks):
        loop.post(Event(0.0, "cmd.scene", data={"scene": "other" if i % 2 == 0 else "main"}))
        loop.render_block()


def written(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_stuck_disk_does_not_hold_up_the_render_loop(site, tmp_path, stuck_disk, caplog):
    entered, release = stuck_disk
    path = tmp_path / "events.jsonl"
    log = EventLog(str(path), keep=None, background=True)
    heard = collections.deque()
    log.add_listener(heard.append)
    sink = Capture()
    with caplog.at_level(logging.INFO, logger="severed.loop"):
        loop = RenderLoop(load_show_text(SHOW, "two.toml"), site, sink, block_frames=BLOCK,
                          live=True, event_log=log)
        assert entered.wait(10.0)  # the writer is in write(2) with the start record
        scene_changes(loop, 200)
        # 200 blocks rendered, every record with the listener, none in the file yet:
        # the writer was stuck all along.
        assert len(sink.audio()) == 200 * BLOCK
        assert path.read_text() == ""
        assert list(heard) == log.recent and len(log.recent) == 1 + 2 * 200
        assert log.lost == 0
        rms = np.sqrt(np.mean(sink.audio()[BLOCK:].astype(np.float64) ** 2))
        assert 20 * np.log10(rms) > -20.0  # the tone played through (-15 dBFS RMS)
        release.set()
        log.close()
    assert written(path) == log.recent  # every record, in order
    # The journal lines were told by the writer, not the render thread.
    scenes = [r for r in caplog.records if r.getMessage().startswith("scene ")]
    assert len(scenes) == 200
    assert {r.threadName for r in scenes} == {"severed-eventlog"}


def test_records_the_stuck_writer_has_no_room_for_are_counted_and_said(
        site, tmp_path, stuck_disk, caplog):
    entered, release = stuck_disk
    path = tmp_path / "events.jsonl"
    log = EventLog(str(path), keep=None, background=True, queue_records=50)
    with caplog.at_level(logging.WARNING, logger="severed.loop"):
        loop = RenderLoop(load_show_text(SHOW, "two.toml"), site, Capture(),
                          block_frames=BLOCK, live=True, event_log=log)
        assert entered.wait(10.0)
        scene_changes(loop, 200)
        dropped = log.lost
        assert dropped == len(log.recent) - 1 - 50  # start (being written) and 50 queued
        release.set()
        assert log.flush(10.0)
        scene_changes(loop, 5)  # writing resumed: the next record says what is missing
        log.close()
    lines = written(path)
    gap = next(i for i, r in enumerate(lines) if r["type"] == "lost")
    assert lines[gap]["records"] == dropped
    assert lines[:gap] == log.recent[:gap]
    assert lines[gap + 1:] == log.recent[gap + dropped:]  # nothing else lost, in order
    assert lines[-1] == log.recent[-1] and log.lost == 0
    behind = [r for r in caplog.records if "fell behind" in r.getMessage()]
    assert len(behind) == 1 and f"{dropped} records" in behind[0].getMessage()


def test_closing_with_the_disk_still_stuck_gives_up_and_says_so(
        tmp_path, stuck_disk, monkeypatch, caplog):
    entered, release = stuck_disk
    monkeypatch.setattr(eventlog, "CLOSE_WAIT_S", 0.05)
    log = EventLog(str(tmp_path / "events.jsonl"), background=True)
    log.write({"t": 0.0, "type": "start"})
    assert entered.wait(10.0)
    with caplog.at_level(logging.ERROR, logger="severed.loop"):
        log.close()  # returns: a daemon stopping does not hang on the disk
    assert "has taken no record" in caplog.text
    release.set()


def test_a_retarget_comes_between_two_records(tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    log = EventLog(str(first), background=True)
    for i in range(100):
        log.write({"t": float(i), "type": "sensor", "sensor": "door", "state": "open"})
    log.retarget(str(second))
    log.write({"t": 100.0, "type": "reload"})
    log.close()
    assert [r["t"] for r in written(first)] == [float(i) for i in range(100)]
    assert [r["type"] for r in written(second)] == ["reload"]


def test_a_file_that_cannot_be_opened_is_reported_when_the_log_is_made(tmp_path):
    log = EventLog(str(tmp_path / "no" / "events.jsonl"), background=True)
    assert log.failing == "no such directory"
    log.close()


def test_offline_the_log_is_written_in_line_in_order(tmp_path):
    """``severed render --events`` (no ``background``): every record is in the file as
    soon as ``write`` returns, in order, and no writer thread is started."""
    path = tmp_path / "events.jsonl"
    before = set(threading.enumerate())
    log = EventLog(str(path), keep=None)
    assert set(threading.enumerate()) - before == set()  # no thread of its own
    for i in range(100):
        log.write({"t": i / 10, "type": "sensor", "sensor": "door", "state": "open"})
        assert len(path.read_text().splitlines()) == i + 1
    assert written(path) == log.recent
    log.close()
