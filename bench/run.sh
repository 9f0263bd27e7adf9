#!/usr/bin/env bash
# Side-by-side start-up benchmark: berth, runc and crun running busybox
# `true` from identical bundles (no network namespace), plus the kernel floor
# (unshare + chroot + exec).
#
# usage: sudo bash bench/run.sh
# env:
#   N         runs per measurement (default 50)
#   RUNTIMES  runtimes to compare (default "berth runc crun"); "berth" means
#             $BERTH, default target/release/berth of this repo
#   FLOOR     set to 0 to skip the floor row
#   HYPERFINE set to 0 to time with the built-in loop even if hyperfine exists
#
# Per runtime it reports median and p90 wall time of `run` and of a
# `create; start; delete --force` cycle, and the syscalls made by one `run`
# (strace -f -c, whole process tree). A runtime that is missing or fails is
# reported in its row. Every cgroup it creates (/berth-bench/<runtime>) and
# every temp dir is removed on exit.
set -euo pipefail
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/lib.sh"

# ms_stats FILE: print "median p90" of the millisecond values in FILE.
ms_stats() {
    sort -g "$1" | awk '{ v[NR] = $1 }
        END {
            if (NR == 0) { print "- -"; exit }
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            i = int(NR * 0.9); if (i < NR * 0.9) i++; if (i < 1) i = 1
            printf "%.1f %.1f\n", m, v[i]
        }'
}

have_hyperfine() { [ "${HYPERFINE:-1}" != 0 ] && command -v hyperfine >/dev/null; }

now_ns() {
    # $EPOCHREALTIME (bash >= 5) costs no fork, unlike `date +%s%N`.
    if [ -n "${EPOCHREALTIME:-}" ]; then
        local t=${EPOCHREALTIME/[.,]/}
        echo "${t}000"
    else
        date +%s%N
    fi
}

# time_cmd N OUT CMD...: run CMD N times (after 3 warm-ups), appending
# each wall time in ms to OUT. Fails as soon as one run fails.
time_cmd() {
    local n=$1 out=$2 i t0 t1; shift 2
    if have_hyperfine; then
        local json=$out.json
        hyperfine -N --warmup 3 --runs "$n" --style none --export-json "$json" \
            -- "$(printf '%q ' "$@")" >/dev/null 2>"$out.err" || return 1
        jq -r '.results[0].times[] * 1000' "$json" >>"$out"
    else
        for i in 1 2 3; do "$@" >/dev/null 2>"$out.err" || return 1; done
        for ((i = 0; i < n; i++)); do
            t0=$(now_ns)
            "$@" >/dev/null 2>"$out.err" || return 1
            t1=$(now_ns)
            echo "$(( (t1 - t0) / 1000 ))" | awk '{ printf "%.3f\n", $1 / 1000 }' >>"$out"
        done
    fi
}

# strace_total OUT CMD...: syscalls made by CMD and all its descendants.
strace_total() {
    local out=$1; shift
    strace -f -c -o "$out.strace" "$@" >/dev/null 2>"$out.err" || return 1
    awk '$NF == "total" { print $4 }' "$out.strace" >"$out"
}

# --- measure one runtime (runs inside the private mount ns for crun) ------
if [ "${1:-}" = __measure ]; then
    shift
    hide_unified=0
    if [ "$1" = --hide-unified ]; then hide_unified=1; shift; fi
    name=$1 bin=$2 bundle=$3 root=$4 out=$5 n=$6
    if [ "$hide_unified" -eq 1 ]; then
        # crun refuses hybrid hosts with controllers on both sides; a tmpfs
        # over the v2 mount, visible only in this private mount namespace,
        # makes the host look like plain cgroup v1 to it.
        mount -t tmpfs none /sys/fs/cgroup/unified
    fi
    id=bench-$name-$$
    cd "$bundle"
    err() { echo "$1: $(head -c 200 "$2" 2>/dev/null | tr '\n' ' ')" >"$out/error"; exit 0; }

    # A probe first: the runtime must really run the container (a binary
    # that exits 0 without doing anything would otherwise look fastest).
    # Same rootfs and config, but the process proves it is pid 1.
    mkdir -p "$out/probe"
    jq --arg rootfs "$bundle/rootfs" '.root.path = $rootfs
        | .process.args = ["/bin/sh", "-c", "echo probe-$$"]' \
        "$bundle/config.json" >"$out/probe/config.json"
    got=$(cd "$out/probe" && timeout 30 "$bin" --root "$root" run "$id" 2>"$out/probe.err") \
        || err "run failed" "$out/probe.err"
    [ "$got" = probe-1 ] || {
        "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
        echo "probe printed '$(head -c 60 <<<"$got")', expected 'probe-1': not running containers yet" >"$out/error"
        exit 0
    }
    time_cmd "$n" "$out/run" "$bin" --root "$root" run "$id" \
        || err "run failed" "$out/run.err"
    cycle() {
        "$bin" --root "$root" create "$id" &&
        "$bin" --root "$root" start "$id" &&
        "$bin" --root "$root" delete --force "$id"
    }
    if have_hyperfine; then
        # hyperfine subtracts the shell's own start-up from each run.
        q=$(printf '%q ' "$bin" --root "$root")
        hyperfine --shell=bash --warmup 3 --runs "$n" --style none \
            --export-json "$out/cycle.json" \
            "$q create $id && $q start $id && $q delete --force $id" \
            >/dev/null 2>"$out/cycle.err" || {
            "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
            echo "cycle failed: $(head -c 200 "$out/cycle.err" | tr '\n' ' ')" >"$out/cycle-error"; }
        [ -e "$out/cycle-error" ] || jq -r '.results[0].times[] * 1000' "$out/cycle.json" >"$out/cycle"
    else
        time_cmd "$n" "$out/cycle" cycle || {
            "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
            echo "cycle failed: $(head -c 200 "$out/cycle.err" | tr '\n' ' ')" >"$out/cycle-error"; }
    fi
    # exec latency: N `exec ID true` into one long-running container.
    mkdir -p "$out/execb"
    jq --arg rootfs "$bundle/rootfs" '.root.path = $rootfs | .process.args = ["sleep", "1000"]' \
        "$bundle/config.json" >"$out/execb/config.json"
    xid=$id-exec
    if (cd "$out/execb" && "$bin" --root "$root" run -d "$xid" </dev/null >/dev/null 2>"$out/exec.err"); then
        time_cmd "$n" "$out/exec" "$bin" --root "$root" exec "$xid" true ||
            echo "exec failed: $(head -c 200 "$out/exec.err" | tr '\n' ' ')" >"$out/exec-error"
        "$bin" --root "$root" delete --force "$xid" >/dev/null 2>&1 || true
    else
        echo "exec: run -d failed: $(head -c 200 "$out/exec.err" | tr '\n' ' ')" >"$out/exec-error"
    fi
    strace_total "$out/syscalls" "$bin" --root "$root" run "$id" || true
    exit 0
fi

# --- driver ------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || { echo "bench/run.sh: must run as root" >&2; exit 1; }
for tool in jq strace unshare busybox; do
    command -v "$tool" >/dev/null || { echo "bench/run.sh: $tool missing (run scripts/setup.sh)" >&2; exit 1; }
done
N=${N:-50}
RUNTIMES=${RUNTIMES:-berth runc crun}
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
cleanup() {
    local rt
    for rt in $RUNTIMES; do cgroup_rmdir "/berth-bench/$rt" || true; done
    cgroup_rmdir_if_empty /berth-bench
    rm -rf "$work"
}
trap cleanup EXIT

echo "bench: N=$N runs each; $(have_hyperfine && hyperfine --version || echo 'own timing loop'); $(nproc) CPUs; kernel $(uname -r)"

for rt in $RUNTIMES; do
    mkdir -p "$work/$rt/out" "$work/$rt/root"
    case "$rt" in
        berth) bin=${BERTH:-$repo/target/release/berth} ;;
        *) bin=$(command -v "$rt" || true) ;;
    esac
    if [ -z "$bin" ] || [ ! -x "$bin" ]; then
        echo "missing (${bin:-$rt} not found)" >"$work/$rt/out/error"
        continue
    fi
    # Same bundle for every runtime: busybox `true`, no network namespace,
    # its own absolute cgroup. ociVersion 1.0.2 because crun 1.8.1 rejects
    # newer versions ("unknown version specified").
    CGROUPS_PATH=/berth-bench/$rt BERTH=/nonexistent \
        bash "$repo/scripts/mkbundle.sh" "$work/$rt/bundle" /bin/true
    jq '.ociVersion = "1.0.2"
        | .linux.namespaces |= map(select(.type != "network"))' \
        "$work/$rt/bundle/config.json" >"$work/$rt/config.tmp"
    mv "$work/$rt/config.tmp" "$work/$rt/bundle/config.json"
    echo "bench: measuring $rt ($bin)" >&2
    args=("$rt" "$bin" "$work/$rt/bundle" "$work/$rt/root" "$work/$rt/out" "$N")
    if [ "$rt" = crun ] && [ -d /sys/fs/cgroup/unified ] && [ -n "$(ls /sys/fs/cgroup/unified 2>/dev/null)" ] \
        && [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
        unshare -m --propagation private bash "$self" __measure --hide-unified "${args[@]}"
    else
        bash "$self" __measure "${args[@]}"
    fi
done

if [ "${FLOOR:-1}" != 0 ]; then
    echo "bench: measuring floor (unshare -fmuipn chroot ROOTFS /bin/true)" >&2
    mkdir -p "$work/floor/out"
    BERTH=/nonexistent CGROUPS_PATH=/berth-bench/floor bash "$repo/scripts/mkbundle.sh" "$work/floor/bundle" /bin/true
    floor_cmd=(unshare -fmuipn chroot "$work/floor/bundle/rootfs" /bin/true)
    if time_cmd "$N" "$work/floor/out/run" "${floor_cmd[@]}"; then
        strace_total "$work/floor/out/syscalls" "${floor_cmd[@]}" || true
    else
        echo "failed: $(head -c 200 "$work/floor/out/run.err")" >"$work/floor/out/error"
    fi
fi

# --- report ------------------------------------------------------------
declare -A run_med cyc_med exe_med sys
printf '\ncycle = create; start; delete --force; exec = exec ID true into a running container (wall ms)\n'
printf 'syscalls = strace -f -c of one run\n'
printf '%-7s | %-15s | %-15s | %-15s | %s\n' "" "run" "cycle" "exec" ""
printf '%-7s | %6s %8s | %6s %8s | %6s %8s | %8s\n' runtime median p90 median p90 median p90 syscalls
printf -- '--------+-----------------+-----------------+-----------------+---------\n'
rows=$RUNTIMES
[ "${FLOOR:-1}" = 0 ] || rows="$rows floor"
for rt in $rows; do
    o=$work/$rt/out
    if [ -e "$o/error" ]; then
        printf '%-7s | %s\n' "$rt" "$(cat "$o/error")"
        continue
    fi
    read -r rm rp < <(ms_stats "$o/run")
    if [ -s "$o/cycle" ]; then read -r cm cp < <(ms_stats "$o/cycle"); else cm=-; cp=-; fi
    if [ -s "$o/exec" ]; then read -r em ep < <(ms_stats "$o/exec"); else em=-; ep=-; fi
    s=$(cat "$o/syscalls" 2>/dev/null || echo -)
    run_med[$rt]=$rm; cyc_med[$rt]=$cm; exe_med[$rt]=$em; sys[$rt]=$s
    printf '%-7s | %6s %8s | %6s %8s | %6s %8s | %8s\n' "$rt" "$rm" "$rp" "$cm" "$cp" "$em" "$ep" "$s"
    [ ! -e "$o/cycle-error" ] || printf '%-7s   %s\n' "" "$(cat "$o/cycle-error")"
    [ ! -e "$o/exec-error" ] || [ "$rt" = floor ] || printf '%-7s   %s\n' "" "$(cat "$o/exec-error")"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f", a / b; else printf "-" }'; }
for peer in crun runc; do
    [ -n "${run_med[berth]:-}" ] && [ -n "${run_med[$peer]:-}" ] || continue
    printf 'berth/%s: run %sx, cycle %sx, exec %sx, syscalls %sx\n' "$peer" \
        "$(ratio "${run_med[berth]}" "${run_med[$peer]}")" \
        "$(ratio "${cyc_med[berth]}" "${cyc_med[$peer]}")" \
        "$(ratio "${exe_med[berth]}" "${exe_med[$peer]}")" \
        "$(ratio "${sys[berth]}" "${sys[$peer]}")"
done
