# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this
# Shared by the system-test scripts: where things live and small helpers.
# Source it; it sets no shell options of its own.

SYSTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SYSTEST_DIR/../.." && pwd)
# Kept between runs: the debootstrapped base (minutes to build), pip's downloads, the
# ssh key. Delete it to start from scratch.
CACHE_DIR=${SEVERED_SYSTEST_CACHE:-/var/cache/severed-system-test}
# This run's image, logs and recordings.
WORK_DIR=${SEVERED_SYSTEST_WORK:-/var/tmp/severed-system-test}
SUITE=bookworm

# What the base image holds besides debootstrap's minimal system: a kernel and init,
# sshd (the test talks to the VM over ssh), ALSA tools (arecord on the loopback), and
# the Debian packages install.sh asks for, so its apt step finds them in place.
BASE_PACKAGES=(
    linux-image-amd64 systemd-sysv udev kmod dbus openssh-server iproute2 procps
    alsa-utils python3 python3-venv python3-setuptools python3-wheel
    python3-numpy python3-pyaudio python3-systemd python3-gpiozero
    ca-certificates
)

ts() { date -u +%H:%M:%S; }
log() { printf '[%s] system-test: %s\n' "$(ts)" "$*" >&2; }
die() { printf '[%s] system-test: error: %s\n' "$(ts)" "$*" >&2; exit 1; }

# The Debian mirror this machine's apt uses (deb822 or one-line sources), so
# debootstrap fetches from the same place as apt-get.
debian_mirror() {
    local uri
    uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
          awk '{print $2}' | grep -v security | head -n1)
    if [ -z "$uri" ]; then
        uri=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
              awk '$0 !~ /security/ && $0 ~ /debian/ {print $2; exit}')
    fi
    printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

base_key() {
    printf '%s\n' "$SUITE" "$(debian_mirror)" "${BASE_PACKAGES[@]}" | sha256sum | cut -c1-12
}

# --- roots of other ABIs (abi-root.sh, abi-test.sh) ---------------------------------
# Raspberry Pi OS Lite's base as far as severed cares (python3, sudo, certificates),
# plus the tools the tests run with. Not numpy, pyaudio or gpiozero: install.sh
# fetches those, as on a fresh Pi. gcc and python3-dev are there for the compiled
# engine core, which pip builds from source inside the root.
ABI_ROOT_PACKAGES=(
    python3 python3-venv ca-certificates sudo procps
    python3-pytest python3-hypothesis python3-scipy
)

# Can this machine execute ARCH's binaries (natively, or through binfmt_misc + qemu)?
abi_can_run() {
    local arch=$1
    case "$(dpkg --print-architecture):$arch" in
        amd64:amd64|amd64:i386|arm64:arm64|arm64:armhf|armhf:armhf) return 0 ;;
    esac
    local name
    case "$arch" in
        armhf) name=qemu-arm ;;
        arm64) name=qemu-aarch64 ;;
        *) return 1 ;;
    esac
    [ -f "/proc/sys/fs/binfmt_misc/$name" ] && grep -qx enabled "/proc/sys/fs/binfmt_misc/$name"
}

abi_run_hint() {
    printf '%s' "apt-get install qemu-user-static binfmt-support; mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable"
}

abi_root_key() {
    printf '%s\n' "$2" "$1" "$(debian_mirror)" "${ABI_ROOT_PACKAGES[@]}" abi-root-v1 |
        sha256sum | cut -c1-12
}
