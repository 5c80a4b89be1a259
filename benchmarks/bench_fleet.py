"""Several booths on one Mosquitto: the figures of docs/fleet.md.

    nice -n 10 .venv/bin/python benchmarks/bench_fleet.py [--changes 12] [--booths 50]

Needs ``mosquitto`` and ``mosquitto_passwd`` (apt install mosquitto mosquitto-clients).
Each part starts its own broker on a free loopback port (password file and the ACL of
installation/mosquitto/acl) and prints its figure:

1. group alignment: three members (render loop on its own thread, a null sink paced
   in real time standing in for the sound card, default blocks of 2048, BoothLink) in
   one group, their sample clocks out of phase; scene changes triggered on random
   members. Per change: the spread of the members' scheduled starts (``heard_at`` in
   their event logs: when their output clock says the change's first frame is heard)
   and of the times their sinks really play that frame (the pacer's schedule), median
   and max, and how many arrived too late for their frame. The members share one
   clock here; across Pis add chrony's offsets (docs/fleet.md). The tests check the
   same with three daemons as processes.
2. state latency: 50 booths (real BoothLinks with real paho clients, in one process,
   each on a stand-in render loop) publishing state (heartbeat 1 s) and events to one
   broker; a scene change on a random booth, timed from the change to the state
   arriving at a technician's subscriber.
3. time to standalone: a real render loop (paced null sink, blocks of 2048) with its
   BoothLink in a group; the broker killed with SIGKILL; time until the link's
   ``grouped`` flag (what the render thread reads) drops, in ms and blocks, and blocks
   the render thread wrote late meanwhile (a sound card would have underrun). Once
   more with the broker frozen (SIGSTOP) instead.
4. booth dies -> offline: a daemon killed with SIGKILL (the kernel closes its
   connection) and one frozen with SIGSTOP (as a power cut: only the keepalive tells),
   timed to the broker's last will arriving.
"""

import argparse
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fleet"))
from fleet_rig import PASSWORDS, SHOW, Booth  # noqa: E402
from mosquitto_broker import Broker, find_mosquitto  # noqa: E402


def say(*args):
    print(*args, flush=True)


def wait_for(predicate, timeout_s, poll_s=0.02):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    return None


# ---------------------------------------------------------------- helpers


class Subscriber:
    """A technician's client: arrival time (time.time()) of each message."""

    def __init__(self, broker, topics):
        from severed.fleet.mqtt import Connection
        from severed.fleet.settings import FleetConfig

        self.messages = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        cfg = FleetConfig(host=broker.host, port=broker.port, username="technician",
                          keepalive_s=5)

        def on_connect(error):
            if error is None:
                self.conn.subscribe([(t, 1) for t in topics])
                self.ready.set()

        def on_message(topic, payload):
            with self.lock:
                self.messages.append((time.time(), topic, payload))

        self.conn = Connection(cfg, client_id=f"bench-{id(self)}",
                               password=PASSWORDS["technician"], on_connect=on_connect,
                               on_message=on_message)
        self.conn.start()
        self.ready.wait(5)

    def first(self, topic, predicate, since):
        with self.lock:
            for t, tp, payload in self.messages:
                if tp == topic and t >= since and predicate(payload):
                    return t
        return None

    def close(self):
        self.conn.stop()


def summary(values, unit="ms"):
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return (f"median {statistics.median(values):.2f} {unit}, p95 {p95:.2f} {unit}, "
            f"max {values[-1]:.2f} {unit} (n={len(values)})")


# ---------------------------------------------------------------- 1. alignment


class Member:
    """A booth in one process: render loop on its own thread, a null sink paced in real
    time (its pacer plays the sound card: frame n is heard at start + n / rate), and
    its BoothLink on the broker."""

    def __init__(self, name, broker, show, pw_dir):
        from severed.config.model import AudioConfig, SiteConfig
        from severed.fleet.link import BoothLink
        from severed.fleet.settings import FleetConfig
        from severed.loop import RenderLoop

        site = SiteConfig(name=name, audio=AudioConfig(device="null"))
        self.name = name
        self.sink = LateCounter(site.audio.sample_rate)
        self.loop = RenderLoop(show, site, self.sink, live=True)
        self.stop_render = threading.Event()
        self.thread = threading.Thread(target=self.loop.run,
                                       kwargs={"stop": self.stop_render}, daemon=True)
        self.thread.start()
        pw_file = os.path.join(pw_dir, name)
        with open(pw_file, "w") as f:
            f.write(PASSWORDS[name] + "\n")
        cfg = FleetConfig(host=broker.host, port=broker.port, username=name,
                          password_file=pw_file, group="floor", leader="elevator", site=name)
        self.link = BoothLink(cfg, self.loop, handler=None, status=self.loop.status,
                              scenes=lambda: show.scenes).start()

    def heard_wall(self, frame):
        """When the paced sink plays ``frame``, on the wall clock (the truth the output
        clock estimates)."""
        pacer = self.sink._pacer
        return pacer._start + frame / self.loop.sample_rate + (time.time() - time.monotonic())

    def close(self):
        self.link.stop()
        self.stop_render.set()
        self.thread.join(2)
        self.sink.close()


def bench_alignment(root, changes):
    from severed.config import load_show_text
    from severed.show.events import Event

    broker = Broker(_dir(root, "b1"), PASSWORDS).start()
    show = load_show_text(SHOW, "floor.toml")
    members = []
    try:
        for name in ("elevator", "corridor", "office"):
            members.append(Member(name, broker, show, _dir(root, "pw1")))
            time.sleep(random.Random(name).uniform(0.0, 0.05))  # sample clocks out of phase
        if not wait_for(lambda: all(m.link.grouped for m in members), 15):
            raise SystemExit("the members did not form their group")
        rng = random.Random(7)
        for i in range(changes):
            event = "door.closed" if i % 2 == 0 else "door.open"
            rng.choice(members).loop.post(Event(0.0, "cmd.trigger", data={"event": event}))
            time.sleep(1.2)
        time.sleep(1.0)
        by_at = {}
        for m in members:
            for r in m.loop.event_log.recent:
                if r.get("type") == "scene" and "at" in r and r.get("reason") != "group formed":
                    by_at.setdefault(r["at"], []).append((m, r))
        scheduled, actual, late = [], [], 0
        for at, played in sorted(by_at.items()):
            if len(played) != len(members):
                say(f"  change at {at}: only {len(played)} members played it")
                continue
            heard = [r["heard_at"] for _, r in played]
            truth = [m.heard_wall(round(r["t"] * m.loop.sample_rate)) for m, r in played]
            scheduled.append((max(heard) - min(heard)) * 1000)
            actual.append((max(truth) - min(truth)) * 1000)
            late += sum(1 for _, r in played if "late_ms" in r)
        late_blocks = sum(m.sink.late for m in members)
    finally:
        for m in members:
            m.close()
        broker.kill()
    say(f"1. group scene change, 3 members, spread of their scheduled starts (event logs): "
        f"{summary(scheduled)}")
    say(f"   ... and of the times their sinks really play the first frame: {summary(actual)}; "
        f"members too late for their frame {late}; blocks written late {late_blocks}")
    return scheduled, actual


# ---------------------------------------------------------------- 2. 50 booths


class StandInLoop:
    """What a BoothLink needs of a render loop, without rendering."""

    sample_rate = 48000

    def __init__(self):
        from severed.eventlog import EventLog
        from severed.hardware.sinks import NullSink

        self.event_log = EventLog()
        self.sink = NullSink()
        self.scene = "up"
        self.changed_at = None

    def post(self, event):
        pass

    def schedule_scene(self, *args, **kwargs):
        pass


def bench_state_latency(root, booths, changes):
    from severed.fleet.link import BoothLink
    from severed.fleet.settings import FleetConfig

    users = {f"booth{i:02d}": f"pw{i:02d}" for i in range(booths)}
    broker = Broker(_dir(root, "b2"), dict(PASSWORDS, **users)).start()
    links = []
    try:
        for name, password in users.items():
            pw_file = os.path.join(_dir(root, "pw"), name)
            with open(pw_file, "w") as f:
                f.write(password + "\n")
            cfg = FleetConfig(host=broker.host, port=broker.port, username=name,
                              password_file=pw_file, heartbeat_s=1.0, site=name)
            loop = StandInLoop()
            status = (lambda lp=loop, n=name: {"scene": lp.scene, "tension": 0.0,
                                                "volume_db": 0.0, "muted": False,
                                                "sensors": {"door": "open"}, "faults": [],
                                                "underruns": 0, "show": "floor"})
            links.append((name, loop, BoothLink(cfg, loop, handler=None, status=status).start()))
        sub = Subscriber(broker, ["severed/+/state", "severed/+/events"])
        if not wait_for(lambda: all(sub.first(f"severed/{n}/state", lambda p: True, 0)
                                    for n, _, _ in links), 30):
            raise SystemExit("not every booth published its state")
        # What the links cost while idle (heartbeats, hellos, ticks), this process's CPU:
        cpu0, wall0 = time.process_time(), time.monotonic()
        time.sleep(5.0)
        cpu_ms = (time.process_time() - cpu0) / (time.monotonic() - wall0) / booths * 1000
        rng = random.Random(3)
        latencies = []
        for i in range(changes):
            name, loop, _ = rng.choice(links)
            scene = f"s{i}"
            t0 = time.time()
            loop.scene = scene
            # an event-log record too, as a real scene change makes
            loop.event_log.write({"t": float(i), "type": "scene", "from": "x", "to": scene})
            needle = f'"scene":"{scene}"'.encode()
            t1 = wait_for(lambda: sub.first(f"severed/{name}/state", lambda p: needle in p, t0),
                          5, poll_s=0.005)
            if t1 is None:
                say(f"  change {i} on {name}: not seen within 5 s")
                continue
            latencies.append((t1 - t0) * 1000)
            time.sleep(rng.uniform(0.05, 0.25))
        with sub.lock:
            rate = len(sub.messages) / max(1e-9, sub.messages[-1][0] - sub.messages[0][0])
        sub.close()
    finally:
        for _, _, link in links:
            link.stop()
        broker.kill()
    say(f"2. state change -> seen at a subscriber, {booths} booths publishing "
        f"({rate:.0f} messages/s through the broker): {summary(latencies)}")
    say(f"   one booth's link costs {cpu_ms:.2f} ms of CPU per second ({cpu_ms / 10:.2f} % of "
        "a core here; a Pi Zero 2 W core is about 10x slower)")
    return latencies


# ---------------------------------------------------------------- 3. standalone


class LateCounter:
    """A paced null sink that counts blocks written after they were due."""

    def __init__(self, sample_rate, ahead_s=0.1):
        from severed.hardware.sinks import NullSink

        self._sink = NullSink(sample_rate, realtime=True)
        self._pacer = self._sink._pacer
        self.sample_rate = sample_rate
        self.ahead_s = ahead_s
        self.late = 0
        self.frames = 0
        self.start = None
        self.underruns = 0

    def write(self, block):
        now = time.monotonic()
        if self.start is None:
            self.start = now
        # the device would play frame self.frames at start + frames/rate + ahead_s
        if now > self.start + self.frames / self.sample_rate + self.ahead_s:
            self.late += 1
        self.frames += len(block)
        self._sink.write(block)

    def close(self):
        self._sink.close()


def bench_standalone(root, rounds):
    from severed.config import load_show_text
    from severed.config.model import AudioConfig, SiteConfig
    from severed.fleet.link import BoothLink
    from severed.fleet.settings import FleetConfig
    from severed.loop import RenderLoop

    show = load_show_text(SHOW, "floor.toml")
    site = SiteConfig(name="elevator", audio=AudioConfig(device="null"))
    block_ms = site.audio.block_frames / site.audio.sample_rate * 1000
    times, lates = [], []
    broker = Broker(_dir(root, "b3"), PASSWORDS)
    pw_file = os.path.join(_dir(root, "pw3"), "elevator")
    with open(pw_file, "w") as f:
        f.write(PASSWORDS["elevator"] + "\n")
    frozen_s = None
    for i in range(rounds + 1):
        freeze = i == rounds  # the last round freezes the broker instead
        broker.start()
        sink = LateCounter(site.audio.sample_rate)
        loop = RenderLoop(show, site, sink, live=True)
        stop = threading.Event()
        render = threading.Thread(target=loop.run, kwargs={"stop": stop}, daemon=True)
        render.start()
        cfg = FleetConfig(host=broker.host, port=broker.port, username="elevator",
                          password_file=pw_file, group="floor", site="elevator")
        link = BoothLink(cfg, loop, handler=None,
                         status=lambda: loop.status(), scenes=lambda: show.scenes).start()
        if not wait_for(lambda: link.grouped, 10):
            raise SystemExit("the link did not join its group")
        time.sleep(0.5)
        late_before = sink.late
        t0 = time.monotonic()
        if freeze:
            broker.proc.send_signal(signal.SIGSTOP)
        else:
            broker.kill()
        while link.grouped and time.monotonic() - t0 < 10:
            time.sleep(0.0005)
        if freeze:
            frozen_s = time.monotonic() - t0
            broker.proc.send_signal(signal.SIGCONT)
            broker.kill()
        else:
            times.append((time.monotonic() - t0) * 1000)
        time.sleep(1.0)  # keep rendering standalone a while
        lates.append(sink.late - late_before)
        link.stop()
        stop.set()
        render.join(2)
        sink.close()
    say(f"3. broker killed -> standalone: {summary(times)} = "
        f"{max(times) / block_ms:.2f} block(s) of {block_ms:.1f} ms at most; "
        f"blocks written late: {sum(lates)} over {rounds + 1} rounds")
    say(f"   broker frozen (SIGSTOP: the connection stays open) -> standalone: {frozen_s:.2f} s "
        "(its own hello missing; the keepalive would take 15 s)")
    return times, lates


# ---------------------------------------------------------------- 4. offline


def bench_offline(root):
    broker = Broker(_dir(root, "b4"), PASSWORDS).start()
    sub = Subscriber(broker, ["severed/+/status"])
    killed = Booth(Path(_dir(root, "k")), "corridor", broker, group=None,
                   keepalive_s=10).start()
    frozen = Booth(Path(_dir(root, "f")), "office", broker, group=None,
                   keepalive_s=10).start()
    try:
        for d in (killed, frozen):
            if not wait_for(lambda d=d: sub.first(f"severed/{d.name}/status",
                                                  lambda p: p == b"online", 0), 30):
                raise SystemExit(f"{d.name} did not come online")
        time.sleep(1.0)
        t0 = time.time()
        killed.proc.send_signal(signal.SIGKILL)
        t1 = wait_for(lambda: sub.first("severed/corridor/status",
                                        lambda p: p == b"offline", t0), 10, poll_s=0.002)
        t2 = time.time()
        frozen.proc.send_signal(signal.SIGSTOP)
        t3 = wait_for(lambda: sub.first("severed/office/status",
                                        lambda p: p == b"offline", t2), 30, poll_s=0.01)
    finally:
        sub.close()
        for d in (killed, frozen):
            d.stop()
        broker.kill()
    kill_ms = (t1 - t0) * 1000 if t1 else float("nan")
    frozen_s = (t3 - t2) if t3 else float("nan")
    say(f"4. booth dies -> offline: process killed {kill_ms:.0f} ms; frozen (power cut) "
        f"{frozen_s:.1f} s with keepalive_s = 10 (the broker allows 1.5 x keepalive)")
    return kill_ms, frozen_s


def _dir(root, name):
    path = os.path.join(root, name)
    os.makedirs(path, exist_ok=True)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=12, help="group changes to time")
    parser.add_argument("--booths", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5, help="broker kills to time")
    parser.add_argument("--parts", default="1234", help="which parts to run (default all)")
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)  # the booths' log lines are not the figures
    if find_mosquitto() is None:
        raise SystemExit("mosquitto is not installed (apt install mosquitto mosquitto-clients)")
    import paho.mqtt

    say(f"paho-mqtt {paho.mqtt.__version__}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as root:
        if "1" in args.parts:
            bench_alignment(root, args.changes)
        if "2" in args.parts:
            bench_state_latency(root, args.booths, 100)
        if "3" in args.parts:
            bench_standalone(root, args.rounds)
        if "4" in args.parts:
            bench_offline(root)


if __name__ == "__main__":
    main()
