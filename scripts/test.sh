#!/usr/bin/env bash
# The test command (CI runs it through .ci/run): set up, check formatting
# and lints, build, run every test in the workspace, check that nothing
# leaked, then the pure-cgroup2 and systemd suites in a guest
# (scripts/guest-tests.sh).
#
# usage: sudo bash scripts/test.sh [extra args for the test binaries]
# Exits non-zero if the build or any test fails, or if a cgroup under
# /berth-test or a mount mentioning berth is left behind.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/lib.sh"
cd "$repo"

say() { printf '\n== %s\n' "$*"; }

say "setup"
bash scripts/setup.sh --tests
ensure_cargo_path

say "format and lints"
# The tree is rustfmt-clean (rustfmt.toml) and clippy-clean on every
# target; a change that is not fails here, before the long test run.
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -- -D warnings

say "build (release, whole workspace)"
# Release first so target/release/berth exists: the conformance suite
# drives that binary by default.
cargo build --release --workspace

say "tests"
status=0
# --no-fail-fast: one failing test binary must not hide the others' results.
cargo test --workspace --release --no-fail-fast -- --test-threads=2 "$@" || status=$?
[ "$status" -eq 0 ] || echo "test.sh: cargo test failed (exit $status)" >&2

say "leak check"
leaks=0
# The shared parent /berth-test counts too: every test removes it once it
# is the last one using it.
leaked_cgroups=$(find /sys/fs/cgroup/berth-test /sys/fs/cgroup/*/berth-test -maxdepth 1 -type d 2>/dev/null || true)
if [ -n "$leaked_cgroups" ]; then
    echo "leaked cgroups:"
    sed 's/^/  /' <<<"$leaked_cgroups"
    leaks=1
fi
leaked_mounts=$(grep -i berth /proc/self/mountinfo || true)
if [ -n "$leaked_mounts" ]; then
    echo "leaked mounts:"
    sed 's/^/  /' <<<"$leaked_mounts"
    leaks=1
fi
if [ "$leaks" -eq 0 ]; then
    echo "no leaked cgroups (not even /berth-test), no mounts mentioning berth"
else
    echo "test.sh: leaks found (left in place for inspection)" >&2
    [ "$status" -ne 0 ] || status=1
fi

# Pure cgroup v2 and systemd hosts, in a guest (this machine's cgroups are
# a hybrid): skipped for a filtered run (arguments given) or with
# BERTH_GUEST_TESTS=0.
if [ $# -eq 0 ] && [ "${BERTH_GUEST_TESTS:-1}" != 0 ]; then
    say "pure cgroup v2 and systemd (guest)"
    bash scripts/guest-tests.sh || { echo "test.sh: guest suites failed" >&2; status=1; }
fi

if [ "$status" -eq 0 ]; then say "all good"; else say "FAILED"; fi
exit "$status"
