"""Attacks on the control socket and the commands behind it, played against a real
socket: each once kept other clients out, reached an impostor, or broke a command."""

import json
import os
import socket
import shutil
import tempfile
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from severed.errors import ControlError
from severed.service.control import ControlClient, ControlServer


@pytest.fixture
def short_dir():
    path = tempfile.mkdtemp(prefix="sva-", dir="/tmp")  # AF_UNIX paths are short
    yield path
    shutil.rmtree(path, ignore_errors=True)


def ping(request):
    return {}


def test_eight_trickling_connections_lock_nobody_out(short_dir):
    # The attack: the daemon's eight slots taken by one account, each sending a byte
    # now and then. Another user and root must still get in, and the trickles end.
    who = {"uid": 1000}
    srv = ControlServer(os.path.join(short_dir, "c.sock"), ping, read_timeout_s=1.0,
                        credentials=lambda sock: (1, who["uid"], srv.group_gid))
    with srv:
        trickles = []
        for _ in range(8):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(srv.path)
            trickles.append(sock)
        for sock in trickles:
            try:
                sock.sendall(b"{")
            except OSError:
                pass  # refused already: at most half the slots are one user's
        time.sleep(0.2)
        who["uid"] = 1001
        assert ControlClient(srv.path).request("status")["ok"]
        who["uid"] = 0
        assert ControlClient(srv.path).request("status")["ok"]
        started = time.monotonic()
        while srv.client_count and time.monotonic() - started < 5.0:
            for sock in trickles:
                try:
                    sock.send(b" ")
                except OSError:
                    pass
            time.sleep(0.2)
        assert srv.client_count == 0, "a trickle outlived the request deadline"
        for sock in trickles:
            sock.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to play the other user")
def test_an_impostor_in_a_directory_made_first_is_not_talked_to(short_dir):
    # The attack: another user makes the daemon's predictable directory first and
    # listens there; root's `severed volume -6` talked to the impostor.
    directory = os.path.join(short_dir, "severed-0")
    os.mkdir(directory, 0o755)
    path = os.path.join(directory, "control.sock")
    impostor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    impostor.bind(path)
    impostor.listen(1)
    os.chown(path, 65534, 65534)
    os.chown(directory, 65534, 65534)
    try:
        with pytest.raises(ControlError, match="not talking to"):
            ControlClient(path, timeout_s=1.0).request("volume", db=-6)
        impostor.close()
        os.unlink(path)
        with pytest.raises(ControlError, match="belongs to"):
            ControlServer(path, ping).start()
    finally:
        impostor.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A render loop playing the small show behind the real control handler."""
    from severed.config import load_show_text, load_site
    from severed.hardware.sinks import NullSink
    from severed.loop import RenderLoop
    from severed.precompute.cache import Cache
    from severed.service.handler import ControlHandler

    from test_fuzz_config import SMALL_SHOW, dev_site_text

    d = tmp_path_factory.mktemp("attack")
    (d / "site.toml").write_text(dev_site_text())
    site = load_site(str(d / "site.toml"))
    show = load_show_text(SMALL_SHOW, str(d / "small.toml"))
    loop = RenderLoop(show, site, NullSink(), block_frames=1024, live=True, cache=Cache(None))
    return loop, ControlHandler(loop, site, show), d


def take(loop, handler, seconds=3.0):
    """Render until the take ends (as the render thread would), up to ``seconds``."""
    started = time.monotonic()
    while handler.recording.active and time.monotonic() - started < seconds:
        loop.render_block()
        time.sleep(0.001)
    handler.recording.wait(seconds)
    return handler.recording.info()


def test_a_nul_byte_in_a_take_name_leaves_record_usable(live):
    # Once this killed the writer thread and left `record` "recording" for ever.
    loop, handler, d = live
    reply = handler({"cmd": "record", "seconds": 0.1, "path": str(d / "a\0b.wav")})
    assert reply["ok"] is False and "control characters" in reply["error"]
    reply = handler({"cmd": "record", "seconds": 0.1, "path": str(d / "ok.wav")})
    assert "recording" in reply, reply
    assert take(loop, handler)["state"] == "done"


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=40), st.booleans())
def test_any_take_name_ends_the_take(live, name, wav):
    # Whatever the name, a take ends (done or failed) and the next one may start.
    loop, handler, d = live
    name = name.replace("/", "_").replace(".", "_") + (".wav" if wav else "")
    reply = handler({"cmd": "record", "seconds": 0.05, "path": name, "cwd": str(d)})
    if reply.get("ok") is False:
        assert reply["error"].startswith("record: "), reply
        return
    assert take(loop, handler)["state"] in ("done", "failed")
    assert not handler.recording.active


def test_a_command_flood_writes_a_few_lines_and_keeps_the_first(live, caplog):
    # Once 9,898 journal lines and 1.39 MB of event log in 10 s. Now the commands
    # past the rate are refused (never logged nor recorded) and repeated journal
    # lines are summarised; the first of each kind is always there.
    import logging

    from severed.service.handler import ControlHandler

    loop, handler, _ = live
    handler = ControlHandler(loop, handler.site, handler.show)  # a full bucket
    records = []
    write = loop.event_log.write
    loop.event_log.write = lambda record: (records.append(record), write(record))
    try:
        with caplog.at_level(logging.INFO):
            replies = []
            for i in range(5000):
                replies.append(handler({"cmd": "volume", "db": -(i % 40)}))
                replies.append(handler({"cmd": "scene", "name": "ab"[i % 2]}))
                if i % 50 == 0:
                    loop.render_block()
            loop.render_block()
            handler._quiet.flush()
    finally:
        loop.event_log.write = write
    taken = sum(1 for r in replies if r.get("posted"))
    refused = [r for r in replies if r.get("ok") is False]
    assert 40 <= taken < 400, taken  # the burst, then 20 a second
    assert refused and "refused, more than 20 commands a second" in refused[0]["error"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) < 60, lines[:80]
    assert lines[0].startswith("command cmd.volume"), lines[:3]
    assert any("more like it in 10 s, not logged" in line for line in lines)
    assert any("the excess is refused" in line for line in lines)
    assert len(records) <= 2 * taken + 5
    assert sum(len(json.dumps(r)) for r in records) < 100_000
