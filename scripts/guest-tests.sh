#!/usr/bin/env bash
# guest-tests.sh - the modern-host part of the test command (issue #13):
# the pure-cgroup2 suite (scripts/guest-v2.sh, shell init) and the systemd
# suite (scripts/guest-systemd.sh: the systemd-driver conformance tests and
# containerd, podman and docker on systemd's cgroup driver), each in one
# boot of the throwaway guest of scripts/guest.sh. Run by scripts/test.sh
# after the host's tests, with the workspace already built.
#
# The guest image is built (and cached in /var/cache/berth/cgv2-vm) on
# first use: ~3 minutes with network access to the Debian archive.
# Exits non-zero if either suite failed.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
t0=$(date +%s)
status=0
bash scripts/guest.sh build
rc=$?
if [ $rc != 0 ]; then
    if [ $rc = 3 ]; then
        echo "guest-tests.sh: SKIPPED: the cgv2-vm guest tool is not on this machine (set CGV2_VM)" >&2
        exit 0
    fi
    echo "guest-tests.sh: building the guest failed (exit $rc)" >&2
    exit $rc
fi
echo "== pure cgroup2 guest"
GUEST_V2_NOBUILD=${GUEST_V2_NOBUILD:-} bash scripts/guest-v2.sh || status=1
echo "== systemd guest"
# Berth only: the same suite against runc (SUITE_RUNTIMES="runc berth",
# what scripts/guest-systemd.sh runs by itself) checks the suite, not
# Berth, and costs ~2.5 minutes of the test command's 40.
SUITE_RUNTIMES=${SUITE_RUNTIMES:-berth} bash scripts/guest-systemd.sh || status=1
echo "== guest suites: $(( $(date +%s) - t0 )) s, exit $status"
exit $status
