#!/usr/bin/env bash
# Set up a development checkout of severed on Debian or Raspberry Pi OS, then run
# one of its jobs. Safe to run again: each step is skipped when already done.
#
#   installation/dev.sh run [ARGS...]   the daemon with simulated sensors (severed run --simulate)
#   installation/dev.sh test [ARGS...]  the test suite (pytest)
#   installation/dev.sh setup           only the set-up
#
# System packages come from apt (PortAudio and libsystemd headers to build pyaudio and
# systemd-python); everything Python goes into .venv beside this checkout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$here/.venv"
apt_packages=(python3 python3-venv python3-dev gcc pkg-config portaudio19-dev libsystemd-dev alsa-utils
              mosquitto mosquitto-clients
              # tests that need them are skipped without: stem decoding, shell scripts
              sox shellcheck)

say() { printf 'dev.sh: %s\n' "$*" >&2; }

install_system_packages() {
    local missing=()
    for p in "${apt_packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    say "installing system packages: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

make_venv() {
    local stamp="$venv/.installed"
    # Reinstall when the package's declaration or its compiled core changed: the
    # editable install builds the C kernels in place, once per install.
    if [ -f "$stamp" ] && [ "$stamp" -nt "$here/setup.cfg" ] && [ "$stamp" -nt "$here/setup.py" ] &&
        [ -z "$(find "$here/src/severed/engine/kernels" -newer "$stamp" -print -quit)" ]; then
        return 0
    fi
    say "creating $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -e "${here}[dev]"
    touch "$stamp"
}

# The daemon renders what the cache lacks when it starts: on a first run that was 36
# warnings and seconds of silence. Render it here once, with one progress bar, and
# again only when the shows, instruments or recipes change.
precompute() {
    local stamp="$venv/.precomputed" cache=${SEVERED_CACHE:-$HOME/.cache/severed}
    if [ -f "$stamp" ] && [ -d "$cache" ] && [ -z "$(find "$here/src/severed/shows" \
        "$here/src/severed/instruments" "$here/src/severed/precompute" \
        "$here/src/severed/data" -newer "$stamp" -print -quit)" ]; then
        return 0
    fi
    say "rendering the default show's sounds into $cache (once)"
    if "$venv/bin/severed" precompute; then
        touch "$stamp"
    else
        say "precompute failed: the daemon renders what is missing when it starts"
    fi
}

setup() {
    if command -v apt-get >/dev/null; then install_system_packages; fi
    make_venv
}

job=${1:-}
[ $# -gt 0 ] && shift
case "$job" in
    setup)
        setup
        precompute ;;
    run)
        setup
        precompute
        exec "$venv/bin/severed" run --simulate "$@" ;;
    test)
        setup
        cd "$here"
        exec "$venv/bin/python" -m pytest "$@" ;;
    *)
        sed -n '2,10p' "$0" >&2
        exit 2 ;;
esac
