#!/usr/bin/env bash
# guest-systemd.sh - the engines on a modern host: pure cgroup v2 with
# systemd as PID 1 and every engine on systemd's cgroup driver, in the
# throwaway guest of scripts/guest.sh (booted once).
#
#   scripts/guest-systemd.sh [suite]   build, boot, run the engine suite
#   scripts/guest-systemd.sh capture   boot, record what the engines send
#                                      their runtime (argv, env, config.json)
#
# Host side: builds berth and containerd-shim-berth-v2 (release) and the
# busybox image archives (integration's guest_images example), copies them
# with the in-guest scripts to $GUEST_SHARE/engines, boots the systemd guest
# and runs scripts/guest-systemd/suite.sh (or capture.sh) there. Results come
# back to $GUEST_SHARE/engines/results (capture: .../capture). Exits non-zero
# when a check failed; prints a summary and the wall time.
#
# Knobs: SUITE_RUNTIMES (default "runc berth"; add crun to compare, ~2 min
# more), SUITE_ENGINES (default
# "containerd-runc-shim containerd-berth-shim podman docker"),
# SUITE_INSTALL=0 skips scripts/install.sh's own run on the guest's docker,
# CAPTURE_ENGINES (default "containerd podman docker"), GUEST_SHARE,
# SKIP_BUILD=1 (reuse target/release as it is).
#
# Nothing is left on the host but the share's files: engines, containers
# and their state live on the guest's snapshot disk, gone at poweroff.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/lib.sh"
cd "$repo"
mode=${1:-suite}
case $mode in suite | capture) ;; *) echo "usage: $0 [suite|capture]" >&2; exit 2 ;; esac

t0=$(date +%s)
share=${GUEST_SHARE:-/var/tmp/berth-guest}
dir=$share/engines
mkdir -p "$dir"

ensure_cargo_path
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    echo "== build (release): berth, containerd-shim-berth-v2, image archives"
    cargo build --release -q -p berth -p containerd-shim-berth-v2
    # install.sh --no-build makes man pages and completions with it
    cargo build --release -q -p berth --example gen-assets
    cargo run --release -q -p integration --example guest_images -- "$dir"
fi
target=${CARGO_TARGET_DIR:-$repo/target}
cp "$target/release/berth" "$target/release/containerd-shim-berth-v2" "$dir/"
cp scripts/guest-systemd/suite.sh scripts/guest-systemd/capture.sh "$dir/"
# install.sh's own run in the guest (suite.sh install_done_when): the
# scripts, the README it takes the snippet from, and the built binaries
# where install.sh --no-build looks for them.
rm -rf "$dir/repo"
mkdir -p "$dir/repo/scripts" "$dir/repo/target/release/examples"
cp scripts/install.sh scripts/engine-config.py scripts/lib.sh scripts/setup.sh "$dir/repo/scripts/"
cp README.md "$dir/repo/"
cp "$target/release/berth" "$target/release/containerd-shim-berth-v2" "$dir/repo/target/release/"
[ ! -x "$target/release/examples/gen-assets" ] || cp "$target/release/examples/gen-assets" "$dir/repo/target/release/examples/"
# conformance/tests/systemd_driver.rs, run first in the same boot
driver_test=$(cargo test --release -q -p conformance --test systemd_driver --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.executable != null) | .executable' | tail -1)
[ -n "$driver_test" ] && cp "$driver_test" "$dir/systemd_driver"
t_build=$(date +%s)

status=0
if [ "$mode" = capture ]; then
    out=$dir/capture
    rm -rf "$out"
    export CAPTURE_ENGINES=${CAPTURE_ENGINES:-containerd podman docker}
    CGV2_PASSENV="CAPTURE_ENGINES" GUEST_INIT=systemd bash scripts/guest.sh run -- \
        bash "$dir/capture.sh" "$dir" "$out" || status=$?
    echo "== capture in $out (exit $status), $(($(date +%s) - t0)) s"
    exit $status
fi

out=$dir/results
rm -rf "$out"
export SUITE_RUNTIMES=${SUITE_RUNTIMES:-runc berth}
export SUITE_ENGINES=${SUITE_ENGINES:-containerd-runc-shim containerd-berth-shim podman docker}
CGV2_PASSENV="SUITE_RUNTIMES SUITE_ENGINES" GUEST_INIT=systemd bash scripts/guest.sh run -- \
    bash "$dir/suite.sh" "$dir" "$out" || status=$?
t_end=$(date +%s)

echo
echo "== summary (runtime, engine: checks passed, failed, known deviations of a peer runtime)"
if [ -s "$out/results.tsv" ]; then
    awk -F'\t' '{k=$1" "$2; if ($4=="PASS") p[k]++; else if ($4=="KNOWN") kn[k]++; else f[k]++; seen[k]=1}
        END {for (k in seen) printf "  %-34s %3d passed %3d failed %3d known\n", k, p[k], f[k], kn[k]}' "$out/results.tsv" | sort
    if grep -q $'\tFAIL\t' "$out/results.tsv"; then
        echo "== failures"
        awk -F'\t' '$4=="FAIL" {printf "  %s %s: %s: %s\n", $1, $2, $3, $5}' "$out/results.tsv"
        [ $status != 0 ] || status=1
    fi
else
    echo "  no results (guest exit $status)"
    [ $status != 0 ] || status=1
fi
echo "== wall time: $((t_end - t0)) s (build and copy $((t_build - t0)) s, guest $((t_end - t_build)) s); results in $out"
exit $status
