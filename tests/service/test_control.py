"""The control socket protocol, against a real Unix socket."""

import json
import os
import socket
import stat
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from severed.errors import ControlError
from severed.service import control, socketpath
from severed.service.control import (MAX_REQUEST_BYTES, ControlClient, ControlServer,
                                     peer_allowed)


def echo(request):
    if request["cmd"] == "boom":
        raise RuntimeError("handler bug")
    if request["cmd"] == "refuse":
        return {"ok": False, "error": "no"}
    return {"echo": request}


@pytest.fixture
def server(short_dir):
    # Its clients count as root, whoever runs the tests: the per-user limits have a
    # test of their own.
    srv = ControlServer(os.path.join(short_dir, "control.sock"), echo, read_timeout_s=0.5,
                        max_clients=3, credentials=lambda sock: (1, 0, 0))
    srv.start()
    yield srv
    srv.stop()


def raw(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(2.0)
    sock.connect(path)
    return sock, sock.makefile("rb")


def test_round_trip_and_socket_mode(server):
    reply = ControlClient(server.path).request("status", detail=True)
    assert reply == {"v": 1, "ok": True,
                     "echo": {"v": 1, "cmd": "status", "detail": True}}
    mode = os.stat(server.path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o660


def test_one_connection_serves_many_requests(server):
    with ControlClient(server.path) as client:
        for i in range(20):
            assert client.request("n", i=i)["echo"]["i"] == i
    time.sleep(0.1)
    assert server.client_count == 0


def test_error_replies_keep_the_connection(server):
    sock, reader = raw(server.path)
    sock.sendall(b"{not json\n[1,2]\n{\"v\":2,\"cmd\":\"x\"}\n{\"v\":1}\n"
                 b"{\"cmd\":\"boom\"}\n{\"cmd\":\"refuse\"}\n\n{\"cmd\":\"ok\"}\n")
    replies = [json.loads(reader.readline()) for _ in range(7)]
    assert [r["ok"] for r in replies] == [False] * 6 + [True]
    assert replies[0]["error"].startswith("malformed request (not JSON)")
    assert replies[1]["error"] == "malformed request: expected a JSON object"
    assert replies[2]["error"].startswith("unsupported protocol version 2")
    assert replies[3]["error"] == "malformed request: no 'cmd'"
    assert replies[4]["error"] == "internal error in 'boom': RuntimeError: handler bug"
    assert replies[5] == {"v": 1, "ok": False, "error": "no"}
    assert all(r["v"] == 1 for r in replies)
    sock.close()
    assert server.running


def test_oversized_request_gets_an_error_and_is_closed(server):
    sock, reader = raw(server.path)
    sock.sendall(b'{"cmd":"' + b"a" * (MAX_REQUEST_BYTES + 10))
    reply = json.loads(reader.readline())
    assert reply["ok"] is False and "longer than 65536 bytes" in reply["error"]
    assert reader.readline() == b""  # closed
    sock.close()
    # A request just under the limit still works.
    body = {"cmd": "big", "pad": "x" * (MAX_REQUEST_BYTES - 100)}
    assert ControlClient(server.path).request(**body)["ok"] is True


def test_non_finite_numbers_become_null(short_dir):
    srv = ControlServer(os.path.join(short_dir, "c.sock"),
                        lambda r: {"peak_dbfs": float("-inf"), "x": [float("nan"), 1.5]})
    with srv:
        reply = ControlClient(srv.path).request("status")
    assert reply["peak_dbfs"] is None and reply["x"] == [None, 1.5]


def test_incomplete_request_times_out_with_a_reason(server):
    sock, reader = raw(server.path)
    sock.sendall(b'{"cmd": "sta')
    started = time.monotonic()
    reply = json.loads(reader.readline())
    waited = time.monotonic() - started
    assert reply["ok"] is False and "incomplete request after 0.5 s" in reply["error"]
    assert 0.4 < waited < 1.5
    assert reader.readline() == b""
    sock.close()


def test_idle_connection_is_closed_and_the_client_reconnects(server):
    client = ControlClient(server.path)
    assert client.request("a")["ok"]
    time.sleep(1.0)  # past read_timeout_s: the server closed us silently
    assert server.client_count == 0
    assert client.request("b")["echo"]["cmd"] == "b"
    client.close()


def test_a_trickle_of_bytes_does_not_extend_the_request_deadline(server):
    # One byte at a time, each well inside the timeout: the request as a whole is not.
    sock, reader = raw(server.path)
    sock.settimeout(0.1)
    started = time.monotonic()
    with pytest.raises(OSError):
        while time.monotonic() - started < 3.0:
            sock.sendall(b" ")
            time.sleep(0.1)
    sock.settimeout(2.0)
    waited = time.monotonic() - started
    reply = json.loads(reader.readline())
    assert "incomplete request after 0.5 s" in reply["error"]
    assert waited < 1.5
    sock.close()


def test_blank_lines_do_not_keep_a_connection_open(server):
    sock, reader = raw(server.path)
    started = time.monotonic()
    with pytest.raises(OSError):
        while time.monotonic() - started < 3.0:
            sock.sendall(b"\n")
            time.sleep(0.1)
    assert time.monotonic() - started < 1.5
    sock.close()


def as_user(who):
    """Credentials that say each new connection comes from ``who["uid"]``."""
    return lambda sock: (1, who["uid"], who["gid"])


def test_one_user_cannot_take_every_slot_and_root_keeps_one(short_dir):
    who = {"uid": 1000, "gid": None}
    srv = ControlServer(os.path.join(short_dir, "c.sock"), echo, max_clients=4,
                        credentials=as_user(who), read_timeout_s=5.0)
    with srv:
        who["gid"] = srv.group_gid  # a member of the socket's group

        def connect(uid):
            who["uid"] = uid
            sock, reader = raw(srv.path)
            try:
                sock.sendall(b'{"cmd":"hi"}\n')
            except OSError:
                pass  # refused and closed at once: the reason is waiting to be read
            return sock, reader, json.loads(reader.readline())

        held = [connect(1000) for _ in range(2)]
        assert all(reply["ok"] for _, _, reply in held)
        *_, reply = connect(1000)
        assert reply["ok"] is False
        assert "too many connections from" in reply["error"] and "at most 2" in reply["error"]
        held.append(connect(1001))
        assert held[-1][2]["ok"]
        *_, reply = connect(1002)  # three of four taken: the last is root's
        assert reply["ok"] is False and "kept for root" in reply["error"]
        held.append(connect(0))
        assert held[-1][2]["ok"]
        for sock, reader, _ in held:
            reader.close()
            sock.close()


def test_too_many_clients_are_told_so(server):
    held = [raw(server.path) for _ in range(3)]
    for sock, reader in held:
        sock.sendall(b'{"cmd":"hi"}\n')
        assert json.loads(reader.readline())["ok"]
    sock, reader = raw(server.path)
    reply = json.loads(reader.readline())
    assert reply["ok"] is False and reply["error"].startswith("too many clients (at most 3)")
    assert reader.readline() == b""
    for s, r in held:
        r.close()
        s.close()
    time.sleep(0.1)
    assert ControlClient(server.path).request("again")["ok"]


def test_client_says_when_the_daemon_is_not_running(short_dir):
    path = os.path.join(short_dir, "none.sock")
    with pytest.raises(ControlError) as err:
        ControlClient(path).request("status")
    assert str(err.value) == (f"severed is not running: no socket at {path} "
                              f"(given by --socket or SEVERED_CONTROL)")


@pytest.fixture
def hand_env(short_dir, monkeypatch):
    """No service on this machine, and a runtime directory of our own."""
    monkeypatch.delenv("SEVERED_CONTROL", raising=False)
    monkeypatch.delenv("SUDO_UID", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", short_dir)
    monkeypatch.setattr(socketpath, "SERVICE_PATH", os.path.join(short_dir, "svc.sock"))
    return short_dir


def test_not_running_says_where_it_looked_and_how_to_start(hand_env):
    with pytest.raises(ControlError) as err:
        ControlClient().request("status")
    text = str(err.value)
    assert f"no socket at {socketpath.SERVICE_PATH}" in text
    assert os.path.join(hand_env, "severed", "control.sock") in text
    assert "sudo systemctl start severed" in text and "severed run --simulate" in text


def test_the_cli_finds_a_daemon_started_by_hand(hand_env):
    # `severed run --simulate` binds here; `severed status` must look here too.
    path = socketpath.daemon_path()
    assert path == os.path.join(hand_env, "severed", "control.sock")
    socketpath.make_private_directory(os.path.dirname(path))
    with ControlServer(path, echo):
        assert ControlClient().path == path
        assert ControlClient().request("status")["ok"]


def test_without_a_runtime_directory_a_private_one_in_tmp(monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(socketpath.os.path, "isdir", lambda p: False)
    assert socketpath.hand_started_dir() == f"/tmp/severed-{os.geteuid()}"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory away")
def test_a_directory_someone_else_made_first_is_refused(hand_env):
    # The attack: another local user creates our predictable directory first and
    # listens there; root's `severed volume -6` then talked to the impostor.
    directory = os.path.join(hand_env, "severed")
    os.mkdir(directory, 0o755)
    os.chown(directory, 65534, 65534)
    with pytest.raises(ControlError, match="belongs to .*65534"):
        socketpath.make_private_directory(directory)
    with pytest.raises(ControlError, match="belongs to .*65534"):
        ControlServer(os.path.join(directory, "control.sock"), echo).start()
    # An impostor's socket there: the CLI does not talk to it.
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(os.path.join(directory, "control.sock"))
    listener.listen(1)
    try:
        with pytest.raises(ControlError, match="not talking to .*belongs to"):
            ControlClient().request("volume", db=-6)
    finally:
        listener.close()


def test_a_symlinked_or_shared_directory_is_refused(hand_env, short_dir):
    target = os.path.join(short_dir, "elsewhere")
    os.mkdir(target, 0o700)
    directory = os.path.join(hand_env, "severed")
    os.symlink(target, directory)
    with pytest.raises(ControlError, match="symbolic link"):
        socketpath.make_private_directory(directory)
    with pytest.raises(ControlError, match="symbolic link"):
        ControlServer(os.path.join(directory, "control.sock"), echo).start()
    os.unlink(directory)
    os.mkdir(directory)
    os.chmod(directory, 0o777)
    with pytest.raises(ControlError, match="may be written by others"):
        ControlServer(os.path.join(directory, "control.sock"), echo).start()
    with pytest.raises(ControlError, match="not talking to .*may be written by others"):
        ControlClient(os.path.join(directory, "control.sock")).request("status")


def test_client_explains_permission_denied(short_dir, monkeypatch):
    class Denied(socket.socket):
        def connect(self, address):
            raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(control.socket, "socket", Denied)
    with pytest.raises(ControlError) as err:
        ControlClient(os.path.join(short_dir, "x.sock")).request("status")
    assert "add yourself to the group severed: sudo adduser $USER severed, " \
           "then log in again" in str(err.value)


def test_default_path_from_environment(hand_env, monkeypatch):
    assert ControlClient().path == socketpath.SERVICE_PATH
    monkeypatch.setenv("SEVERED_CONTROL", "/tmp/elsewhere.sock")
    assert ControlClient().path == "/tmp/elsewhere.sock"


def test_stale_socket_is_replaced_and_a_live_one_refused(short_dir):
    path = os.path.join(short_dir, "c.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # a file nobody listens on, as a crashed daemon leaves it
    first = ControlServer(path, echo).start()
    try:
        with pytest.raises(ControlError, match="another severed is already listening"):
            ControlServer(path, echo).start()
        assert ControlClient(path).request("x")["ok"]
    finally:
        first.stop()
    assert not os.path.exists(path)
    assert not first.running


def test_a_plain_file_in_the_way_is_not_deleted(short_dir):
    path = os.path.join(short_dir, "c.sock")
    open(path, "w").close()
    with pytest.raises(ControlError, match="exists and is not a socket"):
        ControlServer(path, echo).start()
    assert os.path.isfile(path)


def test_peer_allowed_rules():
    rules = dict(own_uid=500, group_gid=900, members=frozenset({"tech"}))
    assert peer_allowed(0, 0, **rules)  # root
    assert peer_allowed(500, 500, **rules)  # the daemon's own user
    assert peer_allowed(1001, 900, **rules)  # primary group
    assert peer_allowed(1002, 1002, name="tech", **rules)  # listed member
    assert peer_allowed(1003, 1003, groups=(20, 900), **rules)  # process groups
    assert not peer_allowed(1004, 1004, name="visitor", groups=(20,), **rules)
    assert not peer_allowed(1004, 1004, own_uid=500, group_gid=None)


def test_refused_peer_gets_a_reply_and_is_closed(short_dir):
    srv = ControlServer(os.path.join(short_dir, "c.sock"), echo,
                        credentials=lambda sock: (4242, 54321, 54321))
    with srv:
        sock, reader = raw(srv.path)
        reply = json.loads(reader.readline())
        assert reply["ok"] is False
        assert reply["error"].startswith("permission denied: uid 54321 is not in the group")
        assert reader.readline() == b""
        sock.close()
        with pytest.raises(ControlError, match="permission denied"):
            ControlClient(srv.path).request("status")


def test_a_refusal_sent_before_the_request_is_still_read(short_dir):
    # A daemon that refuses at accept time answers and closes before the client
    # writes; the client's write then fails, but the answer is waiting to be read.
    path = os.path.join(short_dir, "r.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    client = ControlClient(path)
    client.connect()
    conn, _ = listener.accept()
    conn.sendall(b'{"v": 1, "ok": false, "error": "permission denied: go away"}\n')
    conn.close()
    listener.close()
    with pytest.raises(ControlError, match="permission denied: go away"):
        client.request("status")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become nobody")
def test_nobody_is_refused_for_real(short_dir):
    import pwd

    nobody = pwd.getpwnam("nobody")
    os.chmod(short_dir, 0o755)
    srv = ControlServer(os.path.join(short_dir, "c.sock"), echo)
    with srv:
        os.chmod(srv.path, 0o666)  # let nobody reach the credential check itself
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: become nobody and ask
            try:
                os.close(r)
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
                try:
                    ControlClient(srv.path).request("status")
                    result = "allowed"
                except ControlError as exc:
                    result = str(exc)
                os.write(w, result.encode())
            finally:
                os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        result = os.read(r, 4096).decode()
        os.close(r)
    assert result.startswith("permission denied: nobody is not in the group")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.binary(max_size=300),
                          st.recursive(st.none() | st.booleans() | st.floats() | st.text(),
                                       lambda c: st.lists(c) | st.dictionaries(st.text(), c),
                                       max_leaves=10).map(lambda v: json.dumps(v).encode()),
                          st.dictionaries(st.sampled_from(["cmd", "v", "db", "name"]),
                                          st.integers() | st.text() | st.none())
                          .map(lambda v: json.dumps(v).encode())),
                max_size=5))
def test_random_messages_never_break_the_server(server, messages):
    sock, reader = raw(server.path)
    payload = b"\n".join(m.replace(b"\n", b" ") for m in messages) + b"\n"
    sock.sendall(payload)
    expected = sum(1 for m in messages if m.replace(b"\n", b" ").strip())
    for _ in range(expected):
        reply = json.loads(reader.readline())
        assert reply["v"] == 1 and isinstance(reply["ok"], bool)
        if not reply["ok"]:
            assert isinstance(reply["error"], str) and reply["error"]
    sock.close()
    assert server.running
    assert ControlClient(server.path).request("alive")["ok"]


def test_impossible_socket_directory_says_what_to_do(short_dir):
    blocker = os.path.join(short_dir, "file")
    open(blocker, "w").close()  # a file where the directory should be (fails even as root)
    with pytest.raises(ControlError, match="set SEVERED_CONTROL to a path you can write"):
        ControlServer(os.path.join(blocker, "sub", "c.sock"), echo).start()
