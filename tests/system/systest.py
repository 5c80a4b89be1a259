"""Boot the system-test image in QEMU and check the installation as a visitor and a
technician would meet it: power on, sound, crashes, a hung render loop, a crash loop,
a bad show, a power cut. Host side, standard library only; the VM does its own
measurements with guest/probe.py. Started by run.sh (after make-image.sh):

    python3 tests/system/systest.py --work /var/tmp/severed-system-test [--accel tcg]

Each check prints its figures; the last line is "N passed, N failed"; everything is
also written to WORK/report.json. Exit status 1 when a check failed.
"""

import argparse
import json
import os
import random
import shlex
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = "/opt/severed/venv/bin/python /opt/severed-systest/probe.py"
SITE = "/etc/severed/severed.toml"


def stamp():
    return time.strftime("%H:%M:%S", time.gmtime())


def say(text):
    print(f"[{stamp()}] {text}", flush=True)


class GuestError(Exception):
    pass


class VM:
    """One QEMU process on the test image; ``ssh`` runs a command as root inside."""

    def __init__(self, work, accel, memory_mb=1024, cpus=2, cache_dir=None):
        self.work = work
        self.accel = accel
        self.memory_mb = memory_mb
        self.cpus = cpus
        self.key = os.path.join(cache_dir, "ssh", "id_ed25519")
        self.proc = None
        self.port = None
        self.boots = 0
        self.started_at = None

    def start(self):
        self.boots += 1
        self.port = _free_port()
        console = os.path.join(self.work, f"console-{self.boots}.log")
        cpu = os.environ.get("SEVERED_SYSTEST_CPU", "host" if self.accel == "kvm" else "max")
        accel = ["-accel", "kvm" if self.accel == "kvm" else "tcg,thread=multi", "-cpu", cpu]
        cmd = ["qemu-system-x86_64", *accel, "-m", str(self.memory_mb),
               "-smp", str(self.cpus), "-display", "none", "-no-reboot",
               "-kernel", os.path.join(self.work, "vmlinuz"),
               "-initrd", os.path.join(self.work, "initrd.img"),
               "-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet",
               "-drive", f"file={os.path.join(self.work, 'run.img')},if=virtio,"
                         "format=raw,cache=writeback",
               # restrict=on: the guest reaches nothing; only this forward comes in.
               "-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{self.port}-:22",
               "-device", "virtio-net-pci,netdev=n0",
               "-device", "virtio-rng-pci",
               "-serial", f"file:{console}", "-monitor", "none"]
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=open(os.path.join(self.work, "qemu.log"), "a"),
                                     stderr=subprocess.STDOUT)
        say(f"boot {self.boots}: qemu pid {self.proc.pid} ({self.accel}), ssh on "
            f"127.0.0.1:{self.port}, console {console}")

    def _ssh_argv(self):
        return ["ssh", "-i", self.key, "-p", str(self.port), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
                "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
                "-o", "ControlMaster=auto",
                "-o", f"ControlPath={self.work}/ssh-{self.boots}.sock",
                "-o", "ControlPersist=120", "root@127.0.0.1"]

    def ssh(self, command, timeout=120, check=True, input=None):
        """Run ``command`` (a shell string) in the guest; return (rc, stdout, stderr)."""
        try:
            done = subprocess.run(self._ssh_argv() + [command], capture_output=True,
                                  text=True, timeout=timeout, input=input,
                                  stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise GuestError(f"timed out after {timeout} s: {command}") from exc
        if check and done.returncode != 0:
            raise GuestError(f"exit {done.returncode}: {command}\n{done.stdout}{done.stderr}")
        return done.returncode, done.stdout, done.stderr

    def ssh_popen(self, command):
        return subprocess.Popen(self._ssh_argv() + [command], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                stdin=subprocess.DEVNULL)

    def json(self, command, timeout=120):
        _, out, _ = self.ssh(command, timeout=timeout)
        return json.loads(out)

    def wait_ssh(self, timeout_s):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise GuestError(f"qemu exited with {self.proc.returncode} during boot")
            try:
                rc, _, _ = self.ssh("true", timeout=20, check=False)
                if rc == 0:
                    elapsed = time.monotonic() - self.started_at
                    # The probe as in this checkout, without rebuilding the image.
                    with open(os.path.join(HERE, "guest", "probe.py")) as f:
                        self.ssh("mkdir -p /opt/severed-systest && cat >"
                                 "/opt/severed-systest/probe.py", input=f.read())
                    return elapsed
            except GuestError:
                pass
            time.sleep(1.0)
        raise GuestError(f"no ssh within {timeout_s} s (see the console log)")

    def power_cut(self):
        """Pull the plug: SIGKILL to QEMU. What the guest had not written is lost."""
        self.proc.kill()
        self.proc.wait()
        self._forget_master()

    def shutdown(self, timeout_s=120):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.ssh("systemctl poweroff", check=False, timeout=20)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._forget_master()

    def _forget_master(self):
        subprocess.run(self._ssh_argv()[:-1] + ["-O", "exit", "root@127.0.0.1"],
                       capture_output=True, timeout=10)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------- guest helpers


def unit(vm):
    _, out, _ = vm.ssh("systemctl show severed.service -p ActiveState,SubState,MainPID,"
                       "StatusText,NRestarts,Result,ActiveEnterTimestampMonotonic,"
                       "ExecMainStartTimestampMonotonic")
    return dict(line.split("=", 1) for line in out.strip().splitlines() if "=" in line)


def wait_active(vm, timeout_s, not_pid=None):
    """Wait until the unit is active (READY=1 sent); returns (seconds, unit dict)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        state = unit(vm)
        if state["ActiveState"] == "active" and state["MainPID"] not in ("0", not_pid):
            return time.monotonic() - start, state
        if state["ActiveState"] == "failed":
            raise GuestError(f"severed.service failed: {state}")
        time.sleep(0.25)
    raise GuestError(f"severed.service not active within {timeout_s} s: {unit(vm)}")


def status_json(vm):
    return vm.json("severed status --json")


def clean_restart(vm, timeout_s):
    """Each check starts from zero crashes, whatever the checks before it did: the
    documented way back, `severed restart`, clears the crash record and systemd's start
    count (the checks restart the unit more often than a crash loop would)."""
    vm.ssh("severed restart", timeout=timeout_s)
    return wait_active(vm, timeout_s)


# ----------------------------------------------------------------- the checks


class Checks:
    def __init__(self, vm, slow):
        self.vm = vm
        self.slow = slow  # time factor: TCG is several times slower than KVM
        self.results = []

    def record(self, name, passed, figures, detail=""):
        self.results.append({"check": name, "passed": bool(passed), "figures": figures,
                             "detail": detail})
        mark = "PASS" if passed else "FAIL"
        say(f"[{mark}] {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
        if detail and not passed:
            print("       " + detail.replace("\n", "\n       "), flush=True)

    def run(self, name, func):
        try:
            func()
        except (GuestError, KeyError, ValueError) as exc:
            self.record(name, False, {}, f"{type(exc).__name__}: {exc}")

    # 1 -----------------------------------------------------------------------------
    def boot(self):
        vm = self.vm
        vm.start()
        ssh_s = vm.wait_ssh(600 * self.slow)
        waited_s, state = wait_active(vm, 300 * self.slow)
        host_active_s = time.monotonic() - vm.started_at
        _, analyze, _ = vm.ssh("systemd-analyze time || true")
        ready_s = int(state["ActiveEnterTimestampMonotonic"]) / 1e6
        exec_s = int(state["ExecMainStartTimestampMonotonic"]) / 1e6
        status = status_json(vm)
        figures = {
            "qemu_start_to_ssh_s": round(ssh_s, 1),
            "qemu_start_to_active_seen_s": round(host_active_s, 1),
            "kernel_boot_to_READY_s": round(ready_s, 2),
            "daemon_exec_to_READY_s": round(ready_s - exec_s, 2),
            "status_text": state["StatusText"],
            "NRestarts": state["NRestarts"],
            "systemd_analyze": analyze.strip().splitlines()[0] if analyze.strip() else "",
        }
        passed = (state["ActiveState"] == "active" and state["SubState"] == "running"
                  and state["StatusText"] != "" and state["NRestarts"] == "0"
                  and not status.get("safe_mode"))
        self.record("service up on boot, READY", passed, figures,
                    f"unit: {state}\nstatus: {status}")

    # 2 -----------------------------------------------------------------------------
    def sound(self):
        vm = self.vm
        rc, out, err = vm.ssh(
            "rm -f /tmp/cap.raw /var/lib/severed/recordings/tap.wav; "
            "arecord -q -D hw:Loopback,1,0 -f S16_LE -r 48000 -c 2 -t raw -d 6 "
            "/tmp/cap.raw & sleep 0.5; severed record 4 tap.wav; rc=$?; wait; exit $rc",
            timeout=60 * self.slow, check=False)
        level = vm.json(f"{PROBE} level /tmp/cap.raw")
        if rc == 0:
            same = vm.json(f"{PROBE} compare /tmp/cap.raw /var/lib/severed/recordings/tap.wav")
        else:  # the daemon's own recording failed: no reference to compare with
            same = {"correlation": 0.0, "segment_correlation": None, "segment_s": 0,
                    "tap_rms_dbfs": None, "tap_error": (out + err).strip()[-200:]}
        status = status_json(vm)
        figures = {
            "capture_rms_dbfs": round(level["rms_dbfs"], 1),
            "capture_peak_dbfs": round(level["peak_dbfs"], 1),
            "silent_50ms_windows": f"{level['silent_fraction']:.0%}",
            "correlation_with_daemon_tap": round(same["correlation"], 3),
            "segment_correlation": _r(same["segment_correlation"], 3),
            "segment_s": same["segment_s"],
            "tap_rms_dbfs": _r(same["tap_rms_dbfs"], 1),
            "tap_error": same.get("tap_error", ""),
            "status_rms_dbfs": status.get("rms_dbfs"),
            "underruns": status.get("underruns"),
        }
        # A dropout (underrun) shifts the capture against the tap: a 0.3 s stretch
        # of the capture found sample for sample in the tap proves it is the show.
        passed = (level["seconds"] >= 5.5 and level["rms_dbfs"] > -55
                  and level["peak_dbfs"] < 0 and level["silent_fraction"] < 0.9
                  and (same["segment_correlation"] or 0) > 0.9)
        self.record("sound on the loopback is the show", passed, figures,
                    f"level: {level}\ncompare: {same}")

    # 3 -----------------------------------------------------------------------------
    def status(self):
        vm = self.vm
        rc, text, err = vm.ssh("severed status", check=False)
        s0 = status_json(vm)
        # The door only takes the visitor down when someone moved in the booth lately.
        vm.ssh("severed trigger motion.start && severed trigger door.closed")
        t0 = time.monotonic()
        seen = {}
        while time.monotonic() - t0 < 30 * self.slow and "innie" not in seen:
            scene = status_json(vm).get("scene")
            seen.setdefault(scene, round(time.monotonic() - t0, 2))
            time.sleep(0.1)
        _, sensors, _ = vm.ssh("severed sensors")
        figures = {
            "status_exit": rc, "scene_before": s0.get("scene"),
            "scenes_seen_after_door_s": seen,
            "sensors": " / ".join(" ".join(line.split()[:1] + line.split()[3:4])
                                  for line in sensors.strip().splitlines()[1:]),
            "underruns": status_json(vm).get("underruns"),
        }
        passed = (rc == 0 and "severed running" in text and "show lumon" in text
                  and s0.get("scene") == "outie" and "descent" in seen and "innie" in seen)
        self.record("severed status, trigger door.closed", passed, figures,
                    f"status output:\n{text}{err}")

    # 4 -----------------------------------------------------------------------------
    def kill9(self):
        vm = self.vm
        clean_restart(vm, 120 * self.slow)
        r = vm.json(f"{PROBE} outage KILL --record-s {int(15 * self.slow)} "
                    f"--timeout-s {int(60 * self.slow)}", timeout=120 * self.slow)
        figures = {"READY_again_after_s": _r(r["ready_after_s"]),
                   "sound_back_after_s": r["sound_back_after_s"],
                   "silence_s": _r((r["silence"] or {}).get("length_s")),
                   "rms_after_dbfs": _r((r["level_after"] or {}).get("rms_dbfs"))}
        passed = (r["ready_after_s"] is not None and r["sound_back_after_s"] is not None
                  and r["sound_back_after_s"] < 8 * self.slow)
        self.record("kill -9: sound back", passed, figures, json.dumps(r))

    # 5 -----------------------------------------------------------------------------
    def watchdog(self):
        vm = self.vm
        clean_restart(vm, 120 * self.slow)
        since = vm.ssh("date +%s")[1].strip()
        r = vm.json(f"{PROBE} outage STOP --record-s {int(35 * self.slow)} "
                    f"--timeout-s {int(90 * self.slow)}", timeout=200 * self.slow)
        _, journal, _ = vm.ssh(f"journalctl --namespace=+severed -u severed --since @{since} "
                               "--no-pager -o cat")
        caught = "Watchdog timeout" in journal
        figures = {"READY_again_after_s": _r(r["ready_after_s"]),
                   "sound_back_after_s": r["sound_back_after_s"],
                   "silence_s": _r((r["silence"] or {}).get("length_s")),
                   "journal_says_watchdog_timeout": caught}
        passed = (caught and r["ready_after_s"] is not None
                  and 9.0 <= r["ready_after_s"] <= 40 * self.slow
                  and r["sound_back_after_s"] is not None)
        self.record("SIGSTOP: watchdog restarts it", passed, figures,
                    json.dumps(r) + "\n" + journal[-2000:])

    # 6 -----------------------------------------------------------------------------
    def safe_mode(self):
        vm = self.vm
        clean_restart(vm, 120 * self.slow)
        times = []
        count = "tr -cd , </var/lib/severed/starts.json 2>/dev/null | wc -c"
        for i in range(3):
            state = unit(vm)
            before = int(vm.ssh(count)[1])
            t0 = time.monotonic()
            vm.ssh(f"kill -9 {state['MainPID']}")
            # Kill the next one as soon as it has recorded its start (3 unclean starts
            # must fall within 5 minutes, and a start under TCG takes over a minute).
            deadline = time.monotonic() + 120 * self.slow
            while int(vm.ssh(count)[1]) <= before and time.monotonic() < deadline:
                time.sleep(0.5)
            if i < 2:
                times.append(round(time.monotonic() - t0, 1))
        waited, after = wait_active(vm, 120 * self.slow)
        times.append(round(time.monotonic() - t0, 1))
        status = status_json(vm)
        _, text, _ = vm.ssh("severed status")
        first = unit(vm)
        time.sleep(20)
        later = unit(vm)
        # Whatever format the daemon opened the loopback with (it falls back from int16
        # when the device refuses it): the cable's capture end must match it.
        _, fmt, _ = vm.ssh("for f in S16_LE S32_LE FLOAT_LE; do arecord -q -D hw:Loopback,1,0 "
                           "-f $f -r 48000 -c 2 -t raw -d 3 /tmp/safe.raw 2>/dev/null "
                           "&& echo $f && break; done")
        level = vm.json(f"{PROBE} level /tmp/safe.raw --format {fmt.strip() or 'S16_LE'}")
        _, audio_log, _ = vm.ssh("journalctl --namespace=+severed -u severed -b --no-pager -o cat | "
                                 "grep 'audio:' | tail -n 2")
        clean_restart(vm, 120 * self.slow)
        normal = status_json(vm)
        figures = {"kill_to_next_start_recorded_s_and_last_to_READY_s": times, "status_line": text.splitlines()[0],
                   "StatusText": first["StatusText"],
                   "NRestarts_then_20s_later": f"{first['NRestarts']} -> {later['NRestarts']}",
                   "safe_show_rms_dbfs": round(level["rms_dbfs"], 1),
                   "loopback_format_in_safe_mode": fmt.strip(),
                   "audio_log": audio_log.strip().replace("\n", " | ")[-300:],
                   "after_clean_restart": f"show {normal.get('show')}, "
                                          f"safe_mode={normal.get('safe_mode')}"}
        passed = (status.get("safe_mode") is True and "SAFE MODE" in text
                  and first["MainPID"] == later["MainPID"]
                  and first["NRestarts"] == later["NRestarts"]
                  and later["ActiveState"] == "active"
                  and level["rms_dbfs"] > -90 and normal.get("safe_mode") is False)
        self.record("repeated crashes end in safe mode", passed, figures,
                    f"status: {status}\n{text}")

    # 7 -----------------------------------------------------------------------------
    def broken_reload(self):
        vm = self.vm
        clean_restart(vm, 120 * self.slow)
        # A show that refers to a scene it does not have, named by the site config.
        vm.ssh("set -e; mkdir -p /etc/severed/shows; cp /etc/severed/severed.toml /tmp/site.good; "
               "src=$(/opt/severed/venv/bin/python -c 'import severed, os; "
               "print(os.path.join(os.path.dirname(severed.__file__), \"shows\", \"lumon.toml\"))'); "
               "sed 's/^to = \"descent\"/to = \"basement\"/' \"$src\" >/etc/severed/shows/broken.toml; "
               "grep -q basement /etc/severed/shows/broken.toml; "
               "sed 's|^show = .*|show = \"shows/broken.toml\"|' /tmp/site.good >/tmp/site.bad; "
               ". /opt/severed/src/installation/lib/common.sh; SCRIPT_NAME=systest; "
               "put_file /etc/severed/severed.toml /tmp/site.bad 0644 >/dev/null")
        try:
            check_rc, check_out, _ = vm.ssh("severed check /etc/severed/severed.toml 2>&1",
                                            check=False)
            # The loopback's capture end must use the format the daemon opened it with
            # (it falls back from int16 when the device refuses it), as in safe_mode.
            _, fmt, _ = vm.ssh("for f in S16_LE S32_LE FLOAT_LE; do arecord -q -D "
                               "hw:Loopback,1,0 -f $f -r 48000 -c 2 -t raw -d 1 /dev/null "
                               "2>/dev/null && echo $f && break; done")
            fmt = fmt.strip() or "S16_LE"
            capture = vm.ssh_popen(f"arecord -q -D hw:Loopback,1,0 -f {fmt} -r 48000 -c 2 "
                                   f"-t raw -d 8 /tmp/reload.raw")
            time.sleep(3 * self.slow)
            t0 = time.monotonic()
            rc, out, err = vm.ssh("severed reload", check=False)
            reload_s = time.monotonic() - t0
            capture.wait(60 * self.slow)
            level = vm.json(f"{PROBE} level /tmp/reload.raw --format {fmt}")
            status = status_json(vm)
        finally:
            # Whatever failed above, the checks after this one need the good config.
            vm.ssh(". /opt/severed/src/installation/lib/common.sh; SCRIPT_NAME=systest; "
                   "put_file /etc/severed/severed.toml /tmp/site.good 0644 >/dev/null")
        figures = {"severed_check_exit": check_rc, "reload_exit": rc,
                   "reload_answer_s": round(reload_s, 2),
                   "reload_says": (err.strip().splitlines() or [""])[0][:120],
                   "show_after": status.get("show"), "scene_after": status.get("scene"),
                   "silent_50ms_windows_during": f"{level['silent_fraction']:.0%}",
                   "longest_silence_during_s": level["longest_silence_s"],
                   "rms_during_dbfs": round(level["rms_dbfs"], 1)}
        passed = (check_rc != 0 and rc != 0 and status.get("show") == "lumon"
                  # Dropouts (underruns) are short; a restart is silent for seconds.
                  and level["longest_silence_s"] < 2.0 and level["seconds"] > 7)
        self.record("broken show pushed with reload: old show keeps playing", passed,
                    figures, f"check: {check_out}\nreload: {out}{err}")

    # 8 -----------------------------------------------------------------------------
    def power_cut(self, cuts=3):
        """Rewrite the site config in a loop through the installer's own write path
        (put_file: temp file, sync, rename) and pull the plug in the middle."""
        vm = self.vm
        vm.ssh("set -e; cp /etc/severed/severed.toml /tmp/site.a; "
               "sed 's/^name = \"\\(.*\\)\"$/name = \"\\1-b\"/' /tmp/site.a >/tmp/site.b; "
               "cmp -s /tmp/site.a /tmp/site.b && exit 1; "
               "mkdir -p /var/lib/systest; cp /tmp/site.a /tmp/site.b /var/lib/systest/; sync")
        _, sums, _ = vm.ssh("sha256sum /var/lib/systest/site.a /var/lib/systest/site.b")
        valid = {line.split()[0]: line.split()[1][-6:] for line in sums.splitlines()}
        outcomes = []
        rng = random.Random(1234)
        for cut in range(cuts):
            writer = vm.ssh_popen(
                ". /opt/severed/src/installation/lib/common.sh; SCRIPT_NAME=systest; i=0; "
                "while :; do i=$((i+1)); f=/var/lib/systest/site.a; "
                "[ $((i % 2)) -eq 0 ] && f=/var/lib/systest/site.b; "
                "put_file /etc/severed/severed.toml $f 0644 >/dev/null; echo wrote $i; done")
            delay = rng.uniform(1.0, 3.0) * self.slow
            time.sleep(delay)
            vm.power_cut()
            lines = writer.stdout.read().split()
            writer.wait()
            writes = sum(1 for w in lines if w.isdigit())
            vm.start()
            vm.wait_ssh(600 * self.slow)
            rc_check, out_check, _ = vm.ssh("severed check /etc/severed/severed.toml 2>&1",
                                            check=False)
            _, digest, _ = vm.ssh("sha256sum /etc/severed/severed.toml | cut -d' ' -f1")
            _, leftovers, _ = vm.ssh("ls -a /etc/severed | grep '^\\.severed.toml' || true")
            _, fsck, _ = vm.ssh("journalctl -b -k --no-pager -o cat | "
                                "grep -i 'EXT4-fs (vda).*recover\\|orphan' || true")
            try:
                waited, state = wait_active(vm, 300 * self.slow)
                active = state["ActiveState"]
            except GuestError as exc:
                active = f"not active: {exc}"
            outcomes.append({"cut_after_s": round(delay, 2), "writes_seen": writes,
                             "config": valid.get(digest.strip(), "TORN " + digest.strip()[:12]),
                             "check_exit": rc_check, "temp_files_left": len(leftovers.split()),
                             "journal_recovery": bool(fsck.strip()), "service": active})
        passed = all(o["config"] in valid.values() and o["check_exit"] == 0
                     and o["service"] == "active" for o in outcomes)
        self.record(f"power cut during config write ({cuts} cuts)", passed,
                    {"cuts": outcomes})


def _r(x, nd=2):
    return None if x is None else round(x, nd)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/var/tmp/severed-system-test")
    parser.add_argument("--cache", default="/var/cache/severed-system-test")
    parser.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="tcg")
    parser.add_argument("--only", default="", help="comma-separated check names to run "
                        "(boot always runs): sound,status,kill9,watchdog,safe_mode,"
                        "broken_reload,power_cut")
    parser.add_argument("--cuts", type=int, default=3)
    args = parser.parse_args()
    accel = args.accel
    if accel == "auto":
        accel = "kvm" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "tcg"
    # Every run starts from the image as built: the checks change it (crash records,
    # power cuts, the site config), so they work on a copy.
    subprocess.run(["cp", "--sparse=always", os.path.join(args.work, "disk.img"),
                    os.path.join(args.work, "run.img")], check=True)
    vm = VM(args.work, accel, cache_dir=args.cache)
    checks = Checks(vm, slow=1.0 if accel == "kvm" else 3.0)
    names = ["sound", "status", "kill9", "watchdog", "safe_mode", "broken_reload",
             "power_cut"]
    wanted = [n for n in names if not args.only or n in args.only.split(",")]
    t0 = time.monotonic()
    try:
        checks.run("boot", checks.boot)
        if vm.proc is not None and vm.proc.poll() is None:
            for name in wanted:
                func = getattr(checks, name)
                checks.run(name, (lambda: func(args.cuts)) if name == "power_cut" else func)
    finally:
        if vm.proc is not None:
            vm.shutdown()
    passed = sum(r["passed"] for r in checks.results)
    failed = len(checks.results) - passed
    report = {"accel": accel, "total_s": round(time.monotonic() - t0, 1),
              "results": checks.results}
    with open(os.path.join(args.work, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    say(f"report: {os.path.join(args.work, 'report.json')} ({report['total_s']} s, {accel})")
    print(f"system: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
