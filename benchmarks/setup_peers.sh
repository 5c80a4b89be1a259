#!/usr/bin/env bash
# Install the peer engines bench_reference.py compares severed with (Debian / Raspberry
# Pi OS packages): Csound, Pure Data (with puredata-extra for rev3~), SuperCollider's
# scsynth, and GNU time. For benchmark machines only: CI and the Pi do not need them.
#
#   bash benchmarks/setup_peers.sh
set -euo pipefail
packages=(csound puredata-core puredata-extra supercollider-server time)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup_peers: all installed: ${packages[*]}"
    exit 0
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "setup_peers: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
