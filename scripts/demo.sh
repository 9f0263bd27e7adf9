#!/usr/bin/env bash
# A newcomer's first command: set the machine up, build Berth, and run one
# container that shows it is isolated. Leaves nothing behind.
#
# usage: sudo bash scripts/demo.sh
# env:   RUNTIME  runtime binary to use instead of target/release/berth
#                 (e.g. RUNTIME=runc); the build is skipped when set
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/lib.sh"
cd "$repo"

say() { printf '\n== %s\n' "$*"; }

say "setting up the machine"
bash scripts/setup.sh
ensure_cargo_path

if [ -n "${RUNTIME:-}" ]; then
    runtime=$(command -v "$RUNTIME") || { echo "demo.sh: RUNTIME=$RUNTIME not found" >&2; exit 1; }
    say "using RUNTIME=$runtime (not building berth)"
else
    say "building berth"
    cargo build --release -p berth
    runtime=$repo/target/release/berth
fi

name=berth-demo-$$
cgpath=/berth-demo/$name
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
# Parents that already existed belong to someone else's run: leave them.
parent_existed=()
for d in /sys/fs/cgroup/berth-demo /sys/fs/cgroup/*/berth-demo; do [ -d "$d" ] && parent_existed+=("$d"); done

cleanup() {
    "$runtime" --root "$work/state" delete --force "$name" >/dev/null 2>&1 || true
    cgroup_rmdir "$cgpath" || true
    local d
    for d in /sys/fs/cgroup/berth-demo /sys/fs/cgroup/*/berth-demo; do
        [ -d "$d" ] || continue
        [[ " ${parent_existed[*]-} " == *" $d "* ]] || rmdir "$d" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

say "making a busybox bundle in $work/$name"
# What the container prints: its own hostname, that it is pid 1 of its own
# pid namespace, that it sees only its own processes, and its mount table.
CGROUPS_PATH=$cgpath bash scripts/mkbundle.sh "$work/$name" sh -c '
echo "hostname: $(hostname)"
echo "pid=$$"
echo "processes visible inside:"
ps -o pid,user,comm
echo "mounts (/proc/self/mounts):"
cat /proc/self/mounts'

say "$(basename "$runtime") run $name"
mkdir -p "$work/state"
rc=0
(cd "$work/$name" && "$runtime" --root "$work/state" run "$name") | tee "$work/out" || rc=$?

if [ "$rc" -eq 0 ] && ! grep -qx 'pid=1' "$work/out"; then
    echo "demo.sh: $(basename "$runtime") exited 0 but the container printed nothing: is \`run\` implemented yet?" >&2
    rc=1
fi
say "container exited with status $rc; cleaning up"
exit "$rc"
