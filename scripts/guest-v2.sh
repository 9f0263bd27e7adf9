#!/bin/bash
# guest-v2.sh - the pure-cgroup2 suite: Berth's cgroup behaviour tested for
# real in the shell-init guest (scripts/guest.sh: Debian 12, kernel 6.1
# booted with cgroup_no_v1=all, every controller delegated by the root).
#
#   scripts/guest-v2.sh                       build, boot once, run every suite
#   scripts/guest-v2.sh resources exec:pause  only these suites (SUITE or SUITE:FILTER)
#   GUEST_V2_RUNTIME=runc scripts/guest-v2.sh the same suites against the guest's runc
#                                             (crun likewise): the reference to compare with
#   GUEST_V2_NOBUILD=1                        reuse the binaries already built
#
# On the host: builds target/release/berth, the conformance test binaries
# and the runtime's unit tests (cargo --no-run), copies them into the share
# dir. In the guest (one boot): copies them to the guest's tmpfs /tmp (no
# container rootfs ever lives on the 9p share: mknod there makes real device
# nodes on the host), runs each suite against berth with its output in the
# share, then checks that nothing is left under /sys/fs/cgroup/berth-test.
# Prints a summary (passed/failed/skipped per suite, every SKIP line) and
# the wall time; exits non-zero if any suite failed or anything leaked.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARE=${GUEST_SHARE:-/var/tmp/berth-guest}
RUNTIME=${GUEST_V2_RUNTIME:-berth}
THREADS=${GUEST_V2_THREADS:-2}

# Every suite that creates, updates, freezes, signals or reads the cgroups
# of a container. crash_safety kills at every syscall: only its kill-point
# scans that touch cgroups, at a coarse stride (see GUEST_V2_CRASH_STRIDE).
# And `berth check`, which must tell the pure-cgroup2 story here.
DEFAULT_SUITES="check cgroup_v2 resources cgroup_semantics cgroup_subtrees cgroup_devices engine_ops exec lifecycle:--skip=two_hundred runtime_unit:cgroups::"
[ $# -gt 0 ] && SUITES="$*" || SUITES=${GUEST_V2_SUITES:-$DEFAULT_SUITES}

T0=$(date +%s)
cd "$ROOT"
if [ -z "${GUEST_V2_NOBUILD:-}" ]; then
    cargo build --release -p berth
fi
# name → executable, from cargo's own report (no guessing at hashes).
list_tests() {
    local quiet=()
    [ -n "${GUEST_V2_NOBUILD:-}" ] && quiet=(--offline)
    cargo test --release -p conformance --no-run --message-format=json "${quiet[@]}" 2>/dev/null |
        jq -r 'select(.reason=="compiler-artifact" and .profile.test and .executable != null) | "\(.target.name) \(.executable)"'
    cargo test --release -p berth --lib --no-run --message-format=json "${quiet[@]}" 2>/dev/null |
        jq -r 'select(.reason=="compiler-artifact" and .profile.test and .executable != null) | "runtime_unit \(.executable)"'
}
TESTS=$(list_tests)
[ -n "$TESTS" ] || { echo "guest-v2.sh: cargo listed no test executables" >&2; exit 2; }

RUN=$SHARE/v2-$$
rm -rf "$RUN"
mkdir -p "$RUN/bin" "$RUN/logs"
trap 'rm -rf "$RUN"' EXIT
cp target/release/berth "$RUN/bin/berth"
for s in $SUITES; do
    name=${s%%:*}
    exe=$(awk -v n="$name" '$1==n {print $2; exit}' <<<"$TESTS")
    [ -n "$exe" ] || { echo "guest-v2.sh: no test target named $name" >&2; exit 2; }
    [ -f "$RUN/bin/$name" ] || cp "$exe" "$RUN/bin/$name"
done
T_BUILD=$(( $(date +%s) - T0 ))

cat >"$RUN/run.sh" <<'GUEST'
#!/bin/bash
# Runs in the guest, as root, in the root cgroup.
set -u
RUN=$1; RUNTIME=$2; THREADS=$3; shift 3
B=/tmp/v2/bin
mkdir -p $B && cp "$RUN"/bin/* $B/
export TMPDIR=/tmp PATH=$B:$PATH RUST_BACKTRACE=1
case $RUNTIME in
    berth) export OCI_RUNTIME=$B/berth ;;
    *) export OCI_RUNTIME=$RUNTIME ;;
esac
# The suite is about pure cgroup2: refuse to report on anything else.
if grep -q ' - cgroup ' /proc/self/mountinfo || ! grep -q ' /sys/fs/cgroup .* - cgroup2 ' /proc/self/mountinfo; then
    echo "guest: /sys/fs/cgroup is not a pure cgroup2 hierarchy" >&2; exit 3
fi
{ echo "kernel $(uname -r); root controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
  echo "runtime: $($OCI_RUNTIME --version 2>&1 | head -1)"; } > "$RUN/guest-info"
for s in "$@"; do
    name=${s%%:*}; filter=
    [ "$name" != "$s" ] && filter=${s#*:}
    t=$(date +%s)
    # shellcheck disable=SC2086
    timeout 900 $B/$name $filter --test-threads="$THREADS" --nocapture > "$RUN/logs/$s.log" 2>&1
    rc=$?
    echo "$s $rc $(( $(date +%s) - t ))" >> "$RUN/results"
done
# The harness removes /berth-test when its last container goes.
left=$(find /sys/fs/cgroup/berth-test -type d 2>/dev/null)
[ -n "$left" ] && echo "$left" > "$RUN/leftover"
exit 0
GUEST

T1=$(date +%s)
set +e
# shellcheck disable=SC2086
"$HERE/guest.sh" run -- bash "$RUN/run.sh" "$RUN" "$RUNTIME" "$THREADS" $SUITES > "$RUN/guest.out" 2>&1
grc=$?
set -e
T_GUEST=$(( $(date +%s) - T1 ))

set +e +o pipefail
# The logs of the last run stay on the host.
KEEP=$ROOT/target/guest-v2
rm -rf "$KEEP"; mkdir -p "$KEEP"
cp -r "$RUN/logs" "$RUN/guest.out" "$KEEP/" 2>/dev/null
fail=0
echo
echo "== pure cgroup2 guest: $RUNTIME =="
[ -f "$RUN/guest-info" ] && sed 's/^/   /' "$RUN/guest-info"
if [ "$grc" != 0 ] || [ ! -f "$RUN/results" ]; then
    echo "guest exited $grc; its output:"; tail -40 "$RUN/guest.out"
    fail=1
fi
while read -r s rc secs; do
    log="$RUN/logs/$s.log"
    sum=$(grep -ah '^test result:' "$log" | tail -1 | sed 's/^test result: //; s/; finished in.*//')
    skips=$(grep -ac 'SKIP' "$log" || true)
    printf '%-28s %-6s %4ss  %s; %s SKIP line(s)\n' "$s" "$([ "$rc" = 0 ] && echo ok || echo FAIL)" "$secs" "${sum:-no result}" "$skips"
    if [ "$rc" != 0 ]; then
        fail=1
        grep -ah -A12 'panicked at' "$log" | sed 's/^/    /' | head -150
        grep -ah '^test .* FAILED$' "$log" | sed 's/^/    /' | head -40
    fi
    grep -ah 'SKIP' "$log" | sort -u | sed 's/^/    /' || true
done < "${RUN}/results"
if [ -f "$RUN/leftover" ]; then
    echo "LEFT BEHIND in the guest:"; sed 's/^/    /' "$RUN/leftover"
    fail=1
fi
echo "logs: $KEEP"
echo "wall time: build+copy ${T_BUILD}s, guest (boot + suites) ${T_GUEST}s, total $(( $(date +%s) - T0 ))s"
[ "$fail" = 0 ] && echo "RESULT: ok" || echo "RESULT: FAILED"
exit "$fail"
