#!/usr/bin/env bash
# Remove what install.sh put on this system: the service, the venv, the journal
# namespace's settings, the severed block in config.txt (and the ,noaudio it added; nothing else in
# config.txt is restored or touched) and the severed user. Keeps the site config
# (/etc/severed) and the sound cache (/var/cache/severed) unless --purge.
#
#   sudo installation/uninstall.sh [--purge]
#
# Options:
#   --purge       also remove /etc/severed, /var/cache/severed, /var/lib/severed,
#                 the config.txt backup install.sh made, and the gpio group if
#                 install.sh created it and nobody is left in it
#   --root DIR    uninstall from a staged tree; commands that change the live system are
#                 recorded in DIR/var/lib/severed/uninstall-actions.log instead of run
#   --dry-run     print what would change; change nothing
#   -h, --help    this text
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$here/lib/common.sh"

purge=0
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --purge) purge=1; shift ;;
        --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
        --root=*) ROOT=${1#*=}; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
done

if [ -n "$ROOT" ]; then
    [ -d "$ROOT" ] || die "--root: no such directory: $ROOT"
    ROOT=$(cd "$ROOT" && pwd)
    [ "$ROOT" = "/" ] && ROOT=""
fi
if ! staged && [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    die "run as root (sudo $0 ...), or look first with --dry-run"
fi
actions_log uninstall-actions.log
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

UNIT=/etc/systemd/system/severed.service
STATE_FILE=/var/lib/severed/install.state
# Groups install.sh created (it records them in its state file).
created_groups=()
while IFS= read -r g; do created_groups+=("$g"); done < <(sed -n 's/^created_group=//p' "$(p "$STATE_FILE")" 2>/dev/null)

stop_service() {
    if systemd_live; then
        if systemctl is-active -q severed.service 2>/dev/null; then
            act "severed.service stopped" -- systemctl stop severed.service
        fi
        if [ "$(systemctl is-enabled severed.service 2>/dev/null || true)" = enabled ]; then
            act "severed.service disabled" -- systemctl disable severed.service
        fi
    elif staged; then
        act "severed.service stopped and disabled" -- systemctl disable --now severed.service
    fi
    # Whatever target the unit named: remove every enable link pointing at it.
    local link
    while IFS= read -r link; do
        remove_path "${link#"$ROOT"}"
    done < <(find "$(p /etc/systemd/system)" -path '*.wants/severed.service' 2>/dev/null | sort)
    remove_path "$UNIT"
    prune_empty_dirs "$(p /etc/systemd/system)"/*.wants
    if systemd_live; then act "systemd reloaded" -- systemctl daemon-reload; fi
}

boot_config() {
    local config_txt
    config_txt=$(find_config_txt)
    if [ -z "$config_txt" ]; then
        kept "config.txt (none on this system)"
        return 0
    fi
    local current new="$work/config.txt"
    current=$(p "$config_txt")
    local python=/usr/bin/python3
    [ -x "$python" ] || python=python3
    "$python" "$here/lib/bootconfig.py" remove <"$current" >"$new" ||
        die "could not read the severed block in $config_txt: fix it by hand"
    if cmp -s "$new" "$current"; then
        kept "$config_txt (no severed lines)"
    else
        put_file "$config_txt" "$new" "$(stat -c %a "$current")"
        REBOOT_REASONS+=("$config_txt changed")
    fi
    if [ "$purge" -eq 1 ]; then remove_path "$config_txt.severed-backup"; fi
}

remove_user() {
    local exists=0
    if staged; then
        grep -qs '^severed:' "$(p /etc/passwd)" && exists=1
        # The user install.sh only recorded is removed by recording the opposite.
        grep -qs 'useradd .*severed$' "$(p /var/lib/severed/install-actions.log)" && exists=1
    else
        getent passwd severed >/dev/null && exists=1
    fi
    if [ "$exists" -eq 1 ]; then
        act "user severed removed" -- userdel severed
    else
        kept "user severed (already absent)"
    fi
    # userdel drops the user's own group only where USERGROUPS_ENAB is set: check after.
    if staged; then
        if grep -qs '^severed:' "$(p /etc/group)" ||
            grep -qs 'groupadd .*severed$' "$(p /var/lib/severed/install-actions.log)"; then
            act "group severed removed" -- sh -c 'if getent group severed >/dev/null; then groupdel severed; fi'
        fi
    elif getent group severed >/dev/null || { [ "$DRY_RUN" -eq 1 ] && [ "$exists" -eq 1 ]; }; then
        act "group severed removed" -- groupdel severed
    fi
}

# The gpio group install.sh made on a system without one (a dev machine, plain Debian):
# removed on --purge, but only while nobody else is in it.
remove_created_groups() {
    local g members
    for g in "${created_groups[@]}"; do
        [ "$g" = gpio ] || continue
        if staged; then
            # The group may exist only as a recorded groupadd: the target decides.
            act "group $g removed (install.sh made it), if it has no members" -- sh -c \
                "if getent group $g >/dev/null && [ -z \"\$(getent group $g | cut -d: -f4)\" ]; then groupdel $g; fi"
            continue
        fi
        getent group "$g" >/dev/null || { kept "group $g (already absent)"; continue; }
        members=$(group_members "$g")
        if [ -n "$members" ]; then
            kept "group $g (install.sh made it; still used by $members)"
            NOTES+=("kept the group $g install.sh made: $members still in it (groupdel $g when done)")
        else
            act "group $g removed (install.sh made it; no members left)" -- groupdel "$g"
        fi
    done
}

# Users in group $1, as a comma list: its listed members and users having it as primary
# group, without the severed user this run removes.
group_members() {
    local gid listed primary
    gid=$(getent group "$1" | cut -d: -f3)
    listed=$(getent group "$1" | cut -d: -f4 | tr ',' '\n')
    primary=$(getent passwd | awk -F: -v gid="$gid" '$4 == gid { print $1 }')
    printf '%s\n%s\n' "$listed" "$primary" | { grep -vx -e '' -e severed || true; } |
        sort -u | paste -sd, -
}

# Directories install.sh may have created, removed only when nothing else is left in them.
prune_empty_dirs() {
    local dir
    for dir in "$@"; do
        [ -d "$dir" ] || continue
        if [ "$DRY_RUN" -eq 0 ]; then rmdir --ignore-fail-on-non-empty "$dir"; fi
    done
}

stop_service
remove_path /etc/systemd/journald@severed.conf
# Left by installs before the journal namespace (only if it is that file).
if head -n1 "$(p /etc/systemd/journald.conf.d/severed.conf)" 2>/dev/null |
        grep -q "^# Installed by severed's install.sh"; then
    remove_path /etc/systemd/journald.conf.d/severed.conf
fi
prune_empty_dirs "$(p /etc/systemd/journald.conf.d)"
remove_path /usr/local/bin/severed
remove_path /opt/severed
boot_config
remove_user
remove_path /var/lib/severed/install-actions.log
if [ "$purge" -eq 0 ] && [ ${#created_groups[@]} -gt 0 ]; then
    # Keep the record of the groups install.sh made, for a later --purge (or install).
    printf 'created_group=%s\n' "${created_groups[@]}" >"$work/state"
    put_file "$STATE_FILE" "$work/state" 0644
else
    remove_path "$STATE_FILE"
fi
if [ "$purge" -eq 1 ]; then
    remove_created_groups
    remove_path /etc/severed
    remove_path /var/cache/severed
    # The staged record of this uninstall lives there too: keep only that file.
    if staged && [ "$DRY_RUN" -eq 0 ]; then
        find "$(p /var/lib/severed)" -mindepth 1 ! -name uninstall-actions.log -exec rm -rf {} + 2>/dev/null || true
    elif ! staged; then
        remove_path /var/lib/severed
    fi
else
    NOTES+=("kept /etc/severed (site config) and /var/cache/severed (sound cache): --purge removes them")
fi
print_summary "severed uninstall"
