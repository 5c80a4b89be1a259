"""The maintenance commands as a technician types them, against a live control socket."""

import argparse
import json
import os
import re

import pytest

from severed.commands import maintenance
from severed.errors import ConfigError, ControlError, SeveredError
from severed.service.control import ControlServer
from severed.service.handler import ControlHandler


def parse(argv):
    parser = argparse.ArgumentParser(prog="severed")
    sub = parser.add_subparsers(dest="command")
    maintenance.register(sub)
    return parser.parse_args(argv)


def run(argv):
    args = parse(argv)
    return args.func(args)


@pytest.fixture
def daemon(fake_loop, short_dir, monkeypatch, cfg):
    loader = cfg.Loader()
    handler = ControlHandler(fake_loop, cfg.site, cfg.show, loader=loader,
                             info=lambda: {"pin_factory": "MockFactory"})
    server = ControlServer(os.path.join(short_dir, "c.sock"), handler).start()
    monkeypatch.setenv("SEVERED_CONTROL", server.path)
    yield fake_loop, loader
    server.stop()


def test_status_human_and_json(daemon, capsys):
    assert run(["status"]) == 0
    out = capsys.readouterr().out.splitlines()
    # The uptime is whatever a loaded machine took between start and asking.
    assert re.match(rf"severed running \(pid {os.getpid()}, up 0m \d\ds\), site lobby, "
                    r"show lumon", out[0]), out[0]
    assert out[1:7] == ["scene      outie", "tension    0.25", "volume     +0.0 dB",
                        "level      peak -inf, rms -20.0 dBFS, short-term -inf",
                        "underruns  0",
                        "sensors    door open, motion stop"]
    assert run(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scene"] == "outie"


def test_commands_post_events(daemon, capsys):
    loop, _ = daemon
    assert run(["scene", "innie"]) == 0
    assert run(["volume", "-12"]) == 0
    assert run(["mute"]) == 0
    assert run(["unmute"]) == 0
    assert run(["trigger", "door.closed"]) == 0
    assert run(["test-tone", "right", "--freq", "1000", "--seconds", "1"]) == 0
    assert [(e.type, e.data) for e in loop.events] == [
        ("cmd.scene", {"scene": "innie"}), ("cmd.volume", {"db": -12.0}),
        ("cmd.mute", {}), ("cmd.unmute", {}), ("cmd.trigger", {"event": "door.closed"}),
        ("cmd.test_tone", {"channel": "right", "freq_hz": 1000.0, "seconds": 1.0})]
    assert capsys.readouterr().out.splitlines() == [
        "cross-fading to innie", "volume -12.0 dB", "muted", "unmuted",
        "triggered door.closed", "test tone 1000 Hz on right for 1 s"]


def test_errors_reach_the_technician(daemon):
    with pytest.raises(ControlError, match="scene: no scene 'nowhere'"):
        run(["scene", "nowhere"])


def test_sensors_table(daemon, capsys):
    assert run(["sensors"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "name         kind     pin  state",
        "door         door      17  open",
        "motion       pir        4  stop  (required)",
        "reward       button    27  -"]


def test_watch_refreshes_one_screen(daemon, capsys):
    assert run(["watch", "--count", "3", "--interval", "0.01"]) == 0
    out = capsys.readouterr().out
    assert out.count("scene      outie") == 3
    assert "rms  [" + "#" * 20 + "." * 10 + "] -20.0 dBFS" in out  # -20 of a 60 dB scale


def test_record_writes_a_file(daemon, capsys, tmp_path):
    loop, _ = daemon
    loop.start()
    target = tmp_path / "take.wav"
    assert run(["record", "0.3", str(target)]) == 0
    assert target.stat().st_size == 44 + int(0.3 * 8000) * 2 * 2
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {target}"


def test_record_a_relative_name_for_a_daemon_started_by_hand(daemon, capsys, tmp_path,
                                                              monkeypatch):
    # Such a daemon has no /var/lib/severed/recordings: the name is taken from here.
    loop, _ = daemon
    loop.start()
    monkeypatch.chdir(tmp_path)
    assert run(["record", "0.3", "take.wav"]) == 0
    assert (tmp_path / "take.wav").stat().st_size == 44 + int(0.3 * 8000) * 2 * 2
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {tmp_path / 'take.wav'}"


def test_reload_prints_every_problem(daemon, capsys, cfg):
    _, loader = daemon
    loader.result = ConfigError(["a.toml: x: bad", "b.toml: y: worse"])
    assert run(["reload"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["severed: error: config not reloaded: 2 problem(s); the running show is "
                   "unchanged", "  a.toml: x: bad", "  b.toml: y: worse"]
    loader.result = (cfg.site, cfg.show)
    assert run(["reload"]) == 0
    assert capsys.readouterr().out == "reloaded: show lumon\n"


def test_config_prints_json(daemon, capsys):
    assert run(["config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["site"]["name"] == "lobby" and printed["show"]["name"] == "lumon"


def test_not_running(monkeypatch, short_dir):
    monkeypatch.setenv("SEVERED_CONTROL", os.path.join(short_dir, "gone.sock"))
    with pytest.raises(ControlError, match="severed is not running: no socket at"):
        run(["status"])
    # watch keeps trying instead of failing: a restart should not end it
    assert run(["watch", "--count", "1"]) == 0


def test_logs_runs_journalctl_with_flags(monkeypatch, short_dir):
    monkeypatch.setenv("SEVERED_CONTROL", os.path.join(short_dir, "none.sock"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", short_dir)  # no log of a hand-started daemon
    calls = []
    monkeypatch.setattr(maintenance.shutil, "which", lambda name: "/usr/bin/" + name)
    args = parse(["logs", "-p", "warning", "--since", "today", "--", "SENSOR=door"])
    maintenance.cmd_logs(args, execvp=lambda file, argv: calls.append(argv))
    # The daemon's own journal namespace, interleaved with systemd's lines about the unit.
    assert calls == [["journalctl", "--namespace=+severed", "--unit", "severed.service",
                      "--no-hostname", "--output",
                      "short-iso", "--lines", "200", "--no-pager", "--priority", "warning",
                      "--since", "today", "SENSOR=door"]]
    args = parse(["logs", "-f", "-n", "20"])
    assert maintenance.journalctl_argv(args, interactive=True)[-3:] == [
        "--lines", "20", "--follow"]


def test_doctor_exit_code_follows_failures(monkeypatch, capsys, short_dir):
    from severed.service import doctor
    monkeypatch.setenv("SEVERED_CONTROL", os.path.join(short_dir, "gone.sock"))
    fake = (("a", lambda ctx: doctor.Result("ok", "fine")),
            ("b", lambda ctx: doctor.Result("warn", "meh", "do this")))
    monkeypatch.setattr(doctor, "CHECKS", fake)
    monkeypatch.setattr(doctor.run_checks, "__defaults__", (fake,))
    assert run(["doctor"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["[ok  ] a               fine", "[WARN] b               meh",
                       "                       fix: do this"]
    assert out[-1] == "0 failed, 1 warnings, 2 checks"
    fail = (("c", lambda ctx: doctor.Result("fail", "broken", "fix it")),)
    monkeypatch.setattr(doctor.run_checks, "__defaults__", (fail,))
    assert run(["doctor", "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == [
        {"check": "c", "status": "fail", "message": "broken", "fix": "fix it"}]


def test_restart_resets_the_start_limit_and_the_crash_record(daemon, tmp_path, monkeypatch,
                                                             capsys):
    # The way back from a crash loop that always works: systemd refuses a plain
    # restart after one, and the crash record would bring safe mode straight back.
    from severed.service.safemode import CrashCounter

    counter = CrashCounter(str(tmp_path))
    for t in (1.0, 2.0, 3.0):
        counter.should_use_safe_mode(t)
    calls = []

    def systemctl(argv, check):
        calls.append(argv)
        return argparse.Namespace(returncode=0)

    monkeypatch.setattr(maintenance.os, "geteuid", lambda: 0)
    monkeypatch.setattr(maintenance.shutil, "which", lambda name: "/bin/" + name)
    args = parse(["restart"])
    assert maintenance.cmd_restart(args, run=systemctl, state_dir=str(tmp_path)) == 0
    assert calls == [["systemctl", "reset-failed", "severed.service"],
                     ["systemctl", "restart", "severed.service"]]
    assert counter.starts() == []
    assert capsys.readouterr().out == "severed restarted: show lumon, scene outie\n"


def test_restart_needs_root(monkeypatch):
    from severed.errors import SeveredError
    monkeypatch.setattr(maintenance.os, "geteuid", lambda: 1000)
    with pytest.raises(SeveredError, match="needs root: sudo severed restart"):
        run(["restart"])


class PlayingLumon:
    """The fake loop, with the lumon show's machine and state as a real loop has."""

    def __init__(self, loop):
        from severed.config import load_show
        from severed.show.machine import ShowMachine

        self._loop = loop
        self.machine = ShowMachine(load_show("lumon"))
        self.state = self.machine.initial(0.0)  # outie, nobody has moved

    def __getattr__(self, name):
        return getattr(self._loop, name)


def test_trigger_that_moves_the_show_nowhere_says_why(fake_loop, cfg, short_dir, capsys,
                                                      monkeypatch):
    handler = ControlHandler(PlayingLumon(fake_loop), cfg.site, cfg.show)
    server = ControlServer(os.path.join(short_dir, "t.sock"), handler).start()
    monkeypatch.setenv("SEVERED_CONTROL", server.path)
    try:
        assert run(["trigger", "door.closed"]) == 0
    finally:
        server.stop()
    assert capsys.readouterr().out == ("triggered door.closed; no scene change: the show "
                                       "needs motion in the last 30 s\n")
    server = ControlServer(os.path.join(short_dir, "t.sock"), handler).start()
    try:
        assert run(["scene", "outie"]) == 0
    finally:
        server.stop()
    assert capsys.readouterr().out == "no scene change: outie is playing already\n"


def test_did_you_mean_for_commands_and_scenes(daemon, capsys):
    from severed.cli import main

    assert main(["stauts"]) == 2
    assert capsys.readouterr().err == ("severed: error: no command 'stauts'; did you mean "
                                       "'status'? (severed --help lists them)\n")
    assert main(["scene", "innee"]) == 1
    assert "did you mean 'innie'?" in capsys.readouterr().err


def test_doctor_checks_the_config_the_running_daemon_uses(fake_loop, cfg, short_dir,
                                                          monkeypatch, capsys):
    # It reported "/etc/severed/severed.toml: cannot read" while the daemon played the
    # dev site.
    from severed.service import doctor

    seen = []
    only = (("config", lambda ctx: seen.append(ctx.config_path) or doctor.Result("ok", "")),)
    monkeypatch.setattr(doctor.run_checks, "__defaults__", (only,))
    handler = ControlHandler(fake_loop, cfg.site, cfg.show, config_path="/srv/dev-site.toml")
    server = ControlServer(os.path.join(short_dir, "d.sock"), handler).start()
    monkeypatch.setenv("SEVERED_CONTROL", server.path)
    try:
        assert run(["doctor"]) == 0
        assert run(["doctor", "--config", "/elsewhere.toml"]) == 0
    finally:
        server.stop()
    assert seen == ["/srv/dev-site.toml", "/elsewhere.toml"]
    assert capsys.readouterr().out.startswith(
        f"checking /srv/dev-site.toml, the config of the running daemon (pid {os.getpid()})")
    assert run(["doctor"]) == 0  # nothing running: the installed config
    assert seen[-1] == "/etc/severed/severed.toml"


def test_logs_of_a_daemon_started_by_hand_are_its_log_file(fake_loop, cfg, short_dir,
                                                           monkeypatch, capsys):
    log_file = os.path.join(short_dir, "severed.log")
    handler = ControlHandler(fake_loop, cfg.site, cfg.show,
                             info=lambda: {"log_path": log_file})
    server = ControlServer(os.path.join(short_dir, "l.sock"), handler).start()
    monkeypatch.setenv("SEVERED_CONTROL", server.path)
    calls = []
    try:
        args = parse(["logs", "-f", "-n", "50", "-p", "err"])
        maintenance.cmd_logs(args, execvp=lambda file, argv: calls.append(argv))
    finally:
        server.stop()
    assert calls == [["tail", "-n", "50", "-F", log_file]]
    assert "filter the journal only" in capsys.readouterr().err
    # Not running, no journal here: the last hand-started daemon's log, else say where.
    monkeypatch.setattr(maintenance.shutil, "which", lambda name: None)
    monkeypatch.setenv("XDG_RUNTIME_DIR", short_dir)
    os.makedirs(os.path.join(short_dir, "severed"))
    with pytest.raises(SeveredError, match="logs to its terminal and to "
                       + os.path.join(short_dir, "severed", "severed.log")):
        maintenance.cmd_logs(parse(["logs"]), execvp=lambda file, argv: calls.append(argv))
    open(os.path.join(short_dir, "severed", "severed.log"), "w").close()
    maintenance.cmd_logs(parse(["logs"]), execvp=lambda file, argv: calls.append(argv))
    assert calls[-1] == ["tail", "-n", "200", os.path.join(short_dir, "severed",
                                                          "severed.log")]
