#!/usr/bin/env bash
# The boot-on-power system test: a Debian 12 VM with a real systemd, the project
# installed by installation/install.sh, and the snd-aloop loopback as its sound card.
# Takes minutes (the first run also debootstraps the base, cached afterwards); not run
# by pytest or CI. Needs root, debootstrap, qemu-system-x86, e2fsprogs, ssh.
#
#   sudo tests/system/run.sh                 build the image, boot it, run every check
#   sudo tests/system/run.sh --accel kvm     hardware virtualisation (default: tcg)
#   sudo tests/system/run.sh --only kill9,watchdog
#   sudo tests/system/run.sh --no-build      reuse the last image (WORK_DIR/disk.img)
#
# Figures and verdicts: stdout, and WORK_DIR/report.json (default
# /var/tmp/severed-system-test); the VM's serial consoles are WORK_DIR/console-N.log.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build=1
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=0; shift ;;
        --accel|--only|--cuts) args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "run as root: debootstrap, chroot and mkfs need it"
missing=()
for tool in debootstrap qemu-system-x86_64 mkfs.ext4 ssh ssh-keygen python3; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing what is missing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap qemu-system-x86 \
        qemu-utils e2fsprogs openssh-client python3 >/dev/null
fi

if [ "$build" -eq 1 ]; then
    start=$(date +%s)
    "$SYSTEST_DIR/make-image.sh"
    log "image built in $(( $(date +%s) - start )) s"
fi
[ -f "$WORK_DIR/disk.img" ] || die "no image at $WORK_DIR/disk.img: run without --no-build"
exec python3 "$SYSTEST_DIR/systest.py" --work "$WORK_DIR" --cache "$CACHE_DIR" "${args[@]}"
