"""Attacks on the control socket and the commands behind it, played against a real
socket: each once kept other clients out, reached an impostor, or broke a command."""

import json
import os
import socket
import tempfile
import shutil
import time

import pytest

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
