"""The control socket: how ``severed status``, ``scene``, ``volume`` ... reach the daemon.

A Unix stream socket (``/run/severed/control.sock`` for the service, a private
directory for a daemon started by hand: see ``socketpath``; ``SEVERED_CONTROL`` or an
argument overrides it) carrying JSON lines. Request and replies::

    {"v": 1, "cmd": "scene", "name": "innie"}
    {"v": 1, "ok": true, ...}
    {"v": 1, "ok": false, "error": "no scene 'innee' in show lumon (scenes: ...)"}

Who may connect: root, the daemon's own user, and members of the socket's group
(``severed`` when that group exists), checked with SO_PEERCRED; the socket is mode 0660.
Nothing a client sends can raise into the server: a request over ``MAX_REQUEST_BYTES``,
malformed JSON, an unknown command, a request not finished within ``read_timeout_s`` of
its first byte (a trickle of bytes does not extend it), or one client too many gets an
error reply, and a handler that raises is logged and answered with an error. No account
can take every connection: each user has at most ``max_per_uid`` of the
``max_clients``, and the last one is kept for root. The server runs on its own thread::

    server = ControlServer(path, ControlHandler(loop, site, show_loader=...))
    server.start()
    ...
    server.stop()      # joins the thread and removes the socket

    ControlClient().request("volume", db=-6)   # -> {"v": 1, "ok": True, ...}
"""

import errno
import grp
import json
import logging
import math
import os
import pwd
import selectors
import socket
import stat
import struct
import threading
import time

from severed.errors import ControlError
from severed.service import socketpath
from severed.service.ratelimit import RepeatSummary

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
DEFAULT_PATH = socketpath.SERVICE_PATH
GROUP = "severed"
MAX_REQUEST_BYTES = 64 * 1024
MAX_REPLY_BYTES = 4 * 1024 * 1024  # a reply the client never reads is dropped past this
SOCKET_MODE = 0o660


def default_path(env=None):
    """The socket a client talks to (see ``socketpath.client_path``)."""
    return socketpath.client_path(env)


# ----------------------------------------------------------------- credentials


def peer_credentials(sock):
    """(pid, uid, gid) of the process at the other end of a Unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", raw)


def proc_groups(pid):
    """The supplementary groups of process ``pid`` from /proc, or () if unreadable.

    SO_PEERCRED gives only the primary group; /proc tells the groups the process
    really has (after ``newgrp``, or before a fresh login picks up ``adduser``). With
    ``ProtectProc=invisible`` the daemon cannot read it: the group database decides.
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Groups:"):
                    return tuple(int(g) for g in line.split()[1:])
    except (OSError, ValueError):
        pass
    return ()


def group_members(gid):
    """Names of the users whose supplementary group list holds ``gid``."""
    try:
        return frozenset(grp.getgrgid(gid).gr_mem)
    except KeyError:
        return frozenset()


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def peer_allowed(uid, gid, *, own_uid, group_gid, members=frozenset(), name=None,
                 groups=()):
    """Whether a peer may use the socket: root, our user, or in the socket's group.

    ``members`` are the user names listed in the group, ``name`` the peer's user
    name, ``groups`` the peer process's supplementary gids (if known).
    """
    if uid == 0 or uid == own_uid:
        return True
    if group_gid is None:
        return False
    return gid == group_gid or group_gid in groups or (name is not None and name in members)


def refusal_message(uid, group_name):
    who = user_name(uid) or f"uid {uid}"
    return (f"permission denied: {who} is not in the group {group_name}; "
            f"add yourself to it: sudo adduser {who} {group_name}, then log in again")


# ---------------------------------------------------------------------- server


def _finite(value):
    """JSON has no NaN or infinity (a silent meter reads -inf dBFS): send null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def encode(message):
    return (json.dumps(_finite(message), default=str, allow_nan=False,
                       separators=(",", ":")) + "\n").encode()


def error_reply(text, **extra):
    return {"v": PROTOCOL_VERSION, "ok": False, "error": text, **extra}


def answer(handler, line):
    """The reply to one request ``line`` (JSON bytes) from ``handler``: the envelope,
    version and checks every transport of control commands shares (this socket, MQTT)."""
    try:
        request = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return error_reply(f"malformed request (not JSON): {str(exc)[:100]}")
    if not isinstance(request, dict):
        return error_reply("malformed request: expected a JSON object")
    version = request.get("v", PROTOCOL_VERSION)
    if version != PROTOCOL_VERSION:
        return error_reply(f"unsupported protocol version {version!r}: this daemon "
                           f"speaks {PROTOCOL_VERSION}; update severed")
    if not isinstance(request.get("cmd"), str):
        return error_reply("malformed request: no 'cmd'")
    try:
        reply = handler(request)
    except Exception as exc:
        log.exception("control command %r failed", request.get("cmd"))
        return error_reply(f"internal error in {request['cmd']!r}: "
                           f"{type(exc).__name__}: {exc}")
    if not isinstance(reply, dict):
        return error_reply(f"internal error in {request['cmd']!r}: no reply")
    return {"v": PROTOCOL_VERSION, "ok": True, **reply}


class _Connection:
    __slots__ = ("sock", "uid", "inbuf", "outbuf", "last_active", "request_started",
                 "closing")

    def __init__(self, sock, now):
        self.sock = sock
        self.uid = None  # known once the credentials are checked
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.last_active = now  # the last answered request (or the accept)
        self.request_started = None  # first byte of the request being received
        self.closing = False  # close once outbuf is sent


class ControlServer:
    """Serves ``handler(request) -> reply dict`` on a Unix socket from one thread.

    ``group``: the socket's group name (used when it exists); ``max_clients``
    connections at once, at most ``max_per_uid`` of them (default half) from one user
    and the last one for root only; a connection that asks nothing for
    ``read_timeout_s``, or takes longer than that to send one request, is closed.
    ``credentials`` maps a connected socket to (pid, uid, gid) (tests inject it).
    """

    def __init__(self, path, handler, *, group=GROUP, max_clients=8, max_per_uid=None,
                 read_timeout_s=10.0, max_request_bytes=MAX_REQUEST_BYTES,
                 credentials=peer_credentials):
        self.path = os.fspath(path)
        self.handler = handler
        self.group = group
        self.max_clients = max_clients
        self.max_per_uid = max_per_uid or max(1, max_clients // 2)
        self.read_timeout_s = read_timeout_s
        self.max_request_bytes = max_request_bytes
        self.credentials = credentials
        self.own_uid = os.geteuid()
        self._quiet = RepeatSummary(log)  # a refused user may knock in a loop
        self._listener = None
        self._selector = None
        self._wake_r = self._wake_w = None
        self._connections = {}
        self._thread = None
        self._stopping = threading.Event()
        self._inode = None
        self.group_gid = None

    # -- life cycle

    def start(self):
        """Bind the socket and serve on a thread; ControlError if that is impossible."""
        self._bind()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, "listen")
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name="severed-control",
                                        daemon=True)
        self._thread.start()
        log.info("control socket listening at %s", self.path)
        return self

    def stop(self, timeout_s=5.0):
        """Stop serving, close every connection, remove the socket, join the thread."""
        if self._thread is None:
            return
        self._stopping.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(timeout_s)
        self._thread = None
        for conn in list(self._connections.values()):
            self._close(conn)
        for s in (self._listener, self._wake_r, self._wake_w):
            s.close()
        self._selector.close()
        self._remove_socket_file()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def running(self):
        return self._thread is not None and self._thread.is_alive()

    @property
    def client_count(self):
        return len(self._connections)

    def _bind(self):
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise ControlError(f"cannot create the directory for the control socket "
                               f"{directory}: {exc.strerror}; outside the service, set "
                               f"SEVERED_CONTROL to a path you can write, e.g. "
                               f"$XDG_RUNTIME_DIR/severed.sock") from exc
        # A directory someone else made (or a symlink they planted) could hand our
        # clients to their socket: bind only in one that is ours or root's.
        socketpath.check_directory(directory, owners={self.own_uid, 0})
        self._clear_stale_socket()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # Until chmod below the socket has the umask's mode (0755 at worst): no one
            # but us can connect in that window, since connecting needs write access.
            listener.bind(self.path)
            os.chmod(self.path, SOCKET_MODE)
            self._set_group()
            listener.listen(self.max_clients + 2)
        except OSError as exc:
            listener.close()
            raise ControlError(f"cannot listen on the control socket {self.path}: "
                               f"{exc.strerror or exc}") from exc
        listener.setblocking(False)
        self._listener = listener
        self._inode = os.stat(self.path).st_ino
        self.group_gid = os.stat(self.path).st_gid

    def _set_group(self):
        try:
            gid = grp.getgrnam(self.group).gr_gid
        except KeyError:
            log.info("no group %s: the control socket is for root and %s only",
                     self.group, user_name(self.own_uid))
            return
        if os.stat(self.path).st_gid == gid:
            return  # the unit's Group=severed already gave it; chown is filtered there
        try:
            os.chown(self.path, -1, gid)
        except OSError as exc:
            log.warning("cannot give the control socket %s to group %s: %s",
                        self.path, self.group, exc.strerror)

    def _clear_stale_socket(self):
        try:
            mode = os.lstat(self.path).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ControlError(f"{self.path} exists and is not a socket: remove it or set "
                               f"SEVERED_CONTROL to another path")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(0.5)
        try:
            probe.connect(self.path)
        except OSError:
            os.unlink(self.path)  # left by a daemon that died: nobody listens
            return
        finally:
            probe.close()
        raise ControlError(f"another severed is already listening on {self.path}: "
                           f"stop it first (systemctl stop severed)")

    def _remove_socket_file(self):
        # Only our own socket: a successor may already have bound the path.
        try:
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        except OSError:
            pass

    # -- the loop

    def _serve(self):
        while not self._stopping.is_set():
            try:
                self._step()
            except Exception:  # never let one bad turn end the control socket
                log.exception("control socket error")
                time.sleep(0.05)

    def _step(self):
        timeout = max(0.05, min(1.0, self.read_timeout_s / 4))
        for key, events in self._selector.select(timeout):
            if key.data == "listen":
                self._accept()
            elif key.data == "wake":
                try:
                    self._wake_r.recv(64)
                except OSError:
                    pass
            else:
                conn = key.data
                if events & selectors.EVENT_READ:
                    self._read(conn)
                if events & selectors.EVENT_WRITE and conn.sock.fileno() != -1:
                    self._flush(conn)
        self._expire_idle()

    def _accept(self):
        try:
            sock, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.warning("control socket accept failed: %s", exc)
            return
        now = time.monotonic()
        conn = _Connection(sock, now)
        sock.setblocking(False)
        self._connections[sock.fileno()] = conn
        self._selector.register(sock, selectors.EVENT_READ, conn)
        try:
            pid, uid, gid = self.credentials(sock)
        except OSError as exc:
            self._refuse(conn, f"cannot check who is connecting: {exc}")
            return
        group_name = self.group
        try:
            group_name = grp.getgrgid(self.group_gid).gr_name
        except (KeyError, TypeError):
            pass
        if not peer_allowed(uid, gid, own_uid=self.own_uid, group_gid=self.group_gid,
                            members=group_members(self.group_gid)
                            if self.group_gid is not None else frozenset(),
                            name=user_name(uid), groups=proc_groups(pid)):
            self._quiet.log(f"refused {uid}", logging.WARNING,
                            "control socket: refused uid %d (pid %d)", uid, pid)
            self._refuse(conn, refusal_message(uid, group_name))
            return
        problem = self._over_limit(uid)
        if problem:
            self._refuse(conn, problem)
            return
        conn.uid = uid

    def _over_limit(self, uid):
        """Why one more connection from ``uid`` is refused, or None.

        Open connections count whatever they do, so one account holding slots open
        (a trickle of bytes, or ``watch`` in every terminal) cannot lock the others
        out, and root can always get in to put things right.
        """
        admitted = [c for c in self._connections.values()
                    if c.uid is not None and not c.closing]
        total_cap = self.max_clients if uid == 0 else self.max_clients - 1
        if len(admitted) >= total_cap:
            return (f"too many clients (at most {self.max_clients}"
                    + ("" if uid == 0 else ", the last one kept for root")
                    + "): close another severed watch and retry")
        if uid != 0 and sum(1 for c in admitted if c.uid == uid) >= self.max_per_uid:
            who = user_name(uid) or f"uid {uid}"
            return (f"too many connections from {who} (at most {self.max_per_uid} per "
                    f"user): close another severed watch and retry")
        return None

    def _refuse(self, conn, text):
        self._send(conn, error_reply(text))
        conn.closing = True
        self._flush(conn)

    def _read(self, conn):
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            self._close(conn)
            return
        if conn.closing:
            return  # refused: ignore what it still sends
        now = time.monotonic()
        if conn.request_started is None:
            # The first byte of a request starts its clock; the bytes that follow do
            # not restart it, or a trickle would hold the connection for ever.
            conn.request_started = now
        conn.inbuf += data
        while not conn.closing:
            end = conn.inbuf.find(b"\n")
            if end < 0:
                if len(conn.inbuf) > self.max_request_bytes:
                    self._refuse(conn, f"request longer than {self.max_request_bytes} bytes")
                break
            line = bytes(conn.inbuf[:end])
            del conn.inbuf[:end + 1]
            if len(line) > self.max_request_bytes:
                self._refuse(conn, f"request longer than {self.max_request_bytes} bytes")
                return
            if line.strip():
                conn.last_active = now
                self._send(conn, self._answer(line))
            # What follows the newline is the next request, begun in this read.
            conn.request_started = now if conn.inbuf else None
        if conn.sock.fileno() != -1:
            self._flush(conn)

    def _answer(self, line):
        return answer(self.handler, line)

    def _send(self, conn, message):
        try:
            data = encode(message)
        except (TypeError, ValueError) as exc:
            data = encode(error_reply(f"internal error: reply not serialisable: {exc}"))
        if len(conn.outbuf) + len(data) > MAX_REPLY_BYTES:
            log.warning("control client does not read its replies: closing it")
            self._close(conn)
            return
        conn.outbuf += data

    def _flush(self, conn):
        if conn.sock.fileno() == -1:
            return
        while conn.outbuf:
            try:
                sent = conn.sock.send(conn.outbuf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._close(conn)
                return
            del conn.outbuf[:sent]
        if not conn.outbuf and conn.closing:
            self._close(conn)
            return
        wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.outbuf else 0)
        try:
            self._selector.modify(conn.sock, wanted, conn)
        except (KeyError, ValueError):
            pass

    def _expire_idle(self):
        now = time.monotonic()
        for conn in list(self._connections.values()):
            started = conn.request_started
            if started is not None and not conn.closing:
                if now - started > self.read_timeout_s:
                    # Half a request, then silence or a trickle: say why, then close.
                    conn.request_started = None
                    conn.last_active = now
                    self._refuse(conn, f"incomplete request after "
                                       f"{self.read_timeout_s:g} s (requests end with "
                                       f"a newline): closing")
                continue
            if now - conn.last_active > self.read_timeout_s:
                # Idle between requests, refused, or not reading its replies. Closed
                # silently: a reused client connection then reconnects cleanly.
                self._close(conn)

    def _close(self, conn):
        conn.closing = True
        fd = conn.sock.fileno()
        if fd == -1:
            return
        self._connections.pop(fd, None)
        try:
            self._selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()


# ---------------------------------------------------------------------- client


NOT_RUNNING = "severed is not running: no socket at {path}"


def not_running_message(path, explicit):
    """What to say when nothing listens: where we looked and how to start it."""
    if explicit:
        return NOT_RUNNING.format(path=path) + " (given by --socket or SEVERED_CONTROL)"
    hand = socketpath.hand_started_path()
    return (f"severed is not running: no socket at {socketpath.SERVICE_PATH} (the "
            f"service: sudo systemctl start severed) nor at {hand} (started by hand: "
            f"severed run --simulate); for another socket use --socket PATH")


class ControlClient:
    """Talks to the daemon; one connection, reused across requests (``watch``).

    ``request(cmd, **args)`` returns the reply dict or raises ControlError with a
    message a technician can act on. ``reply`` on the error holds the daemon's answer.
    """

    def __init__(self, path=None, timeout_s=5.0):
        self.explicit = path is not None or bool(os.environ.get("SEVERED_CONTROL"))
        self.path = os.fspath(path) if path is not None else default_path()
        self.timeout_s = timeout_s
        self._sock = None
        self._file = None

    def connect(self):
        if self._sock is not None:
            return
        try:
            # Commands like `volume` must reach severed, not a socket another user
            # planted where severed's would be.
            socketpath.check_socket(self.path, socketpath.trusted_owners())
        except ControlError as exc:
            raise ControlError(f"not talking to {self.path}: {exc}") from None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout_s)
        try:
            sock.connect(self.path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            raise ControlError(not_running_message(self.path, self.explicit)) from exc
        except PermissionError as exc:
            sock.close()
            raise ControlError(
                f"permission denied on {self.path}: add yourself to the group {GROUP}: "
                f"sudo adduser $USER {GROUP}, then log in again") from exc
        except OSError as exc:
            sock.close()
            raise ControlError(f"cannot reach severed at {self.path}: {exc.strerror or exc}"
                               ) from exc
        self._sock = sock
        self._file = sock.makefile("rb")

    def close(self):
        if self._file is not None:
            self._file.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._file = None

    def _pending_line(self):
        """A reply line already received on a connection the daemon has closed."""
        try:
            return self._file.readline(MAX_REPLY_BYTES + 1)
        except OSError:
            return b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def request(self, cmd, **args):
        message = {"v": PROTOCOL_VERSION, "cmd": cmd, **args}
        for attempt in (1, 2):
            self.connect()
            try:
                self._sock.sendall(encode(message))
            except OSError as exc:
                # The daemon may have answered and closed before reading anything
                # (a refusal is sent at accept time): that answer is still in our
                # receive buffer and says why, so read it before giving up.
                line = self._pending_line()
                if line:
                    break
                self.close()
                if attempt == 2 or exc.errno not in (errno.EPIPE, errno.ECONNRESET):
                    raise ControlError(f"lost the connection to severed: {exc}") from exc
                continue  # the daemon closed an idle connection: reconnect once
            try:
                line = self._file.readline(MAX_REPLY_BYTES + 1)
            except socket.timeout as exc:
                self.close()
                raise ControlError(f"severed did not answer {cmd!r} within "
                                   f"{self.timeout_s:g} s (is it hung? see severed logs)"
                                   ) from exc
            except OSError as exc:
                self.close()
                if attempt == 2 or exc.errno not in (errno.EPIPE, errno.ECONNRESET):
                    raise ControlError(f"lost the connection to severed: {exc}") from exc
                continue
            if not line:
                self.close()
                if attempt == 1:
                    continue
                raise ControlError("severed closed the connection without an answer")
            break
        try:
            reply = json.loads(line)
        except ValueError as exc:
            self.close()
            raise ControlError(f"severed sent an unreadable reply: {line[:80]!r}") from exc
        if not isinstance(reply, dict) or not reply.get("ok"):
            text = reply.get("error", "request failed") if isinstance(reply, dict) else reply
            error = ControlError(str(text))
            error.reply = reply
            raise error
        return reply
