#!/usr/bin/env bash
# Make everything severed's install needs, for a Pi that has no internet, on a machine
# that has it (a laptop with Debian or Ubuntu: apt, python3-pip, and dpkg-dev or
# apt-utils). The bundle holds the apt packages for the target's release and ABI with
# their dependencies, the wheels pip would fetch, and this checkout. Copy it to a USB
# stick; on the Pi:
#
#   installation/offline-bundle.sh --arch armhf --suite bookworm /media/usb/severed-bundle
#   sudo /media/usb/severed-bundle/severed/installation/install.sh \
#       --offline /media/usb/severed-bundle --dac hifiberry-dac
#
# Options:
#   --arch ABI      the Pi's Debian architecture: armhf (32-bit Pi OS) or arm64 (default
#                   armhf; also i386, amd64 for tests)
#   --suite NAME    its release: bookworm or trixie (default bookworm)
#   --source LINE   an apt source to take packages from, as in sources.list without
#                   "deb" (repeatable). Default: the Debian archive for the suite. For
#                   Raspberry Pi OS give its archives (32-bit: raspbian.raspberrypi.com
#                   and archive.raspberrypi.com), with --keyring for each
#   --keyring FILE  a keyring that signs those sources (repeatable; default: Debian's)
#   -h, --help      this text
#
# What goes in: the packages install.sh asks apt for (installation/lib/packages.sh)
# with every dependency (a package the Pi already has at the same or a newer version is
# left alone there), a flat apt repository index over them, and wheels of lgpio and
# gpiozero 2 for the target's Python, for systems whose archive lacks them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$here/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/packages.sh
. "$here/lib/packages.sh"

arch=armhf
suite=bookworm
sources=()
keyrings=()
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) arch=${2:?--arch needs an ABI}; shift 2 ;;
        --suite) suite=${2:?--suite needs a release name}; shift 2 ;;
        --source) sources+=("${2:?--source needs a line}"); shift 2 ;;
        --keyring) keyrings+=("${2:?--keyring needs a file}"); shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) usage >&2; die "unknown option: $1" ;;
        *) break ;;
    esac
done
[ $# -eq 1 ] || { usage >&2; die "say where the bundle goes: offline-bundle.sh [options] DIR"; }
out=$1

# The target's Python and C library, for the wheels' tags.
case "$suite" in
    bookworm) py=3.11 glibc=36 ;;
    trixie) py=3.13 glibc=41 ;;
    *) die "unknown suite $suite (bookworm or trixie)" ;;
esac
case "$arch" in
    armhf) machines=(armv7l) ;;
    arm64) machines=(aarch64) ;;
    i386) machines=(i686) ;;
    amd64) machines=(x86_64) ;;
    *) die "unknown ABI $arch (armhf, arm64)" ;;
esac
command -v apt-get >/dev/null || die "apt-get is needed (a Debian or Ubuntu machine)"
python3 -m pip --version >/dev/null 2>&1 || die "pip is needed: apt-get install python3-pip"
if command -v apt-ftparchive >/dev/null; then index=(apt-ftparchive packages .)
elif command -v dpkg-scanpackages >/dev/null; then index=(dpkg-scanpackages --multiversion .)
else die "apt-ftparchive or dpkg-scanpackages is needed: apt-get install apt-utils"; fi
if [ ${#sources[@]} -eq 0 ]; then
    sources=("http://deb.debian.org/debian $suite main")
    [ ${#keyrings[@]} -gt 0 ] || keyrings=(/usr/share/keyrings/debian-archive-keyring.gpg)
fi
for k in "${keyrings[@]}"; do [ -r "$k" ] || die "--keyring $k: cannot read it"; done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out/debs" "$out/wheels" "$work/parts" "$work/trusted" "$work/state/lists/partial" \
    "$work/cache/archives/partial"
: >"$work/status"
for k in "${keyrings[@]}"; do cp "$k" "$work/trusted/"; done
for line in "${sources[@]}"; do printf 'deb [arch=%s] %s\n' "$arch" "$line"; done >"$work/sources.list"
# apt of this machine, pointed at the target's archive and ABI, with an empty list of
# installed packages: it downloads each package with all its dependencies.
apt_target=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/parts"
            -o "Dir::Etc::Preferences=$work/none" -o "Dir::Etc::PreferencesParts=$work/parts"
            -o "Dir::Etc::TrustedParts=$work/trusted" -o "Dir::State=$work/state"
            -o "Dir::State::status=$work/status" -o "Dir::Cache=$work/cache"
            -o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
            -o "Debug::NoLocking=1" -o "APT::Get::Download-Only=true")
say "apt lists of ${sources[*]} for $arch"
apt-get "${apt_target[@]}" update -qq || die "apt-get update failed for the target's sources"

available() { apt-cache "${apt_target[@]}" show --no-all-versions "$1" >/dev/null 2>&1; }
wanted=("${APT_PACKAGES[@]}" "${COMPILER_PACKAGES[@]}")
for p in "${GPIO_PACKAGES[@]}"; do
    # python3-rpi-lgpio and python3-rpi.gpio conflict: the bundle takes the one the
    # release's install.sh would (rpi-lgpio where it exists).
    [ "$p" = python3-rpi.gpio ] && [[ " ${wanted[*]} " == *" python3-rpi-lgpio "* ]] && continue
    if available "$p"; then wanted+=("$p"); else say "not in the target's archive: $p (pip's wheel instead)"; fi
done
say "downloading ${wanted[*]} with their dependencies"
apt-get "${apt_target[@]}" install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null ||
    die "apt could not download the packages for $arch"
cp "$work/cache/archives/"*.deb "$out/debs/"
(cd "$out/debs" && "${index[@]}" >Packages 2>/dev/null && gzip -9kf Packages)

# Wheels for what the archive may lack: lgpio (plain Debian), gpiozero 2 (a Pi 5 on a
# release whose python3-gpiozero is 1.x).
platforms=()
for m in "${machines[@]}"; do
    platforms+=(--platform "linux_$m")
    for v in $(seq 17 "$glibc"); do platforms+=(--platform "manylinux_2_${v}_$m"); done
done
say "wheels for CPython $py on ${machines[*]}"
python3 -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
    --implementation cp --python-version "$py" "${platforms[@]}" -d "$out/wheels" \
    "lgpio>=0.2" "gpiozero>=2" || die "pip could not download the wheels"

# The checkout itself, so the bundle is all a Pi needs.
source_dir=$(cd "$here/.." && pwd)
rm -rf "$out/severed"
mkdir -p "$out/severed"
if git -C "$source_dir" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$source_dir" && git ls-files -z --cached --others --exclude-standard |
        tar --null -T - -cf -) | tar -C "$out/severed" -xf -
else
    cp -a "$source_dir/." "$out/severed/"
fi

wheel_names() { find "$out/wheels" -name '*.whl' -printf '%f ' | sed 's/ $//'; }
{
    printf 'suite=%s\narch=%s\npython=%s\nmade=%s\n' "$suite" "$arch" "$py" "$(date -u +%FT%TZ)"
    printf 'source=%s\n' "${sources[@]}"
    printf 'packages=%s\n' "${wanted[*]}"
    printf 'debs=%s\n' "$(find "$out/debs" -name '*.deb' | wc -l)"
    printf 'wheels=%s\n' "$(wheel_names)"
} >"$out/bundle.info"
say "bundle for $suite $arch in $out ($(du -sh "$out" | cut -f1)): $(find "$out/debs" -name '*.deb' | wc -l) apt packages; wheels: $(wheel_names)"
