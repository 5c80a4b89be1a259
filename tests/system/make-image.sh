#!/usr/bin/env bash
# Make the bootable disk image for the system test from the cached base rootfs:
# install this checkout with installation/install.sh run for real inside a chroot
# (--dac none), add the snd-aloop loopback card as the "sound card", point the site
# config at its playback side with mock pins, let root in over ssh with a key made
# for the test, and pack it all into an ext4 image (mkfs.ext4 -d: no loop device).
#
#   tests/system/make-image.sh          -> $WORK_DIR/{disk.img,vmlinuz,initrd.img}
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" -eq 0 ] || die "run as root (chroot and mkfs need it)"
tarball=$("$SYSTEST_DIR/build-rootfs.sh")
rootfs="$WORK_DIR/rootfs"
image="$WORK_DIR/disk.img"
IMAGE_SIZE=${SEVERED_SYSTEST_IMAGE_SIZE:-4G}

mounted=()
cleanup() {
    local m i
    for (( i=${#mounted[@]}-1; i>=0; i-- )); do
        m=${mounted[$i]}
        umount -l "$m" 2>/dev/null || true
    done
}
trap cleanup EXIT
bind() {  # bind SRC DEST
    mkdir -p "$2"
    mount --bind "$1" "$2"
    mounted+=("$2")
}

mkdir -p "$WORK_DIR"
rm -rf "$rootfs"
mkdir -p "$rootfs"
log "unpacking base rootfs"
tar -C "$rootfs" --numeric-owner -xf "$tarball"

# --- the checkout, as the technician would clone it --------------------------------
src=/opt/severed/src
mkdir -p "$rootfs$src"
(cd "$REPO_DIR" && tar --exclude=.git --exclude=.venv --exclude='__pycache__' \
    --exclude='*.egg-info' --exclude=build --exclude=.pytest_cache --exclude=.hypothesis \
    -cf - .) | tar -C "$rootfs$src" -xf -
mkdir -p "$rootfs/opt/severed-systest"
# Files only: a __pycache__ left by a local import must not stop the build.
find "$SYSTEST_DIR/guest" -maxdepth 1 -type f -exec cp {} "$rootfs/opt/severed-systest/" \;

# --- install.sh inside the chroot, for real ------------------------------------------
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
mount -t proc proc "$rootfs/proc"; mounted+=("$rootfs/proc")
mount -t sysfs sys "$rootfs/sys"; mounted+=("$rootfs/sys")
bind /dev "$rootfs/dev"
bind /dev/pts "$rootfs/dev/pts"
mkdir -p "$CACHE_DIR/pip"
bind "$CACHE_DIR/pip" "$rootfs/root/.cache/pip"
# pip inside the chroot fetches from PyPI through this machine's network: give it this
# machine's CA bundle (which may hold a local proxy's CA), for the install step only.
host_ca=/etc/ssl/certs/ca-certificates.crt
pip_env=()
if [ -f "$host_ca" ]; then
    cp "$host_ca" "$rootfs/tmp/host-ca.crt"
    pip_env=(PIP_CERT=/tmp/host-ca.crt)
fi
# Plain Debian has no gpio group (Raspberry Pi OS has). severed.service asks for
# SupplementaryGroups=audio gpio, and systemd refuses to start it without the group
# (status=216/GROUP, ten times, then the unit is dead). Create it as the Pi has it, so
# the other checks can run; SEVERED_SYSTEST_GPIO_GROUP=0 builds the image without it
# and shows that failure.
if [ "${SEVERED_SYSTEST_GPIO_GROUP:-1}" = 1 ] && ! grep -q '^gpio:' "$rootfs/etc/group"; then
    log "adding the gpio group Raspberry Pi OS has (plain Debian lacks it)"
    chroot "$rootfs" groupadd --system gpio
fi
log "running installation/install.sh --dac none inside the chroot"
start=$(date +%s)
if ! chroot "$rootfs" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 "${pip_env[@]}" bash "$src/installation/install.sh" --dac none \
        >"$WORK_DIR/install.log" 2>&1; then
    tail -n 40 "$WORK_DIR/install.log" >&2
    die "install.sh failed inside the chroot (log: $WORK_DIR/install.log)"
fi
log "install.sh done in $(( $(date +%s) - start )) s (log: $WORK_DIR/install.log)"

# --- the site: loopback card, mock pins, always open ---------------------------------
# pcm_substreams=1: one substream, so the daemon's hw:Loopback,0 and the test's
# hw:Loopback,1 are certainly the two ends of the same cable.
echo snd-aloop >"$rootfs/etc/modules-load.d/severed-systest.conf"
echo 'options snd-aloop index=0 id=Loopback pcm_substreams=1' \
    >"$rootfs/etc/modprobe.d/severed-systest.conf"
python3 "$SYSTEST_DIR/site_config.py" "$REPO_DIR/installation/severed.toml" \
    >"$rootfs/etc/severed/severed.toml"
chroot "$rootfs" /opt/severed/venv/bin/severed check /etc/severed/severed.toml \
    >"$WORK_DIR/check.log" 2>&1 || { cat "$WORK_DIR/check.log" >&2; die "site config does not pass severed check"; }

# --- boot, network, ssh ----------------------------------------------------------------
echo severed-vm >"$rootfs/etc/hostname"
printf '127.0.1.1 severed-vm\n' >>"$rootfs/etc/hosts"
printf '/dev/vda / ext4 defaults,errors=remount-ro 0 1\n' >"$rootfs/etc/fstab"
cat >"$rootfs/etc/systemd/network/10-eth.network" <<'NET'
[Match]
Name=eth* en*
[Network]
DHCP=ipv4
NET
chroot "$rootfs" systemctl enable systemd-networkd.service >/dev/null 2>&1
chroot "$rootfs" systemctl mask systemd-networkd-wait-online.service apt-daily.timer \
    apt-daily-upgrade.timer >/dev/null 2>&1 || true
mkdir -p "$CACHE_DIR/ssh"
[ -f "$CACHE_DIR/ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C severed-systest \
    -f "$CACHE_DIR/ssh/id_ed25519"
install -d -m 0700 "$rootfs/root/.ssh"
install -m 0600 "$CACHE_DIR/ssh/id_ed25519.pub" "$rootfs/root/.ssh/authorized_keys"
# No password for root on the serial console either: this image lives only in the test.
chroot "$rootfs" passwd -d root >/dev/null
rm -f "$rootfs/etc/resolv.conf" "$rootfs/tmp/host-ca.crt"

cleanup
mounted=()

kernel=$(find "$rootfs/boot" -name 'vmlinuz-*' | sort -V | tail -n1)
initrd=$(find "$rootfs/boot" -name 'initrd.img-*' | sort -V | tail -n1)
cp "$kernel" "$WORK_DIR/vmlinuz"
cp "$initrd" "$WORK_DIR/initrd.img"
log "packing $image ($IMAGE_SIZE, ext4)"
rm -f "$image"
mkfs.ext4 -q -F -L severed-root -d "$rootfs" "$image" "$IMAGE_SIZE"
rm -rf "$rootfs"
log "image ready: $image, kernel $(basename "$kernel")"
