"""A real Mosquitto broker for the fleet tests: a free loopback port, a generated
password file (mosquitto_passwd) and the ACL of installation/mosquitto/acl."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ACL = os.path.join(HERE, "..", "..", "installation", "mosquitto", "acl")


def find_mosquitto():
    """(mosquitto, mosquitto_passwd) paths, or None when the package is not installed."""
    paths = []
    for name in ("mosquitto", "mosquitto_passwd"):
        path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
        if path is None:
            return None
        paths.append(path)
    return tuple(paths)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """``Broker(dir, users={"elevator": "pw", ...}).start()``; ``kill()``, ``start()``
    again on the same port, ``stop()``."""

    def __init__(self, directory, users, acl_extra=""):
        self.dir = str(directory)
        self.users = dict(users)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.proc = None
        self.log_path = os.path.join(self.dir, "mosquitto.log")
        mosquitto, passwd = find_mosquitto()
        self.binary = mosquitto
        self.passwd_file = os.path.join(self.dir, "passwd")
        open(self.passwd_file, "w").close()
        for user, password in self.users.items():
            subprocess.run([passwd, "-b", self.passwd_file, user, password], check=True,
                           capture_output=True)
        self.acl_file = os.path.join(self.dir, "acl")
        with open(ACL) as src, open(self.acl_file, "w") as dst:
            dst.write(src.read() + "\n" + acl_extra)
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\n"
                    "allow_anonymous false\n"
                    f"password_file {self.passwd_file}\n"
                    f"acl_file {self.acl_file}\n"
                    "persistence false\n"
                    # Run as root (CI), Mosquitto would switch to its own user, who
                    # cannot read this test's files: stay as whoever runs the test.
                    + (f"user {pwd.getpwuid(os.getuid()).pw_name}\n" if os.getuid() == 0 else "")
                    + 
                    f"log_dest file {self.log_path}\n"
                    "log_type error\nlog_type warning\nlog_type notice\n"
                    "log_type information\n")
        os.chmod(self.passwd_file, 0o600)
        os.chmod(self.acl_file, 0o600)

    def start(self, timeout_s=5.0):
        self.proc = subprocess.Popen([self.binary, "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mosquitto exited: " + self.proc.stderr.read().decode()
                                   + self.log())
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not listen in time: " + self.log())

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    stop = kill

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""
