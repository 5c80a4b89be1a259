"""``severed doctor``: what is wrong with this installation, and how to fix it.

Each check is a function ``check_NAME(ctx) -> Result(status, message, fix)`` with
status ``ok``, ``warn``, ``fail`` or ``skip`` (not applicable here: "not a Pi", no
daemon running). Every file and command a check reads comes through ``Context``, so
tests point them at fixture files and fake commands::

    ctx = Context(config_path="/etc/severed/severed.toml")
    for name, result in run_checks(ctx):
        print(result.status, name, result.message, result.fix)
"""

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from typing import Callable, NamedTuple

from severed.errors import ConfigError, ControlError

DAEMON_USER = "severed"
CONFIG_TXT = ("/boot/firmware/config.txt", "/boot/config.txt")


class Result(NamedTuple):
    status: str  # ok | warn | fail | skip
    message: str
    fix: str = ""


def ok(message):
    return Result("ok", message)


def skip(message):
    return Result("skip", f"skipped: {message}")


def run_command(argv, timeout_s=5.0):
    """(exit code, stdout) of ``argv``; (None, reason) when it cannot run."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except FileNotFoundError:
        return None, f"{argv[0]} not found"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    return done.returncode, done.stdout


def _default_dacs_path():
    return str(resources.files("severed") / "data" / "dacs.toml")


@dataclass
class Context:
    """Where the checks look. Defaults are the real system's paths and commands."""

    config_path: str = "/etc/severed/severed.toml"
    loader: Callable | None = None  # config_path -> (site, show); default: severed.config
    status: Callable | None = None  # () -> daemon status dict; raises ControlError if down
    asound_cards: str = "/proc/asound/cards"
    config_txt: tuple = CONFIG_TXT
    model: str = "/proc/device-tree/model"
    dacs_toml: str = field(default_factory=_default_dacs_path)
    thermal: str = "/sys/class/thermal/thermal_zone0/temp"
    cmdline: str = "/proc/cmdline"
    run: Callable = run_command
    daemon_user: str = DAEMON_USER
    disk_usage: Callable = shutil.disk_usage
    _cache: dict = field(default_factory=dict, repr=False)

    def once(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    # -- shared facts, computed once per run

    def is_pi(self):
        return self.once("pi", lambda: "raspberry pi" in _read(self.model, "").lower())

    def loaded(self):
        """(site, show, problems): site/show None when they did not load."""
        def load():
            loader = self.loader
            if loader is None:
                from severed.service.handler import default_loader as loader
            try:
                site, show = loader(self.config_path)
            except ConfigError as exc:
                return None, None, exc.problems
            except OSError as exc:
                return None, None, [f"{exc.filename or self.config_path}: {exc.strerror}"]
            return site, show, []
        return self.once("loaded", load)

    def daemon_status(self):
        """The running daemon's status, or None when it does not answer."""
        def ask():
            if self.status is None:
                from severed.service.control import ControlClient
                with ControlClient(timeout_s=2.0) as client:
                    return client.request("status")["status"]
            return self.status()
        try:
            return self.once("status", ask)
        except ControlError:
            self._cache["status"] = None
            return None

    def dac_table(self):
        """The DAC table (severed.hardware.dacs.DacTable), or None if it is missing or
        unreadable."""
        def read():
            from severed.hardware.dacs import DacTable
            try:
                return DacTable.read(self.dacs_toml)
            except ConfigError:
                return None
        return self.once("dac table", read)

    def dacs(self):
        """{name: entry} from the DAC table, or None if it is missing or unreadable."""
        table = self.dac_table()
        return table.dacs if table is not None else None

    def site_dac(self):
        """The board the site config names in [audio] dac, or None (not named, no valid
        config, or a name the table does not know)."""
        site, _, _ = self.loaded()
        name = getattr(getattr(site, "audio", None), "dac", None)
        table = self.dac_table()
        return name if table is not None and name in table.dacs else None

    def config_txt_file(self):
        return next((p for p in self.config_txt if os.path.isfile(p)), None)

    def overlays(self):
        """dtoverlay names in config.txt (comments and parameters stripped)."""
        path = self.config_txt_file()
        names = []
        for line in _read(path, "").splitlines() if path else ():
            line = line.split("#", 1)[0].strip()
            if line.startswith("dtoverlay="):
                names.append(line[len("dtoverlay="):].split(",", 1)[0].strip())
        return names

    def dac(self):
        """(name, entry) of the DAC whose overlay config.txt loads, or (None, None)."""
        table = self.dac_table()
        if table is None:
            return None, None
        return table.dac_for_overlays(self.overlays())


def _read(path, default=None):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return default


# ------------------------------------------------------------------------ checks


def check_config(ctx):
    site, show, problems = ctx.loaded()
    if problems:
        shown = "; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)"
                                          if len(problems) > 3 else "")
        return Result("fail", f"config invalid: {shown}",
                      f"edit {ctx.config_path}; severed check {ctx.config_path} lists "
                      f"every problem")
    return ok(f"config {ctx.config_path} and show {show.name} are valid")


def writable_by(path, user):
    """Whether ``user`` may create files in directory ``path`` (permission bits only)."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return os.access(path, os.W_OK | os.X_OK)
    if entry.pw_uid == 0:
        return True
    st = os.stat(path)
    if st.st_uid == entry.pw_uid:
        return bool(st.st_mode & 0o300 == 0o300)
    if st.st_gid in os.getgrouplist(user, entry.pw_gid):
        return bool(st.st_mode & 0o030 == 0o030)
    return bool(st.st_mode & 0o003 == 0o003)


def _daemon_user(ctx):
    try:
        pwd.getpwnam(ctx.daemon_user)
        return ctx.daemon_user
    except KeyError:
        return pwd.getpwuid(os.geteuid()).pw_name  # a dev machine: we run it ourselves


def check_cache(ctx):
    site, _, _ = ctx.loaded()
    if site is None:
        return skip("needs a valid config")
    from severed.precompute.cache import cache_dir

    path = cache_dir(site)  # honours $SEVERED_CACHE, as the daemon does
    user = _daemon_user(ctx)
    fix = (f"mkdir -p {path}" if path.startswith(os.path.expanduser("~/")) else
           f"sudo install -d -o {user} -g {user} -m 0755 {path}")
    if not os.path.isdir(path):
        return Result("fail", f"precompute cache {path} does not exist", fix)
    if not writable_by(path, user):
        return Result("fail", f"precompute cache {path} is not writable by {user}", fix)
    return ok(f"precompute cache {path} exists and {user} can write it")


def parse_cards(text):
    """[(index, id, description)] from /proc/asound/cards."""
    cards = []
    for line in text.splitlines():
        head, sep, rest = line.partition("]:")
        if not sep or "[" not in head:
            continue
        index, _, card_id = head.partition("[")
        if index.strip().isdigit():
            cards.append((int(index), card_id.strip(), rest.strip()))
    return cards


def _wanted_card(site):
    device = site.audio.device
    if device == "null" or device.startswith("wav:"):
        return None, f"audio device is {device!r}: no sound card used"
    if "CARD=" in device:
        return device.split("CARD=", 1)[1].split(",", 1)[0], None
    return device, None


def check_sound_card(ctx):
    site, _, _ = ctx.loaded()
    text = _read(ctx.asound_cards)
    if text is None:
        if ctx.is_pi():
            return Result("fail", f"{ctx.asound_cards} missing: no sound driver loaded",
                          "check config.txt's dtoverlay line and reboot")
        return skip("not a Pi (no ALSA sound cards)")
    cards = parse_cards(text)
    listing = ", ".join(f"{i}:{cid}" for i, cid, _ in cards) or "none"
    _, dac = ctx.dac()
    wanted, why_not = _wanted_card(site) if site is not None else (None, None)
    if why_not:
        return skip(why_not)
    if wanted in (None, "default", "sysdefault"):
        wanted = (dac or {}).get("card_id") or None
    if not wanted:
        if cards:
            return ok(f"sound cards: {listing}")
        return Result("fail", "no sound card", "check the DAC overlay in config.txt, reboot")
    ids = [wanted] + list((dac or {}).get("card_id_alt") or [])
    found = [c for c in cards if any(w.lower() in (c[1] + " " + c[2]).lower() for w in ids)]
    if found:
        return ok(f"sound card {found[0][1]} present (card {found[0][0]})")
    return Result("fail", f"no sound card matching {wanted!r} (cards: {listing})",
                  "check the DAC overlay in config.txt and the [audio] device in "
                  f"{ctx.config_path}; severed devices lists what PortAudio sees")


def onboard_audio_on(config_txt):
    """The last ``dtparam=audio=`` line that is not a comment wins (the installer adds
    ``dtparam=audio=off`` after the stock ``dtparam=audio=on``)."""
    value = None
    for line in config_txt.splitlines():
        line = line.split("#", 1)[0].replace(" ", "")
        if line.startswith("dtparam=audio="):
            value = line.split("=", 2)[2]
    return value == "on"


def check_dac_overlay(ctx):
    path = ctx.config_txt_file()
    if path is None:
        return skip("not a Pi (no config.txt)")
    table = ctx.dac_table()
    if table is None:
        return skip(f"no DAC table at {ctx.dacs_toml}")
    name, entry = ctx.dac()
    overlays = ctx.overlays()
    named = ctx.site_dac()
    if named is not None:
        wrong = _named_dac_mismatch(ctx, table, named, name, path)
        if wrong is not None:
            return wrong
    if name is None and named is not None and not table.is_named(named):
        return ok(f"no DAC overlay in {path}, as {ctx.config_path} says (dac = \"{named}\")")
    if name is None:
        if named is not None:
            install = f"sudo installation/install.sh --dac {named}, then reboot"
        else:
            install = "run install.sh --dac NAME, or add dtoverlay=... for your board"
        return Result("warn", f"no known DAC overlay in {path} (overlays: "
                              f"{', '.join(overlays) or 'none'})",
                      f"{install} (boards with an EEPROM may configure themselves)")
    notes = []
    if onboard_audio_on(_read(path, "")):
        notes.append("on-board audio is still on (dtparam=audio=on)")
    message = f"{entry.get('name', name)}: dtoverlay={entry['overlays'][0]} in {path}"
    if notes:
        return Result("warn", message + "; " + "; ".join(notes),
                      f"set dtparam=audio=off in {path} and reboot")
    return ok(message)


def _named_dac_mismatch(ctx, table, named, loaded, path):
    """A warning when config.txt loads another board than [audio] dac names, else None."""
    wanted = (table.dacs[named].get("overlays") or [None])[0]
    if wanted is not None and wanted in ctx.overlays():
        return None
    if loaded is None or loaded == named:
        return None  # nothing loaded: the "no known DAC overlay" warning says it
    overlay = table.dacs[loaded]["overlays"][0]
    if not table.is_named(named):  # dac = "none": no HAT expected
        said = f"{ctx.config_path} says dac = \"{named}\" (no HAT)"
        fix = (f"if the {table.board(loaded)} is fitted, set [audio] dac = \"{loaded}\" "
               f"in {ctx.config_path}; if not, sudo installation/install.sh --dac {named} "
               f"removes the overlay; then reboot")
    else:
        said = f"{ctx.config_path} names the {table.board(named)} (dac = \"{named}\")"
        fix = (f"sudo installation/install.sh --dac {named} writes dtoverlay={wanted} into "
               f"{path}, then reboot; or, if the {table.board(loaded)} is the board "
               f"fitted, set [audio] dac = \"{loaded}\" in {ctx.config_path}")
    return Result("warn", f"{said}, but {path} loads dtoverlay={overlay} "
                          f"({table.board(loaded)})", fix)


def unit_state(ctx):
    """systemd's ActiveState and Result of the service, or None off systemd."""
    code, out = ctx.run(["systemctl", "show", "severed.service", "--property",
                         "ActiveState,Result"])
    if code != 0:
        return None
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def check_daemon(ctx):
    status = ctx.daemon_status()
    if status is None:
        unit = unit_state(ctx) or {}
        if unit.get("Result") == "start-limit-hit":
            return Result("fail", "systemd stopped restarting severed: it crashed too "
                                  "often (start limit hit); a plain restart is refused",
                          "severed logs -p err shows the crash; fix it, then sudo severed "
                          "restart (or sudo systemctl reset-failed severed && sudo "
                          "systemctl start severed)")
        return Result("warn", "severed is not running (or not answering)",
                      "sudo severed restart; severed logs -p err says why it stopped")
    if status.get("safe_mode"):
        return Result("fail", "severed runs in safe mode after repeated crashes",
                      "severed logs -p err shows the crash; fix it, then "
                      "sudo severed restart")
    underruns = int(status.get("underruns") or 0)
    if underruns:
        return Result("warn", f"{underruns} underruns since start (audible gaps)",
                      "raise [audio] block_frames or render_ahead_blocks; check power "
                      "and temperature below")
    return ok(f"severed playing scene {status.get('scene')}, no underruns")


def check_loudness(ctx):
    status = ctx.daemon_status()
    if status is None:
        return skip("severed is not running (systemctl start severed)")
    missing = status.get("loudness_unmeasured")
    if missing is None:
        return Result("warn", "the daemon did not report its loudness calibration", "")
    if missing:
        return Result("warn", f"scene{'s' if len(missing) > 1 else ''} "
                              f"{', '.join(missing)} play at their layers' gains, not at "
                              "their loudness_lufs: not measured yet",
                      "sudo -u severed severed precompute --config "
                      "/etc/severed/severed.toml, then severed reload")
    return ok("every scene with a loudness_lufs plays at it (measured)")


def check_fleet(ctx):
    from severed.fleet.report import doctor_result

    status = ctx.daemon_status()
    if status is None:
        return skip("severed is not running (systemctl start severed)")
    result = doctor_result(status.get("fleet"))
    if result is None:
        return ok("no [fleet] in the site config: this booth plays alone")
    return Result(*result) if result[0] != "ok" else ok(result[1])


def check_pin_factory(ctx):
    status = ctx.daemon_status()
    if status is None:
        return skip("severed is not running (systemctl start severed)")
    factory = status.get("pin_factory")
    if not factory:
        return Result("warn", "the daemon did not report its pin factory", "")
    if "mock" in str(factory).lower() and ctx.is_pi():
        return Result("fail", f"GPIO pin factory is {factory}: sensors are simulated",
                      "set pin_factory = \"auto\" in the config, check that lgpio is "
                      "installed and LG_WD is writable, restart")
    return ok(f"GPIO pin factory {factory}")


def check_pins(ctx):
    site, _, _ = ctx.loaded()
    if site is None:
        return skip("needs a valid config")
    table = ctx.dac_table()
    if table is None:
        return skip(f"no DAC table at {ctx.dacs_toml}")
    # The board the site config names wins: it is what `severed check` checked against.
    name = ctx.site_dac()
    if name is None:
        name, entry = ctx.dac()
        if entry is None:
            return skip("no DAC named in the config ([audio] dac) or found in config.txt "
                        "to compare with")
    taken = table.pins_taken(name)
    pins = ", ".join(map(str, sorted(taken)))
    clashes = [f"{s.name} on GPIO{s.pin} ({taken[s.pin]})" for s in site.sensors
               if s.pin in taken]
    if clashes:
        free = table.free_sensor_pins(name, used={s.pin for s in site.sensors})
        return Result("fail", f"sensor pins used by the {name} DAC: {', '.join(clashes)}",
                      f"move them to free pins (BCM {', '.join(map(str, free))} are free "
                      f"on this board; it takes GPIO {pins}) and edit {ctx.config_path}")
    return ok(f"sensor pins clear of the DAC's ({pins})")


THROTTLE_BITS = {0: "under-voltage", 1: "ARM frequency capped", 2: "throttled",
                 3: "soft temperature limit"}


def check_throttling(ctx):
    code, out = ctx.run(["vcgencmd", "get_throttled"])
    if code is None:
        return skip("not a Pi (no vcgencmd)")
    try:
        value = int(out.strip().split("=", 1)[1], 16)
    except (IndexError, ValueError):
        return Result("warn", f"cannot read vcgencmd get_throttled: {out.strip()!r}", "")
    now = [text for bit, text in THROTTLE_BITS.items() if value & (1 << bit)]
    past = [text for bit, text in THROTTLE_BITS.items() if value & (1 << (bit + 16))]
    fix = ("use the official 5.1 V supply and a short thick cable; under-voltage "
           "corrupts SD cards and causes underruns")
    if now:
        return Result("fail", f"now: {', '.join(now)} (throttled=0x{value:x})", fix)
    if past:
        return Result("warn", f"since boot: {', '.join(past)} (throttled=0x{value:x})", fix)
    return ok("no under-voltage or throttling since boot")


def check_temperature(ctx):
    text = _read(ctx.thermal)
    if text is None:
        return skip("no thermal sensor")
    try:
        temp_c = int(text.strip()) / 1000
    except ValueError:
        return Result("warn", f"unreadable temperature in {ctx.thermal}: {text.strip()!r}")
    fix = "give the Pi air or a heat sink; it slows down at 80-85 C"
    if temp_c >= 80:
        return Result("fail", f"CPU at {temp_c:.1f} C", fix)
    if temp_c >= 70:
        return Result("warn", f"CPU at {temp_c:.1f} C", fix)
    return ok(f"CPU at {temp_c:.1f} C")


def check_disk(ctx):
    site, _, _ = ctx.loaded()
    path = os.path.expanduser(site.cache_dir) if site is not None else "/"
    if not os.path.isdir(path):
        path = "/"
    usage = ctx.disk_usage(path)
    free_mb = usage.free / 2**20
    fix = "sudo journalctl --vacuum-size=50M; remove old recordings under /var/lib/severed"
    if free_mb < 100:
        return Result("fail", f"only {free_mb:.0f} MiB free on {path}", fix)
    if free_mb < 500:
        return Result("warn", f"{free_mb:.0f} MiB free on {path}", fix)
    return ok(f"{free_mb / 1024:.1f} GiB free on {path}")


def check_read_only_root(ctx):
    if not ctx.is_pi():
        return skip("not a Pi")
    if "overlayroot=tmpfs" in _read(ctx.cmdline, "").split():
        return ok("read-only root (overlay file system) is on: power cuts are safe")
    return Result("warn", "root file system is writable: a power cut can damage the SD card",
                  "when set up: sudo raspi-config nonint do_overlayfs 0, then reboot")


def check_clock(ctx):
    code, out = ctx.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    if code is None or code != 0:
        return skip("timedatectl unavailable (no systemd here)")
    if out.strip() == "yes":
        return ok("clock synchronised (opening hours are right)")
    return Result("warn", "clock not synchronised: opening hours may be wrong",
                  "check the network; sudo timedatectl set-ntp true")


CHECKS = (
    ("config", check_config),
    ("cache", check_cache),
    ("sound card", check_sound_card),
    ("DAC overlay", check_dac_overlay),
    ("daemon", check_daemon),
    ("loudness", check_loudness),
    ("fleet", check_fleet),
    ("pin factory", check_pin_factory),
    ("pins", check_pins),
    ("power", check_throttling),
    ("temperature", check_temperature),
    ("disk", check_disk),
    ("read-only root", check_read_only_root),
    ("clock", check_clock),
)


def run_checks(ctx, checks=CHECKS):
    """[(name, Result)] for every check; a check that crashes is a failure, not a crash."""
    results = []
    for name, check in checks:
        try:
            result = check(ctx)
        except Exception as exc:  # doctor must finish even where a check is wrong
            result = Result("fail", f"check crashed: {type(exc).__name__}: {exc}",
                            "report this as a bug in severed doctor")
        results.append((name, result))
    return results
