#!/usr/bin/env bash
# Build (or reuse) the Debian 12 base root file system for the system test:
# debootstrap with a kernel, systemd, sshd, ALSA tools and the Python packages the
# installer wants. Cached as a tarball keyed by a hash of the package list, suite and
# mirror, so only the first run pays the few minutes it takes.
#
#   tests/system/build-rootfs.sh        prints the tarball's path
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and chroot need it)"
command -v debootstrap >/dev/null || die "debootstrap missing: apt-get install debootstrap"

key=$(base_key)
tarball="$CACHE_DIR/base-$SUITE-$key.tar"
if [ -f "$tarball" ]; then
    log "base rootfs cached: $tarball"
    printf '%s\n' "$tarball"
    exit 0
fi

mkdir -p "$CACHE_DIR"
build="$CACHE_DIR/build-$key"
rm -rf "$build"
mirror=$(debian_mirror)
log "debootstrap $SUITE from $mirror into $build (a few minutes)"
start=$(date +%s)
include=$(IFS=,; echo "${BASE_PACKAGES[*]}")
if ! debootstrap --variant=minbase --include="$include" "$SUITE" "$build" "$mirror" \
        >"$CACHE_DIR/debootstrap-$key.log" 2>&1; then
    tail -n 30 "$CACHE_DIR/debootstrap-$key.log" >&2
    die "debootstrap failed (log: $CACHE_DIR/debootstrap-$key.log)"
fi
# debootstrap leaves the apt lists of the mirror it used; keep sources.list pointing
# there so install.sh's apt step works inside the chroot.
printf 'deb %s %s main\n' "$mirror" "$SUITE" >"$build/etc/apt/sources.list"
rm -f "$build"/var/cache/apt/archives/*.deb
tar -C "$build" --numeric-owner -cf "$tarball.tmp" .
mv "$tarball.tmp" "$tarball"
rm -rf "$build"
log "base rootfs built in $(( $(date +%s) - start )) s: $tarball ($(du -h "$tarball" | cut -f1))"
printf '%s\n' "$tarball"
