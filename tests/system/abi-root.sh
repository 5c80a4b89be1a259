#!/usr/bin/env bash
# Build (or reuse) a Debian root file system of another ABI for the ABI tests:
# i386 (32-bit x86, runs natively on x86_64) or armhf/arm64 (the Pi's ABIs, run under
# qemu-user emulation through binfmt_misc). Made to look like Raspberry Pi OS Lite: a
# `pi` user with sudo, a `gpio` group and a stock /boot/firmware/config.txt, so
# install.sh takes its Raspberry Pi path. Cached as a tarball keyed by a hash of the
# suite, ABI, mirror and package list: only the first run pays the debootstrap.
#
#   tests/system/abi-root.sh ARCH [SUITE]     prints the tarball's path
#
# What a Pi owner installs (numpy, pyaudio, ...) is NOT in the root: install.sh fetches
# it with apt, as on a fresh Pi OS. The root holds Pi OS Lite's base and the test tools
# (pytest, hypothesis, scipy), which are the tests' business, not the installer's.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

arch=${1:?usage: abi-root.sh ARCH [SUITE]}
suite=${2:-$SUITE}
[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and chroot need it)"
command -v debootstrap >/dev/null || die "debootstrap missing: apt-get install debootstrap"
abi_can_run "$arch" || die "this machine cannot run $arch binaries: $(abi_run_hint "$arch")"

key=$(abi_root_key "$arch" "$suite")
tarball="$CACHE_DIR/abi-$suite-$arch-$key.tar"
if [ -f "$tarball" ]; then
    log "$arch root cached: $tarball"
    printf '%s\n' "$tarball"
    exit 0
fi

mkdir -p "$CACHE_DIR"
build="$CACHE_DIR/build-abi-$suite-$arch-$key"
rm -rf "$build"
mirror=$(debian_mirror)
log "debootstrap $suite $arch from $mirror into $build (minutes; more under emulation)"
start=$(date +%s)
include=$(IFS=,; echo "${ABI_ROOT_PACKAGES[*]}")
if ! debootstrap --arch="$arch" --variant=minbase --include="$include" "$suite" "$build" \
        "$mirror" >"$CACHE_DIR/debootstrap-abi-$suite-$arch.log" 2>&1; then
    tail -n 30 "$CACHE_DIR/debootstrap-abi-$suite-$arch.log" >&2
    die "debootstrap failed (log: $CACHE_DIR/debootstrap-abi-$suite-$arch.log)"
fi
printf 'deb %s %s main\n' "$mirror" "$suite" >"$build/etc/apt/sources.list"
rm -f "$build"/var/cache/apt/archives/*.deb

# Raspberry Pi OS Lite's look: the first user `pi` (sudo), a `gpio` group that owns the
# GPIO devices, and a stock config.txt where Bookworm keeps it.
chroot "$build" groupadd --system gpio
chroot "$build" useradd --create-home --shell /bin/bash --groups sudo,audio,gpio pi
install -d "$build/boot/firmware"
cat >"$build/boot/firmware/config.txt" <<'EOF'
# For more options and information see
# http://rptl.io/configtxt
# Some settings may impact device functionality. See link above for details

# Uncomment some or all of these to enable the optional hardware interfaces
#dtparam=i2c_arm=on
#dtparam=i2s=on
#dtparam=spi=on

# Enable audio (loads snd_bcm2835)
dtparam=audio=on

# Automatically load overlays for detected cameras
camera_auto_detect=1

# Automatically load overlays for detected DSI displays
display_auto_detect=1

# Automatically load initramfs files, if found
auto_initramfs=1

# Enable DRM VC4 V3D driver
dtoverlay=vc4-kms-v3d
max_framebuffers=2

# Don't have the firmware create an initial video= setting in cmdline.txt.
# Use the kernel's default instead.
disable_fw_kms_setup=1

# Disable compensation for displays with overscan
disable_overscan=1

# Run as fast as firmware / CPU allows
arm_boost=1

[cm4]
# Enable host mode on the 2711 built-in XHCI USB controller.
# This line should be removed if the legacy DWC2 controller is required
# (e.g. for USB boot on Compute Module 4).
otg_mode=1

[all]
EOF
printf 'console=serial0,115200 console=tty1 root=PARTUUID=00000000-02 rootfstype=ext4 fsck.repair=yes rootwait\n' \
    >"$build/boot/firmware/cmdline.txt"

tar -C "$build" --numeric-owner -cf "$tarball.tmp" .
mv "$tarball.tmp" "$tarball"
rm -rf "$build"
log "$arch root built in $(( $(date +%s) - start )) s: $tarball ($(du -h "$tarball" | cut -f1))"
printf '%s\n' "$tarball"
