#!/usr/bin/env bash
# Install severed on Raspberry Pi OS (Bookworm, Trixie; arm64 or armhf) or plain Debian,
# so the exhibit plays on every power-up. Safe to run again: it changes only what is not
# already in place, and says so.
#
#   sudo installation/install.sh --dac hifiberry-dac      then reboot
#
# Options:
#   --dac NAME      the DAC HAT (src/severed/data/dacs.toml; "none" for USB or a dev
#                   machine). Remembered: later runs may leave it out.
#   --root DIR      install into a staged tree DIR (tests, image builders): every path is
#                   prefixed with DIR; apt, useradd, systemctl, raspi-config and the venv
#                   are not run but recorded in DIR/var/lib/severed/install-actions.log
#   --dry-run       print what would change; change nothing
#   --read-only     turn on the read-only root overlay (raspi-config do_overlayfs)
#   --no-venv       do not create or update /opt/severed/venv (recorded as skipped)
#   --offline DIR   install without network, from a bundle made on a machine that has
#                   it by installation/offline-bundle.sh (apt packages and wheels for
#                   this system's release and ABI)
#   --show FILE     print what install.sh would write to FILE (config.txt, journald,
#                   unit, severed.toml or a full path) and exit
#   --source DIR    the checkout to install from (default: this script's checkout)
#   --list-dacs     print the known DAC names and exit
#   -h, --help      this text
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$here/lib/common.sh"

VENV=/opt/severed/venv
UNIT=/etc/systemd/system/severed.service
# The journal namespace of the unit's LogNamespace=severed: severed's logs alone, in RAM.
JOURNALD_CONF=/etc/systemd/journald@severed.conf
# Older installs kept the whole system's journal in RAM with this drop-in.
OLD_JOURNALD_DROPIN=/etc/systemd/journald.conf.d/severed.conf
SITE_CONFIG=/etc/severed/severed.toml
STATE_FILE=/var/lib/severed/install.state
# shellcheck source-path=SCRIPTDIR source=lib/packages.sh
. "$here/lib/packages.sh"
# The venv must sit on Debian's python, the one apt's python3-* packages are built for,
# not on whatever python3 comes first in PATH (pyenv, conda).
SYSTEM_PYTHON=/usr/bin/python3
[ -x "$SYSTEM_PYTHON" ] || SYSTEM_PYTHON=python3

source_dir=$(cd "$here/.." && pwd)
dac=""
read_only=0
no_venv=0
show=""
offline=""

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --dac) dac=${2:?--dac needs a name}; shift 2 ;;
        --dac=*) dac=${1#*=}; shift ;;
        --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
        --root=*) ROOT=${1#*=}; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        --read-only) read_only=1; shift ;;
        --no-venv) no_venv=1; shift ;;
        --show) show=${2:?--show needs a file}; shift 2 ;;
        --offline) offline=${2:?--offline needs the bundle directory}; shift 2 ;;
        --offline=*) offline=${1#*=}; shift ;;
        --source) source_dir=${2:?--source needs a directory}; shift 2 ;;
        --source=*) source_dir=${1#*=}; shift ;;
        --list-dacs) list_dacs=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
done

command -v "$SYSTEM_PYTHON" >/dev/null || die "python3 is missing: install it with 'apt-get install python3'"
"$SYSTEM_PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "python3 >= 3.11 is needed (Raspberry Pi OS Bookworm or later)"
source_dir=$(cd "$source_dir" && pwd) || die "--source: no such directory"
DACS_TOML="$source_dir/src/severed/data/dacs.toml"
[ -f "$DACS_TOML" ] || die "$DACS_TOML is missing: is --source a severed checkout?"
bootconfig() { "$SYSTEM_PYTHON" "$here/lib/bootconfig.py" "$@"; }

if [ "${list_dacs:-0}" -eq 1 ]; then bootconfig dacs "$DACS_TOML"; exit 0; fi

if [ -n "$ROOT" ]; then
    case "$ROOT" in /*) ;; *) ROOT="$PWD/$ROOT" ;; esac
    ROOT=$(cd "$ROOT" 2>/dev/null && pwd || printf '%s' "${ROOT%/}")
    [ "$ROOT" = "/" ] && ROOT=""
fi
actions_log install-actions.log
if [ -n "$offline" ]; then
    offline=$(cd "$offline" 2>/dev/null && pwd) || die "--offline: no such directory"
    [ -f "$offline/bundle.info" ] ||
        die "--offline $offline: not a bundle (no bundle.info): make one with installation/offline-bundle.sh"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

config_txt=$(find_config_txt)
is_pi=0
if [ -n "$config_txt" ]; then
    is_pi=1
elif ! staged && grep -qs 'Raspberry Pi' /proc/device-tree/model; then
    is_pi=1
fi
# A Pi 5 (or CM5): its GPIO is on the RP1 chip, which only lgpio drives (not RPi.GPIO).
board=""
if ! staged && [ -r /proc/device-tree/model ]; then board=$(tr -d '\0' </proc/device-tree/model); fi
pi5=0
case "$board" in "Raspberry Pi 5"*|"Raspberry Pi Compute Module 5"*) pi5=1 ;; esac

# --- the DAC -----------------------------------------------------------------------
need_dac() {
    die "say which DAC HAT is fitted: --dac NAME (see hardware/README.md). Known: $(bootconfig dacs "$DACS_TOML" | tr '\n' ' ')"
}
previous_dac=""
# Groups an earlier run created (uninstall.sh --purge removes them again when empty).
created_groups=()
if [ -f "$(p "$STATE_FILE")" ]; then
    previous_dac=$(sed -n 's/^dac=//p' "$(p "$STATE_FILE")" | head -n1)
    while IFS= read -r g; do created_groups+=("$g"); done < <(sed -n 's/^created_group=//p' "$(p "$STATE_FILE")")
fi
remember_group() {
    [[ " ${created_groups[*]} " == *" $1 "* ]] || created_groups+=("$1")
}
if [ -z "$dac" ]; then
    if [ -n "$previous_dac" ]; then
        dac=$previous_dac
    elif [ "$is_pi" -eq 1 ]; then
        [ -n "$show" ] || need_dac
    else
        dac=none
    fi
fi
if [ -n "$dac" ]; then
    bootconfig dac "$DACS_TOML" "$dac" name >/dev/null 2>"$work/err" || die "$(cat "$work/err")"
fi

# --- what each file should hold ------------------------------------------------------
render_config_txt() {  # -> stdout; warnings to stderr
    bootconfig apply "$DACS_TOML" "$dac" <"$(p "$config_txt")"
}

# The example site config for this DAC (dac = "NAME", sensors moved off the board's
# pins) -> stdout; each move, "moved: ...", to stderr.
render_site_config() {
    local example="$source_dir/installation/severed.toml"
    [ -f "$example" ] || die "$example is missing from the checkout"
    bootconfig site-config "$DACS_TOML" "$dac" <"$example"
}

render_show() {
    case "$1" in
        config.txt|/boot/config.txt|/boot/firmware/config.txt)
            [ -n "$config_txt" ] || die "no config.txt on this system (not a Raspberry Pi image)"
            [ -n "$dac" ] || need_dac
            render_config_txt ;;
        journald|"$JOURNALD_CONF") cat "$here/journald-severed.conf" ;;
        unit|severed.service|"$UNIT") cat "$source_dir/systemd/severed.service" ;;
        severed.toml|"$SITE_CONFIG")
            if [ -f "$(p "$SITE_CONFIG")" ]; then cat "$(p "$SITE_CONFIG")"
            elif [ -n "$dac" ]; then render_site_config 2>/dev/null
            else cat "$source_dir/installation/severed.toml"; fi ;;
        *) die "--show: unknown file $1 (config.txt, journald, unit or severed.toml)" ;;
    esac
}

if [ -n "$show" ]; then render_show "$show"; exit 0; fi

if ! staged && [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    die "run as root (sudo $0 ...), or look first with --dry-run"
fi
if staged && [ "$DRY_RUN" -eq 0 ]; then
    mkdir -p "$ROOT" || die "--root: cannot create $ROOT"
fi

say "installing from $source_dir into ${ROOT:-/} (dac: $dac$([ "$DRY_RUN" -eq 1 ] && echo ', dry run'))"
os_name="$(os_field PRETTY_NAME)"
say "system: ${os_name:-unknown}, $(dpkg --print-architecture 2>/dev/null || uname -m), $([ "$is_pi" -eq 1 ] && echo "Raspberry Pi${board:+ ($board)}, ${config_txt:-no config.txt}" || echo "not a Raspberry Pi")"

# --- 1. system packages --------------------------------------------------------------
# With --offline, apt sees only the bundle's packages (a flat repository beside them)
# and what is installed; nothing is fetched.
APT_OPTS=()
if [ -n "$offline" ]; then
    mkdir -p "$work/lists/partial" "$work/sources.d"
    printf 'deb [trusted=yes] file:%s ./\n' "$offline/debs" >"$work/offline.list"
    # The bundle may sit where apt's unprivileged download user cannot read (a USB
    # stick mounted for root): read it as root, as apt would after a warning anyway.
    APT_OPTS=(-o "Dir::Etc::SourceList=$work/offline.list" -o "Dir::Etc::SourceParts=$work/sources.d"
              -o "Dir::State::Lists=$work/lists" -o "APT::Sandbox::User=root")
fi
apt_available() { apt-cache "${APT_OPTS[@]}" show --no-all-versions "$1" >/dev/null 2>&1; }
apt_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

# The GPIO backends gpiozero can use, from the OS where its archive has them:
#   python3-lgpio      every Pi; the only one that drives a Pi 5's GPIO (RP1)
#   python3-rpi-lgpio  Trixie: RPi.GPIO's API on top of lgpio
#   python3-rpi.gpio   Bookworm and older, Pi 1-4
# The last two conflict (both are `import RPi.GPIO`): whichever is installed stays.
# Raspberry Pi OS has them all; plain Debian has none (lgpio then comes from PyPI).
gpio_packages() {
    [ "$is_pi" -eq 1 ] || return 0
    echo python3-lgpio
    [ "$pi5" -eq 1 ] && return 0
    if staged; then
        case "$(os_field VERSION_CODENAME)" in
            buster|bullseye|bookworm) echo python3-rpi.gpio ;;
            *) echo python3-rpi-lgpio ;;
        esac
        return 0
    fi
    if apt_installed python3-rpi.gpio || apt_installed python3-rpi-lgpio; then return 0; fi
    if apt_available python3-rpi-lgpio; then echo python3-rpi-lgpio
    elif apt_available python3-rpi.gpio; then echo python3-rpi.gpio; fi
}

install_packages() {
    local wanted=("${APT_PACKAGES[@]}") p
    # The compiled engine core: pip builds it from setup.py on this machine.
    [ -f "$source_dir/setup.py" ] && wanted+=("${COMPILER_PACKAGES[@]}")
    if staged; then
        while IFS= read -r p; do wanted+=("$p"); done < <(gpio_packages)
        act "apt packages: ${wanted[*]}" -- apt-get install -y --no-install-recommends "${wanted[@]}"
        return 0
    fi
    command -v apt-get >/dev/null || { warn "no apt-get: install ${wanted[*]} by hand"; return 0; }
    local missing=() unavailable=() updated=0
    refresh() {  # the package lists, once, before asking what the archive has
        [ "$updated" -eq 1 ] && return 0
        updated=1
        if [ -n "$offline" ]; then
            apt-get "${APT_OPTS[@]}" update -qq || die "apt cannot read the bundle's packages in $offline/debs"
        elif [ "$DRY_RUN" -eq 0 ]; then
            act "apt-get update" -- apt-get update -qq ||
                warn "apt-get update failed: using the package lists this system has"
        fi
    }
    for p in "${wanted[@]}"; do apt_installed "$p" || refresh; done
    # GPIO packages after the refresh: which ones exist depends on the archive.
    while IFS= read -r p; do wanted+=("$p"); done < <(refresh; gpio_packages)
    for p in "${wanted[@]}"; do
        apt_installed "$p" && continue
        if apt_available "$p"; then missing+=("$p"); else unavailable+=("$p"); fi
    done
    # Without a Debian package for pyaudio or systemd, pip compiles them in the venv.
    for p in python3-pyaudio python3-systemd; do
        if [[ " ${unavailable[*]} " == *" $p "* ]]; then
            for b in "${BUILD_PACKAGES[@]}"; do
                apt_installed "$b" || [[ " ${missing[*]} " == *" $b "* ]] || missing+=("$b")
            done
            break
        fi
    done
    if [ ${#unavailable[@]} -gt 0 ]; then
        say "not in this system's apt sources$([ -n "$offline" ] && echo " (nor in the bundle)"): ${unavailable[*]}"
    fi
    if [ ${#missing[@]} -eq 0 ]; then
        kept "apt packages"
        return 0
    fi
    act "apt packages: ${missing[*]}" -- env DEBIAN_FRONTEND=noninteractive \
        apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends "${missing[@]}"
}

# --- 2. user and groups --------------------------------------------------------------
has_group() {
    if staged; then grep -qs "^$1:" "$(p /etc/group)"; else getent group "$1" >/dev/null; fi
}
has_user() {
    if staged; then grep -qs "^$1:" "$(p /etc/passwd)"; else getent passwd "$1" >/dev/null; fi
}
in_group() {
    if staged; then
        grep -qs "^$2:[^:]*:[^:]*:\(.*,\)\{0,1\}$1\(,.*\)\{0,1\}$" "$(p /etc/group)"
    else
        id -nG "$1" 2>/dev/null | tr ' ' '\n' | grep -qxF "$2"
    fi
}

make_user() {
    local groups=(audio gpio)
    # gpio exists on Raspberry Pi OS; on plain Debian (dev machines, mock pins) it is made
    # empty, because the unit's SupplementaryGroups= refuses to start without it.
    if has_group gpio; then kept "group gpio"; else
        act "group gpio (for the unit; this machine has no GPIO)" -- groupadd --system gpio
        remember_group gpio
    fi
    if has_group severed; then kept "group severed"; else
        act "group severed (technicians join it to use the severed command)" -- \
            groupadd --system severed
    fi
    if has_user severed; then kept "user severed"; else
        act "system user severed" -- useradd --system --gid severed \
            --groups "$(IFS=,; echo "${groups[*]}")" --home-dir /var/lib/severed \
            --no-create-home --shell /usr/sbin/nologin --comment "severed sound installation" severed
        return 0
    fi
    local g
    for g in "${groups[@]}"; do
        in_group severed "$g" && { kept "severed in group $g"; continue; }
        act "severed joins group $g" -- usermod -a -G "$g" severed
    done
}

add_technician() {
    # The person who ran sudo gets the severed group: `severed status` without sudo.
    local who=${SUDO_USER:-}
    [ -n "$who" ] && [ "$who" != root ] || return 0
    in_group "$who" severed && { kept "$who in group severed"; return 0; }
    act "$who joins group severed (log in again to use it)" -- usermod -a -G severed "$who"
}

set_owner() {  # set_owner PATH: owned by severed:severed
    local target=$1
    if ! staged && [ -e "$target" ] && [ "$(stat -c %U:%G "$target")" = "severed:severed" ]; then
        kept "$target owned by severed"
        return 0
    fi
    act "$target owned by severed" -- chown severed:severed "$target"
}

# --- 3. the venv ---------------------------------------------------------------------
source_hash() {
    (cd "$source_dir" && find setup.cfg setup.py pyproject.toml src -type f \
        ! -path '*/__pycache__/*' ! -path '*.egg-info/*' ! -name '*.pyc' ! -name '*.so' \
        -print0 2>/dev/null |
        sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

make_venv() {
    if [ "$no_venv" -eq 1 ]; then
        kept "venv $VENV (skipped: --no-venv)"
        NOTES+=("venv not built (--no-venv): build it with install.sh on the target")
        return 0
    fi
    local stamp_want
    stamp_want="$(source_hash) pi=$is_pi pi5=$pi5"
    if staged; then
        act "venv $VENV" -- /usr/bin/python3 -m venv --system-site-packages "$VENV"
        # The path is this machine's checkout: copy it to the target, or run install.sh
        # inside the image (chroot), where the venv is built for real.
        act "severed into the venv" -- "$VENV/bin/pip" install --no-build-isolation \
            --no-input "$source_dir"
        return 0
    fi
    if [ -f "$VENV/.severed-source" ] && [ "$(cat "$VENV/.severed-source")" = "$stamp_want" ]; then
        kept "venv $VENV (severed up to date)"
        return 0
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        act "venv $VENV (sees apt's numpy, pyaudio, gpiozero, lgpio)" -- \
            "$SYSTEM_PYTHON" -m venv --system-site-packages "$VENV"
    fi
    # pip takes from PyPI only what apt did not provide (the venv sees apt's packages).
    local pip=("$VENV/bin/pip" install --no-input --disable-pip-version-check --no-build-isolation)
    [ -n "$offline" ] && pip+=(--no-index --find-links "$offline/wheels")
    if [ "$DRY_RUN" -eq 1 ]; then
        changed "severed into $VENV (would run: ${pip[*]} $source_dir)"
        return 0
    fi
    "${pip[@]}" "$source_dir" || die "pip could not install severed into $VENV (see above)"
    changed "severed installed into $VENV"
    gpio_into_venv
    printf '%s\n' "$stamp_want" >"$VENV/.severed-source"
}

# lgpio where apt had none (plain Debian), on its own: a failure here never costs the
# install, and RPi.GPIO is never fetched from PyPI (source only: it needs a compiler,
# and it cannot drive a Pi 5).
gpio_into_venv() {
    [ "$is_pi" -eq 1 ] || return 0
    local py="$VENV/bin/python"
    if [ "$pi5" -eq 1 ] && ! "$py" -c 'import importlib.metadata as m, sys
sys.exit(int(m.version("gpiozero").split(".")[0]) < 2)' 2>/dev/null; then
        # gpiozero 1.x does not know the Pi 5's board.
        if "${pip[@]}" "gpiozero>=2"; then changed "gpiozero 2 into $VENV (a Pi 5 needs it)"
        else warn "a Pi 5 needs gpiozero >= 2 and pip could not install it: sensors will not open"; fi
    fi
    "$py" -c 'import lgpio' 2>/dev/null && return 0
    if "${pip[@]}" "lgpio>=0.2"; then
        changed "lgpio into $VENV (no python3-lgpio in apt)"
    else
        warn "no lgpio (no python3-lgpio in apt, and pip could not install it): gpiozero falls back to RPi.GPIO on a Pi 1-4, and a Pi 5's sensors will not open"
    fi
}

# Log where each of severed's Python dependencies comes from (apt or PyPI).
venv_sources() {
    [ "$no_venv" -eq 0 ] && ! staged && [ -x "$VENV/bin/python" ] || return 0
    local line
    while IFS= read -r line; do
        case "$line" in
            apt:*) say "from apt: ${line#apt: }" ;;
            pypi:*) say "from PyPI: ${line#pypi: }$([ -n "$offline" ] && echo " (the bundle's wheels)")" ;;
            *) say "from elsewhere: $line" ;;
        esac
    done < <("$VENV/bin/python" "$here/lib/venv_sources.py")
}

command_link() {
    # `severed` on every technician's PATH, without activating the venv.
    [ "$no_venv" -eq 1 ] && return 0
    ensure_link /usr/local/bin/severed "$VENV/bin/severed"
}

install_docs() {
    # The unit's Documentation= points here: the guides stay readable on site, offline.
    local f
    for f in "$source_dir"/docs/*.md "$source_dir"/hardware/*.md "$source_dir"/hardware/*.svg; do
        [ -f "$f" ] || continue
        case "$f" in
            "$source_dir"/hardware/*) put_file "/opt/severed/docs/hardware/${f##*/}" "$f" 0644 ;;
            *) put_file "/opt/severed/docs/${f##*/}" "$f" 0644 ;;
        esac
    done
}

# --- 4. site config ------------------------------------------------------------------
site_config() {
    if [ -f "$(p "$SITE_CONFIG")" ]; then
        kept "$SITE_CONFIG (kept as it is)"
        local named
        named=$(sed -n 's/^[[:space:]]*dac[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' \
            "$(p "$SITE_CONFIG")" | head -n1)
        if [ -z "$named" ]; then
            NOTES+=("$SITE_CONFIG names no DAC: add dac = \"$dac\" under [audio], then severed check $SITE_CONFIG tells whether a sensor is on a pin the board takes")
        elif [ "$named" != "$dac" ]; then
            NOTES+=("$SITE_CONFIG says dac = \"$named\", but this install is for $dac: set dac = \"$dac\" there and run severed check $SITE_CONFIG (the new board may take a sensor's pin)")
        fi
        return 0
    fi
    if ! render_site_config >"$work/severed.toml" 2>"$work/site.err"; then
        die "cannot write $SITE_CONFIG for the $dac DAC: $(cat "$work/site.err")"
    fi
    put_file "$SITE_CONFIG" "$work/severed.toml" 0644
    # A board that takes a default sensor pin: the technician must wire it elsewhere.
    local move
    while IFS= read -r move; do
        case "$move" in moved:*) NOTES+=("WIRING: sensor ${move#moved: }") ;; esac
    done <"$work/site.err"
    NOTES+=("edit $SITE_CONFIG for this site (pins, mains_hz, opening hours); it names the DAC: dac = \"$dac\"")
}

# --- 5. config.txt -------------------------------------------------------------------
boot_config() {
    if [ -z "$config_txt" ]; then
        say "no config.txt (not a Raspberry Pi image): boot settings skipped"
        kept "config.txt (none on this system)"
        return 0
    fi
    local current new
    current=$(p "$config_txt")
    new="$work/config.txt"
    if ! render_config_txt >"$new" 2>"$work/config.err"; then
        die "$(cat "$work/config.err")"
    fi
    while IFS= read -r line; do warn "${line#warning: }"; done <"$work/config.err"
    if cmp -s "$new" "$current"; then
        kept "$config_txt"
        return 0
    fi
    local backup="$config_txt.severed-backup"
    if [ ! -f "$(p "$backup")" ]; then
        [ "$DRY_RUN" -eq 1 ] || cp -p "$current" "$(p "$backup")"
        changed "backed up $config_txt to $backup"
    fi
    if [ "$DRY_RUN" -eq 1 ]; then
        diff -u "$current" "$new" | sed 's/^/    /' || true
    fi
    put_file "$config_txt" "$new" "$(stat -c %a "$current")"
    REBOOT_REASONS+=("$config_txt changed")
}

show_quirks() {
    local quirk card
    while IFS= read -r quirk; do
        [ -n "$quirk" ] && NOTES+=("$dac: $quirk")
    done < <(bootconfig dac "$DACS_TOML" "$dac" quirks)
    card=$(bootconfig dac "$DACS_TOML" "$dac" card_id)
    if [ -n "$card" ]; then
        NOTES+=("after the reboot the DAC is ALSA card '$card' (aplay -l); [audio] device = \"default\" plays on it while it is the only card, device = \"plughw:CARD=$card\" names it")
    fi
}

# --- 6. systemd ----------------------------------------------------------------------
enable_unit() {
    local source="$source_dir/systemd/severed.service"
    [ -f "$source" ] || die "$source is missing from the checkout"
    local before=${#CHANGED[@]}
    put_file "$UNIT" "$source" 0644
    local unit_changed=$(( ${#CHANGED[@]} > before ))
    local target
    target=$(sed -n 's/^WantedBy=\([^ ]*\).*/\1/p' "$source" | head -n1)
    target=${target:-multi-user.target}
    if systemd_live; then
        [ "$unit_changed" -eq 1 ] && act "systemd reloaded" -- systemctl daemon-reload
        if [ "$(systemctl is-enabled severed.service 2>/dev/null || true)" = enabled ]; then
            kept "severed.service enabled"
        else
            act "severed.service enabled (starts at every boot)" -- systemctl enable severed.service
        fi
    else
        # No running systemd (staged root, chroot, image build): enabling is a symlink.
        ensure_link "/etc/systemd/system/$target.wants/severed.service" "$UNIT"
    fi
}

journald() {
    local before=${#CHANGED[@]}
    put_file "$JOURNALD_CONF" "$here/journald-severed.conf" 0644
    if [ ${#CHANGED[@]} -gt "$before" ]; then
        NOTES+=("severed logs to its own journal (namespace severed), kept in RAM; the rest of the system logs as before. Read it with: severed logs (or journalctl --namespace=severed)")
        if systemd_live; then
            act "journal namespace severed restarted with its settings" -- \
                systemctl try-restart systemd-journald@severed.service
        fi
    fi
    # Earlier installs kept the whole system's journal in RAM: give it back its settings.
    local old
    old=$(p "$OLD_JOURNALD_DROPIN")
    if [ -f "$old" ] && head -n1 "$old" | grep -q "^# Installed by severed's install.sh"; then
        remove_path "$OLD_JOURNALD_DROPIN"
        NOTES+=("$OLD_JOURNALD_DROPIN removed: the system's journal is stored as the system says again (from the next boot)")
    fi
}

# --- 7. precompute -------------------------------------------------------------------
precompute() {
    local severed="$VENV/bin/severed"
    local run=(runuser -u severed -- env HOME=/var/lib/severed "$severed" precompute)
    if staged; then
        act "precompute the sound cache" -- "${run[@]}"
        return 0
    fi
    if [ ! -x "$severed" ]; then
        say "no $severed yet: precompute skipped"
        return 0
    fi
    local help
    if ! help=$("$severed" precompute --help 2>&1); then
        say "this severed has no 'precompute' command yet: skipped"
        return 0
    fi
    if [[ "$help" == *--config* ]]; then run+=(--config "$SITE_CONFIG"); fi
    if [ "$DRY_RUN" -eq 1 ]; then
        changed "sound cache (would run: ${run[*]})"
        return 0
    fi
    # Precompute is itself incremental (content-hashed): a second run does little.
    # A sound it cannot make would be silence in the show: that fails the install.
    if "${run[@]}" 2>"$work/precompute.err"; then
        kept "sound cache (precompute ran)"
        return 0
    fi
    cat "$work/precompute.err" >&2
    local line
    while IFS= read -r line; do
        PRECOMPUTE_FAILED+=("$line")
    done < <(sed -n 's/^severed: error: //p' "$work/precompute.err")
    [ ${#PRECOMPUTE_FAILED[@]} -gt 0 ] || PRECOMPUTE_FAILED=("severed precompute exited non-zero (see above)")
}
PRECOMPUTE_FAILED=()

# --- 8. read-only root ---------------------------------------------------------------
read_only_root() {
    [ "$read_only" -eq 1 ] || return 0
    local cmdline="${config_txt%config.txt}cmdline.txt"
    if [ -n "$config_txt" ] && grep -qs 'overlayroot=tmpfs' "$(p "$cmdline")"; then
        kept "read-only root (already on in $cmdline)"
        return 0
    fi
    if ! staged && ! command -v raspi-config >/dev/null; then
        warn "--read-only needs raspi-config (Raspberry Pi OS): skipped"
        return 0
    fi
    if staged || ! apt_installed overlayroot; then
        act "package overlayroot (the read-only root)" -- \
            apt-get install -y --no-install-recommends overlayroot
    fi
    act "read-only root overlay" -- raspi-config nonint do_overlayfs 0
    REBOOT_REASONS+=("read-only root")
    NOTES+=("to change anything later: sudo raspi-config nonint do_overlayfs 1, reboot, change, then enable it again")
}

write_state() {
    printf 'dac=%s\n' "$dac" >"$work/state"
    local g
    for g in "${created_groups[@]}"; do printf 'created_group=%s\n' "$g" >>"$work/state"; done
    put_file "$STATE_FILE" "$work/state" 0644
}

# --- run -----------------------------------------------------------------------------
ensure_dir /var/lib/severed 0750
install_packages
make_user
add_technician
set_owner /var/lib/severed
ensure_dir /var/cache/severed 0755
set_owner /var/cache/severed
ensure_dir /etc/severed 0755
make_venv
venv_sources
command_link
install_docs
site_config
boot_config
show_quirks
journald
enable_unit
write_state
precompute
read_only_root

if systemd_live && [ ${#REBOOT_REASONS[@]} -eq 0 ] && [ ${#CHANGED[@]} -gt 0 ]; then
    act "severed restarted with the new installation" -- systemctl restart severed.service
fi
if staged && [ "$DRY_RUN" -eq 0 ]; then
    NOTES+=("staged install: run the commands in ${ACTIONS_LOG#"$ROOT"} on the target (or run install.sh there)")
fi
print_summary "severed install ($dac)"
if [ ${#PRECOMPUTE_FAILED[@]} -gt 0 ]; then
    printf '%s: error: the install is not complete: %d sound(s) of the show could not be made, and would be silent:\n' \
        "$SCRIPT_NAME" "${#PRECOMPUTE_FAILED[@]}" >&2
    printf '  - %s\n' "${PRECOMPUTE_FAILED[@]}" >&2
    printf '%s: fix the cause and run install.sh again (it redoes only what is missing)\n' "$SCRIPT_NAME" >&2
    exit 1
fi
