# shellcheck shell=bash
# Helpers shared by the scripts in scripts/ and bench/. Source, don't run.

# Put rustup's cargo on PATH when present: `sudo` and root login shells
# often lack ~/.cargo/bin.
ensure_cargo_path() {
    local d
    for d in "${CARGO_HOME:-$HOME/.cargo}/bin" /root/.cargo/bin; do
        if [ -x "$d/cargo" ]; then
            case ":$PATH:" in *":$d:"*) ;; *) PATH="$d:$PATH" ;; esac
            break
        fi
    done
    export PATH
}

# cgroup_rmdir REL: remove the cgroup REL (e.g. /berth-demo/x) from every
# hierarchy under /sys/fs/cgroup, children first. Only rmdir is used, so a
# cgroup that still has processes, or that someone else populated, stays.
# Returns non-zero if something named REL is left behind.
cgroup_rmdir() {
    local rel=${1#/} base d rc=0
    [ -n "$rel" ] || return 0
    # /sys/fs/cgroup/ itself is the hierarchy on a pure cgroup2 host
    # (Debian 12's default); the v1 controllers sit one level down.
    for base in /sys/fs/cgroup/ /sys/fs/cgroup/*/; do
        d=$base$rel
        [ -d "$d" ] || continue
        # deepest first
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
        if [ -d "$d" ]; then
            echo "cannot remove cgroup $d" >&2
            rc=1
        fi
    done
    return $rc
}
