# shellcheck shell=bash
# Shared by install.sh and uninstall.sh: where files go (--root), how changes are made
# (live, staged into a directory, or only printed with --dry-run), and the bookkeeping
# behind the final summary. Source it first thing; the caller then names its log of
# recorded commands with actions_log NAME.
#
# Every change goes through one of: put_file, ensure_dir, ensure_link, remove_path
# (files under ROOT) or act (a command that changes the live system). In a staged root
# (--root DIR) act does not run the command: it appends it to ACTIONS_LOG once, so a
# second run finds it there and counts it as already in place.

SCRIPT_NAME=${0##*/}  # install.sh, uninstall.sh: the prefix of every message
ROOT=""            # "" for the live system, else an absolute directory
DRY_RUN=0
ACTIONS_LOG=""     # set by actions_log, once ROOT is known
CHANGED=()         # what this run changed (or would change, with --dry-run)
KEPT=()            # what was already in place
NOTES=()           # things the technician must know or do
REBOOT_REASONS=()

say() { printf '%s: %s\n' "$SCRIPT_NAME" "$*"; }
warn() { printf '%s: warning: %s\n' "$SCRIPT_NAME" "$*" >&2; NOTES+=("$*"); }
die() { printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2; exit 1; }

# The path of a target file inside ROOT.
p() { printf '%s%s' "$ROOT" "$1"; }

staged() { [ -n "$ROOT" ]; }

# actions_log NAME: where act records commands in a staged root (after --root is read).
actions_log() { ACTIONS_LOG=$(p "/var/lib/severed/$1"); }

changed() { CHANGED+=("$*"); if [ "$DRY_RUN" -eq 1 ]; then say "would: $*"; else say "$*"; fi; }
kept() { KEPT+=("$*"); }

# act DESCRIPTION -- COMMAND...: run a command that changes the live system.
act() {
    local what=$1; shift
    [ "$1" = "--" ] && shift
    local line
    printf -v line '%q ' "$@"
    line=${line% }
    if staged; then
        if [ -f "$ACTIONS_LOG" ] && grep -qxF -- "$line" "$ACTIONS_LOG"; then
            kept "$what (already recorded)"
            return 0
        fi
        if [ "$DRY_RUN" -eq 0 ]; then
            mkdir -p "$(dirname "$ACTIONS_LOG")"
            printf '%s\n' "$line" >>"$ACTIONS_LOG"
        fi
        changed "$what (recorded)"
        return 0
    fi
    if [ "$DRY_RUN" -eq 1 ]; then
        changed "$what (would run: $line)"
        return 0
    fi
    changed "$what"
    "$@"
}

# put_file TARGET SOURCE_FILE MODE: make TARGET (a path on the target system) hold
# exactly the bytes of SOURCE_FILE, atomically (temp file beside it, then rename).
put_file() {
    local target=$1 source=$2 mode=$3
    local dest
    dest=$(p "$target")
    if [ -f "$dest" ] && cmp -s "$source" "$dest"; then
        if [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
            kept "$target"
            return 0
        fi
        [ "$DRY_RUN" -eq 1 ] || chmod "$mode" "$dest"
        changed "$target: mode set to $mode"
        return 0
    fi
    if [ "$DRY_RUN" -eq 0 ]; then
        local dir tmp stale
        dir=$(dirname "$dest")
        mkdir -p "$dir"
        # Temp files left by an earlier write that a power cut interrupted.
        for stale in "$dir/.${dest##*/}."??????; do
            [ -f "$stale" ] && rm -f -- "$stale"
        done
        tmp=$(mktemp "$dir/.${dest##*/}.XXXXXX")
        cat "$source" >"$tmp"
        chmod "$mode" "$tmp"
        sync -- "$tmp" 2>/dev/null || true
        mv -f "$tmp" "$dest"
        # The rename itself must reach the disk before we call the write done.
        sync -- "$dir" 2>/dev/null || true
    fi
    if [ -e "$dest" ] || [ "$DRY_RUN" -eq 1 ]; then
        changed "wrote $target"
    fi
}

ensure_dir() {
    local target=$1 mode=$2
    local dest
    dest=$(p "$target")
    if [ -d "$dest" ]; then
        kept "$target/"
        return 0
    fi
    [ "$DRY_RUN" -eq 1 ] || install -d -m "$mode" "$dest"
    changed "created $target/"
}

# ensure_link LINK TARGET: a symlink at LINK (inside ROOT) pointing at TARGET (as the
# target system sees it, so it stays right when the staged tree becomes /).
ensure_link() {
    local link=$1 target=$2
    local dest
    dest=$(p "$link")
    if [ -L "$dest" ] && [ "$(readlink "$dest")" = "$target" ]; then
        kept "$link -> $target"
        return 0
    fi
    if [ "$DRY_RUN" -eq 0 ]; then
        mkdir -p "$(dirname "$dest")"
        ln -sfn "$target" "$dest"
    fi
    changed "linked $link -> $target"
}

remove_path() {
    local target=$1
    local dest
    dest=$(p "$target")
    if [ ! -e "$dest" ] && [ ! -L "$dest" ]; then
        kept "$target (already absent)"
        return 0
    fi
    [ "$DRY_RUN" -eq 1 ] || rm -rf -- "$dest"
    changed "removed $target"
}

# The file holding boot settings on this release, or "" (not a Raspberry Pi image).
# Bookworm and later keep a stub /boot/config.txt that points at /boot/firmware.
find_config_txt() {
    if [ -f "$(p /boot/firmware/config.txt)" ]; then
        printf '/boot/firmware/config.txt'
    elif [ -f "$(p /boot/config.txt)" ] && ! grep -q '/boot/firmware' "$(p /boot/config.txt)"; then
        printf '/boot/config.txt'
    fi
}

# os_field KEY: a field of os-release on the target ("" when unknown).
os_field() {
    local file
    file=$(p /etc/os-release)
    [ -f "$file" ] || file=$(p /usr/lib/os-release)
    [ -f "$file" ] || return 0
    sed -n "s/^$1=//p" "$file" | head -n1 | tr -d '"'
}

# Is systemd running this system (not a chroot, container without systemd or image)?
systemd_live() {
    staged && return 1
    [ -d /run/systemd/system ] || return 1
    if command -v systemd-detect-virt >/dev/null && systemd-detect-virt -q --chroot; then
        return 1
    fi
    return 0
}

print_summary() {
    local title=$1
    echo
    echo "== $title =="
    if [ "$DRY_RUN" -eq 1 ]; then echo "dry run: nothing was changed."; fi
    local verb="changed"
    [ "$DRY_RUN" -eq 1 ] && verb="would change"
    if [ ${#CHANGED[@]} -eq 0 ]; then
        echo "$verb: nothing (everything was already in place)"
    else
        echo "$verb (${#CHANGED[@]}):"
        printf '  - %s\n' "${CHANGED[@]}"
    fi
    echo "already in place: ${#KEPT[@]} item(s)"
    if [ ${#NOTES[@]} -gt 0 ]; then
        echo "notes:"
        printf '  - %s\n' "${NOTES[@]}"
    fi
    if [ ${#REBOOT_REASONS[@]} -gt 0 ]; then
        local reasons
        reasons=$(printf '%s; ' "${REBOOT_REASONS[@]}")
        echo "reboot needed: yes (${reasons%; })"
    else
        echo "reboot needed: no"
    fi
    if staged && [ -f "$ACTIONS_LOG" ]; then
        echo "commands for the target system: ${ACTIONS_LOG#"$ROOT"} (in $ROOT)"
    fi
}
