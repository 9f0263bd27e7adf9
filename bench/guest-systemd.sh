#!/usr/bin/env bash
# The systemd cgroup driver side by side: berth, runc and crun `run` of
# busybox `true` with --systemd-cgroup (a transient scope each), and the
# cgroupfs driver for reference, inside the systemd guest (pure cgroup2,
# systemd as PID 1; scripts/guest.sh). Runs are interleaved (one of each
# runtime per round) so that the guest's noise under TCG hits all alike.
#
# usage: sudo bash bench/guest-systemd.sh      env: N (rounds, default 15)
#
# Prints per runtime and driver the median and p90 wall time of `run` in
# ms, and the ratio to runc with the same driver. Under TCG (no hardware
# virtualization here) absolute times are 10-30x the host's: read ratios.
set -euo pipefail
N=${N:-15}

if [ "${1:-}" != --in-guest ]; then
    repo=$(cd "$(dirname "$0")/.." && pwd)
    . "$repo/scripts/lib.sh"
    ensure_cargo_path
    (cd "$repo" && cargo build --release -p berth >&2)
    share=${GUEST_SHARE:-/var/tmp/berth-guest}/bench
    rm -rf "$share" && mkdir -p "$share"
    cp "$repo/target/release/berth" "$share/"
    BERTH=$repo/target/release/berth CGROUPS_PATH=/x bash "$repo/scripts/mkbundle.sh" "$share/bundle" /bin/true >/dev/null
    rm -rf "$share/bundle/rootfs"    # made in the guest: never on the 9p share
    cp "$0" "$share/"
    GUEST_INIT=systemd GUEST_SHARE=$share CGV2_PASSENV=N bash "$repo/scripts/guest.sh" run -- bash ./guest-systemd.sh --in-guest
    rc=$?
    rm -rf "$share"
    exit $rc
fi

# ---- in the guest (cwd: the share)
work=/tmp/bench-sd
mkdir -p "$work/rootfs/bin" "$work/rootfs/proc" "$work/rootfs/dev" "$work/rootfs/sys"
cp /bin/busybox "$work/rootfs/bin/" && ln -sf busybox "$work/rootfs/bin/true"
# The binary runs from the guest's own disk like runc and crun: on the 9p
# share (cache=none) every page fault of its text is a round trip to the
# host (`berth --version` took 1.4 s there, 0.1 s from /tmp).
cp berth "$work/berth-bin"
berth=$work/berth-bin
declare -A bin=([berth]=$berth [runc]=$(command -v runc) [crun]=$(command -v crun))
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
config() { # DRIVER RT I
    local path
    if [ "$1" = systemd ]; then path="system.slice:bench:$2-$3"; else path="/berth-bench/$2-$3"; fi
    sed -e "s|\"ociVersion\": *\"[^\"]*\"|\"ociVersion\": \"1.0.2\"|" -e "s|\"cgroupsPath\": *\"[^\"]*\"|\"cgroupsPath\": \"$path\"|" -e "s|\"path\": *\"rootfs\"|\"path\": \"$work/rootfs\"|" bundle/config.json > "$work/config.json"
}
declare -A times fails
for i in $(seq 1 $((N + 2))); do
    for driver in systemd cgroupfs; do
        for rt in berth runc crun; do
            flag=(); [ $driver = systemd ] && flag=(--systemd-cgroup)
            config $driver $rt $i
            t0=$(now_ms)
            if (cd "$work" && "${bin[$rt]}" "${flag[@]}" run "b-$rt-$i" >/dev/null 2>"$work/err"); then
                t1=$(now_ms)
                [ "$i" -gt 2 ] && times[$rt/$driver]+="$((t1 - t0)) "    # two warm-up rounds
            else
                fails[$rt/$driver]="$(head -c 300 "$work/err")"
                "${bin[$rt]}" delete -f "b-$rt-$i" >/dev/null 2>&1 || true
            fi
        done
    done
done
stats() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -n | awk '{v[NR]=$1} END {if (NR==0) {print "- -"; exit} m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; i=int(NR*0.9); if (i<1) i=1; printf "%d %d\n", m, v[i]}'; }
echo "systemd guest: $(nproc) CPUs under qemu, kernel $(uname -r), systemd $(systemctl --version | head -1 | cut -d' ' -f2), N=$N rounds"
printf '%-8s %-9s %10s %8s %10s\n' runtime driver "median ms" "p90 ms" "vs runc"
for driver in systemd cgroupfs; do
    read -r rm _ <<<"$(stats "${times[runc/$driver]:-}")"
    for rt in berth runc crun; do
        read -r m p <<<"$(stats "${times[$rt/$driver]:-}")"
        ratio=-; [ "$m" != - ] && [ "$rm" != - ] && ratio=$(awk -v a="$m" -v b="$rm" 'BEGIN {printf "%.2f", a / b}')
        printf '%-8s %-9s %10s %8s %10s\n' "$rt" "$driver" "$m" "$p" "$ratio"
        [ -n "${fails[$rt/$driver]:-}" ] && echo "  $rt/$driver failed: ${fails[$rt/$driver]}"
    done
done
left=$(systemctl list-units --all --no-legend 'bench-*' | wc -l)
echo "units left: $left"
