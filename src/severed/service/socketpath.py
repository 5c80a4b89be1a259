"""Where the control socket (and a hand-started daemon's log) lives, and whether a
directory is safe to use for it.

The service binds ``/run/severed/control.sock`` (systemd makes the directory). A daemon
started by hand (``severed run --simulate`` on a laptop, ``sudo severed run`` on the Pi
with the service stopped) cannot rely on that: it binds in the user's own runtime
directory, ``$XDG_RUNTIME_DIR/severed/``, or, without one, in ``/tmp/severed-<uid>/``.
A name in /tmp is predictable, so another local user could make that directory first
and listen there: the daemon checks the directory before it binds and the CLI checks
it before it connects (``check_directory``)::

    hand_started_path()            # -> "/run/user/1000/severed/control.sock"
    client_path()                  # the first of candidate_paths() with a socket
    check_directory(path, owners=trusted_owners())   # ControlError if not safe

``SEVERED_CONTROL`` (or ``--socket``/``--control``) names a path and overrides all this.
"""

import os
import pwd
import stat

from severed.errors import ControlError

SERVICE_PATH = "/run/severed/control.sock"
SERVICE_USER = "severed"
SOCKET_NAME = "control.sock"
LOG_NAME = "severed.log"  # a daemon started by hand logs here too (no journal for it)


def under_systemd(env=None):
    env = os.environ if env is None else env
    return bool(env.get("INVOCATION_ID"))


def hand_started_dir(env=None, uid=None):
    """The private directory of a daemon started by hand by user ``uid``."""
    env = os.environ if env is None else env
    uid = os.geteuid() if uid is None else uid
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and uid == os.geteuid():
        return os.path.join(runtime, "severed")
    if os.path.isdir(f"/run/user/{uid}"):
        return f"/run/user/{uid}/severed"
    return f"/tmp/severed-{uid}"


def hand_started_path(env=None, uid=None):
    return os.path.join(hand_started_dir(env, uid), SOCKET_NAME)


def daemon_path(env=None):
    """Where ``severed run`` binds: SEVERED_CONTROL, the service's path under systemd,
    else the private directory of whoever started it."""
    env = os.environ if env is None else env
    if env.get("SEVERED_CONTROL"):
        return env["SEVERED_CONTROL"]
    return SERVICE_PATH if under_systemd(env) else hand_started_path(env)


def candidate_paths(env=None):
    """Where the CLI looks for a daemon, in order: the service, one started by hand by
    this user, and one started by the user behind ``sudo``."""
    env = os.environ if env is None else env
    paths = [SERVICE_PATH, hand_started_path(env)]
    sudo_uid = env.get("SUDO_UID", "")
    if sudo_uid.isdigit() and int(sudo_uid) != os.geteuid():
        paths.append(hand_started_path(env, int(sudo_uid)))
    return list(dict.fromkeys(paths))


def client_path(env=None):
    """The socket the CLI talks to: SEVERED_CONTROL, else the first candidate that has
    a socket, else the service's path (the error then lists where it looked)."""
    env = os.environ if env is None else env
    if env.get("SEVERED_CONTROL"):
        return env["SEVERED_CONTROL"]
    for path in candidate_paths(env):
        try:
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                return path
        except OSError:
            continue
    return SERVICE_PATH


def trusted_owners(env=None):
    """Users whose socket directories the CLI trusts: root, itself, the service's
    account, and the user behind ``sudo``."""
    env = os.environ if env is None else env
    owners = {0, os.geteuid()}
    try:
        owners.add(pwd.getpwnam(SERVICE_USER).pw_uid)
    except KeyError:
        pass
    if env.get("SUDO_UID", "").isdigit():
        owners.add(int(env["SUDO_UID"]))
    return owners


def _who(uid):
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def check_directory(directory, owners):
    """Raise ControlError unless ``directory`` is a real directory (not a symlink)
    owned by one of ``owners`` that nobody else may write in (sticky /tmp aside)."""
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        raise ControlError(f"{directory} does not exist") from None
    if stat.S_ISLNK(st.st_mode):
        raise ControlError(f"{directory} is a symbolic link, not a directory: someone "
                           f"else may have put it there; remove it and start severed again")
    if not stat.S_ISDIR(st.st_mode):
        raise ControlError(f"{directory} is not a directory: remove it")
    if st.st_uid not in owners:
        raise ControlError(f"{directory} belongs to {_who(st.st_uid)}, not to root, you or "
                           f"the service: someone else may be listening there. Remove it "
                           f"(sudo rm -r {directory}) and start severed again")
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        raise ControlError(f"{directory} may be written by others "
                           f"(mode {stat.S_IMODE(st.st_mode):04o}): chmod go-w {directory}")


def check_socket(path, owners):
    """Raise ControlError unless the socket at ``path`` and its directory belong to one
    of ``owners`` (a missing one is left for connect to report)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.lexists(directory):
        return
    check_directory(directory, owners)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISSOCK(st.st_mode) and st.st_uid not in owners:
        raise ControlError(f"{path} belongs to {_who(st.st_uid)}, not to root, you or the "
                           f"service: it is not severed's socket. Remove it and start "
                           f"severed again")


def make_private_directory(directory):
    """Create ``directory`` (mode 0700) if missing, then check it is ours alone."""
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ControlError(f"cannot create {directory}: {exc.strerror}; set "
                           f"SEVERED_CONTROL to a socket path you can write") from exc
    check_directory(directory, owners={os.geteuid()})
    if stat.S_IMODE(os.lstat(directory).st_mode) & 0o077:
        # Ours but open to others (an old severed made it 0755): close it.
        os.chmod(directory, 0o700)
    return directory
