#!/bin/bash
# suite.sh - runs IN the systemd guest (scripts/guest-systemd.sh): the
# engines on a modern host (pure cgroup v2, systemd's cgroup driver) driving
# each runtime under test.
#
#   suite.sh DIR OUT_DIR
#
# DIR (on the share) holds berth, containerd-shim-berth-v2,
# busybox-oci.tar, busybox-rootfs.tar. OUT_DIR receives results.tsv (one
# `runtime engine check PASS|FAIL|KNOWN detail` line per check) and logs.
# SUITE_RUNTIMES (default "runc berth"; "runc crun berth" adds crun) and SUITE_ENGINES (default
# "containerd-runc-shim containerd-berth-shim podman docker") pick what runs.
#
# For every engine and runtime: a container with a 64 MiB memory limit must
# have its init in `<slice>/<prefix>-<id>.scope` itself, the unit's
# MemoryMax and the scope's memory.max must be 67108864 (runc's layout), an
# exec'd process must share the init's cgroup; through containerd also stats
# show the limit, pause/resume freeze and thaw the cgroup, and an exec that
# eats memory is OOM-killed with a TaskOOM event; once the container is
# removed no unit and no cgroup directory may be left. Engine state and
# container root filesystems stay on the guest's disk; only results go to
# OUT_DIR.
#
# First, when docker is among the engines, scripts/install.sh itself on the
# guest's stock docker.io (install_done_when below).
#
# Known deviations of a peer runtime are recorded as KNOWN, not FAIL (table
# KNOWN below): crun 1.8 puts the init in a `container` child of the scope
# and sets the limits there, leaving the unit's MemoryMax at infinity.
set -u
DIR=${1:?usage: suite.sh DIR OUT_DIR}
OUT=${2:?usage: suite.sh DIR OUT_DIR}
RUNTIMES=${SUITE_RUNTIMES:-runc berth}
ENGINES=${SUITE_ENGINES:-containerd-runc-shim containerd-berth-shim podman docker}
IMG_CTR=docker.io/library/berth-busybox:test
IMG=berth-busybox:test
LIMIT=67108864
T=60 # seconds any one engine command may take
# RUNTIME:regex of check names where that runtime knowingly differs from runc
KNOWN=("crun:init cgroup is the scope|scope MemoryMax$|scope memory\.max$")
mkdir -p "$OUT"
RES=$OUT/results.tsv
: > "$RES"
LOG=$OUT/details.log
: > "$LOG"
t_all=$(date +%s)

# ------------------------------------------------------------------ helpers
RT=; ENG=
pass() { printf '%s\t%s\t%s\tPASS\t%s\n' "$RT" "$ENG" "$1" "${2:-}" >> "$RES"; echo "  PASS $RT/$ENG: $1 ${2:-}"; }
fail() {
    local st=FAIL k
    for k in "${KNOWN[@]}"; do
        [ "${k%%:*}" = "$RT" ] && [[ $1 =~ ${k#*:} ]] && st=KNOWN
    done
    printf '%s\t%s\t%s\t%s\t%s\n' "$RT" "$ENG" "$1" "$st" "$(echo "${2:-}" | tr '\n\t' '  ' | cut -c1-600)" >> "$RES"
    echo "  $st $RT/$ENG: $1: ${2:-}"
}
# step NAME CMD...: runs CMD (timeout $T), PASS/FAIL by its status; the
# output is in $OUTPUT afterwards.
OUTPUT=
step() {
    local name=$1; shift
    OUTPUT=$(timeout $T "$@" 2>&1 < /dev/null); local rc=$?
    { echo "### $RT/$ENG $name (rc=$rc): $*"; echo "$OUTPUT"; } >> "$LOG"
    if [ $rc = 0 ]; then pass "$name"; else fail "$name" "rc=$rc: $(echo "$OUTPUT" | tail -5)"; fi
    return $rc
}
# expect NAME WANT GOT
expect() { if [ "$2" = "$3" ]; then pass "$1" "$3"; else fail "$1" "want [$2], got [$3]"; fi; }

# in_scope NAME PID SLICE UNIT: PID's cgroup is /SLICE/UNIT (or below it),
# the unit is active, the unit's and the cgroup's memory limits are $LIMIT.
in_scope() {
    local name=$1 pid=$2 slice=$3 unit=$4 cg
    if [ -z "$pid" ] || [ ! -d "/proc/$pid" ]; then fail "$name: init in $unit" "no pid ($pid)"; return 1; fi
    cg=$(cat "/proc/$pid/cgroup" 2>&1)
    case $cg in
        "0::/$slice/$unit" | "0::/$slice/$unit/"*) pass "$name: init in $unit" "$cg" ;;
        *) fail "$name: init in $unit" "$cg" ;;
    esac
    expect "$name: init cgroup is the scope" "0::/$slice/$unit" "$cg"
    expect "$name: $unit active" "active" "$(systemctl is-active "$unit" 2>&1)"
    expect "$name: $unit MemoryMax" "$LIMIT" "$(systemctl show -p MemoryMax --value "$unit" 2>&1)"
    expect "$name: $unit memory.max" "$LIMIT" "$(cat "/sys/fs/cgroup/$slice/$unit/memory.max" 2>&1)"
    expect "$name: init's memory.max" "$LIMIT" "$(cat "/sys/fs/cgroup/${cg#0::/}/memory.max" 2>&1)"
}

# exec_cgroup CMD...: CMD runs `cat /proc/self/cgroup /proc/1/cgroup` in the
# container; the exec'd process must be in its init's cgroup.
exec_cgroup() {
    step "exec" "$@" cat /proc/self/cgroup /proc/1/cgroup || return
    local self init
    self=$(echo "$OUTPUT" | sed -n 1p); init=$(echo "$OUTPUT" | sed -n 2p)
    expect "exec: in the init's cgroup" "$init" "$self"
}

# gone NAME SLICE UNIT: no unit and no cgroup left (waits up to 10 s).
gone() {
    local name=$1 slice=$2 unit=$3 i
    for i in $(seq 50); do
        if ! systemctl list-units --all --no-legend --plain | grep -qF "$unit" && [ ! -e "/sys/fs/cgroup/$slice/$unit" ]; then
            pass "$name: $unit gone"; return 0
        fi
        sleep 0.2
    done
    fail "$name: $unit gone" "$(systemctl list-units --all --no-legend --plain | grep -F "$unit"; ls -d "/sys/fs/cgroup/$slice/$unit" 2>&1)"
}

rt_path() { case $1 in berth) echo /usr/local/bin/berth ;; *) command -v "$1" ;; esac; }

# ------------------------------------------------------------------ setup
setup() {
    echo "guest: $(uname -r), pid1 $(cat /proc/1/comm), $(systemctl is-system-running 2>&1)"
    install -m 755 "$DIR/berth" "$DIR/containerd-shim-berth-v2" /usr/local/bin/
    { /usr/local/bin/berth --version; runc --version | head -1; crun --version | head -1; containerd --version;
      podman --version; dockerd --version; systemctl --version | head -1; } > "$OUT/versions.txt" 2>&1
    local r
    mkdir -p /etc/containerd
    for r in $RUNTIMES; do
        # the berth shim's runtime options (ctr --runtime-config-path)
        printf 'SystemdCgroup = true\nBinaryName = "%s"\n' "$(rt_path "$r")" > "/etc/containerd/berth-shim-$r.toml"
    done
}

setup_containerd() {
    mkdir -p /etc/containerd /etc/systemd/system/containerd.service.d
    printf 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n' > /etc/containerd/config.toml
    printf '[Service]\nEnvironment=BERTH_SHIM_LOG=/var/log/berth-shim.log\n' > /etc/systemd/system/containerd.service.d/berth.conf
    systemctl daemon-reload && systemctl restart containerd
    timeout $T ctr -n sd images import "$DIR/busybox-oci.tar" > /dev/null || echo "ctr images import failed"
}

setup_podman() {
    mkdir -p /etc/containers
    cat > /etc/containers/containers.conf <<EOF
[engine]
cgroup_manager = "systemd"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "berth"]
[engine.runtimes]
berth = ["/usr/local/bin/berth"]
EOF
    timeout $T podman import --change ENV=PATH=/bin "$DIR/busybox-rootfs.tar" "localhost/$IMG" > /dev/null 2>&1 || echo "podman import failed"
}

setup_docker() {
    mkdir -p /etc/docker
    cat > /etc/docker/daemon.json <<EOF
{
  "exec-opts": ["native.cgroupdriver=systemd"],
  "runtimes": {"berth": {"path": "/usr/local/bin/berth"}, "crun": {"path": "$(command -v crun)"}}
}
EOF
    systemctl restart docker || journalctl -u docker --no-pager | tail -20
    timeout $T docker import --change "ENV PATH=/bin" "$DIR/busybox-rootfs.tar" "$IMG" > /dev/null 2>&1 || echo "docker import failed"
}

# ------------------------------------------------------------------ containerd
# ctr_case SHIM_RUNTIME ID OPTS...: run, exec, stats, kill, delete
ctr_case() {
    local shim=$1 id=$2; shift 2
    local c=(ctr -n sd) unit="ctrsd-$id.scope"
    if ! step "run -d" "${c[@]}" run -d --runtime "$shim" "$@" --cgroup "system.slice:ctrsd:$id" --memory-limit $LIMIT "$IMG_CTR" "$id" sleep 1000; then
        "${c[@]}" task kill -s SIGKILL "$id" > /dev/null 2>&1; sleep 0.5
        "${c[@]}" task delete "$id" > /dev/null 2>&1; "${c[@]}" container rm "$id" > /dev/null 2>&1
        gone "after failed run" system.slice "$unit"
        return
    fi
    local pid; pid=$("${c[@]}" task ls 2>/dev/null | awk -v id="$id" '$1 == id {print $2}')
    in_scope "run" "$pid" system.slice "$unit"
    exec_cgroup "${c[@]}" task exec --exec-id e1 "$id"
    step "stats" "${c[@]}" task metrics "$id" && expect "stats: memory.usage_limit" "$LIMIT" "$(echo "$OUTPUT" | awk '$1 == "memory.usage_limit" {print $2}')"
    local cgdir=/sys/fs/cgroup/$(sed -n 's|^0::/||p' "/proc/$pid/cgroup" 2>/dev/null)
    step "pause" "${c[@]}" task pause "$id" && expect "pause: cgroup.freeze" 1 "$(cat "$cgdir/cgroup.freeze" 2>&1)"
    step "resume" "${c[@]}" task resume "$id" && expect "resume: cgroup.freeze" 0 "$(cat "$cgdir/cgroup.freeze" 2>&1)"
    # OOM: an exec that eats memory (tail looks for a newline in /dev/zero)
    # is killed in the scope, and the shim publishes TaskOOM.
    local ev=/tmp/ctr-events-$id
    timeout 100 ctr events > "$ev" 2>&1 &
    local evpid=$!
    sleep 0.5
    OUTPUT=$(timeout $T "${c[@]}" task exec --exec-id oom "$id" tail /dev/zero 2>&1); echo "### oom exec: $OUTPUT" >> "$LOG"
    local i
    for i in $(seq 25); do grep -q "/tasks/oom" "$ev" && break; sleep 0.2; done
    expect "oom: TaskOOM published" 1 "$(grep -c "/tasks/oom.*$id" "$ev")"
    kill $evpid 2>/dev/null; wait $evpid 2>/dev/null
    expect "oom: memory.events oom_kill" 1 "$(awk '$1 == "oom_kill" {print ($2 > 0)}' "$cgdir/memory.events" 2>&1)"
    step "kill" "${c[@]}" task kill -s SIGKILL "$id"
    local i st=
    for i in $(seq 50); do
        st=$("${c[@]}" task ls 2>/dev/null | awk -v id="$id" '$1 == id {print $3}')
        [ "$st" = STOPPED ] && break
        sleep 0.2
    done
    expect "kill: task stopped" STOPPED "$st"
    step "task delete" "${c[@]}" task delete "$id"
    step "container rm" "${c[@]}" container rm "$id"
    gone "delete" system.slice "$unit"
}

engine_containerd-runc-shim() {
    ctr_case io.containerd.runc.v2 "rs-$RT" --runc-binary "$(rt_path "$RT")" --runc-systemd-cgroup
}

engine_containerd-berth-shim() {
    ctr_case io.containerd.berth.v2 "bs-$RT" --runtime-config-path "/etc/containerd/berth-shim-$RT.toml"
}

# ------------------------------------------------------------------ podman
engine_podman() {
    local name="sd-$RT" id unit pid
    if ! step "run -d" podman run -d --runtime "$RT" --network none --name "$name" --memory 64m "localhost/$IMG" sleep 1000; then
        podman rm -f -t 0 "$name" > /dev/null 2>&1
        return
    fi
    id=$(podman inspect -f '{{.Id}}' "$name"); pid=$(podman inspect -f '{{.State.Pid}}' "$name")
    unit="libpod-$id.scope"
    in_scope "run" "$pid" machine.slice "$unit"
    exec_cgroup podman exec "$name"
    step "stop" podman stop -t 2 "$name"
    step "rm" podman rm "$name"
    gone "rm" machine.slice "$unit"
}

# ------------------------------------------------------------------ docker
engine_docker() {
    local name="sd-$RT" id unit pid
    if ! step "run -d" docker run -d --runtime "$RT" --security-opt apparmor=unconfined --name "$name" --memory 64m "$IMG" sleep 1000; then
        docker rm -f "$name" > /dev/null 2>&1
        return
    fi
    id=$(docker inspect -f '{{.Id}}' "$name"); pid=$(docker inspect -f '{{.State.Pid}}' "$name")
    unit="docker-$id.scope"
    in_scope "run" "$pid" system.slice "$unit"
    exec_cgroup docker exec "$name"
    step "rm -f" docker rm -f "$name"
    gone "rm" system.slice "$unit"
}

# The runtime's own systemd-driver conformance tests (conformance/tests/
# systemd_driver.rs), when guest-systemd.sh brought their binary: unit,
# properties, update, pause, delete and failed creates against systemd.
conformance_driver() {
    [ -x "$DIR/systemd_driver" ] || return 0
    local t line name
    t=$(date +%s)
    RT=berth; ENG=conformance
    echo "== conformance systemd_driver with berth"
    OCI_RUNTIME=/usr/local/bin/berth "$DIR/systemd_driver" --test-threads=2 > "$OUT/systemd_driver.log" 2>&1
    while read -r line; do
        name=${line#test }; name=${name% ...*}
        case $line in
            *"... ok") pass "$name" ;;
            *"... FAILED") fail "$name" "see systemd_driver.log" ;;
        esac
    done < <(grep -E '^test .* \.\.\. (ok|FAILED)$' "$OUT/systemd_driver.log")
    grep -q '^test result: ok' "$OUT/systemd_driver.log" || fail "systemd_driver" "$(tail -5 "$OUT/systemd_driver.log")"
    echo "== conformance: $(( $(date +%s) - t )) s"
}

# ------------------------------------------------------------------ install
# Issue #14's "done when", on this fresh Debian 12 with the distribution's
# docker.io running under systemd: scripts/install.sh --configure docker
# (binaries built on the host, hence --no-build), then the README's
# docker-run snippet as it stands; a second run changes nothing;
# --uninstall takes it all out. Runs before setup(), which installs the
# binaries again for the engine cases.
readme_snippet() {
    awk -v m="<!-- snippet: $1 -->" '$0 == m {f = 1; next} f && /^```/ {if (n++) exit; next} f && n' "$2"
}
install_done_when() {
    local repo=$DIR/repo cmd
    RT=berth; ENG=install
    echo "== install.sh on the guest's own docker"
    if [ ! -f "$repo/scripts/install.sh" ]; then fail "install.sh present" "$repo"; return; fi
    systemctl is-active --quiet docker || systemctl start docker
    timeout $T docker import --change "ENV PATH=/bin" "$DIR/busybox-rootfs.tar" busybox > /dev/null 2>&1 || fail "docker import busybox"
    local had_config=0
    [ -e /etc/docker/daemon.json ] && had_config=1
    step "install.sh --configure docker" bash "$repo/scripts/install.sh" --no-build --configure docker || return
    case $OUTPUT in *"docker: reloaded"*) pass "docker reloaded" ;; *) fail "docker reloaded" "$OUTPUT" ;; esac
    expect "berth installed" "berth version" "$(/usr/local/bin/berth --version 2>&1 | head -1 | cut -d' ' -f1-2)"
    [ -x /usr/local/bin/containerd-shim-berth-v2 ] && pass "shim installed" || fail "shim installed"
    if [ -f /usr/local/share/man/man8/berth.8 ] && [ -f /usr/local/share/man/man8/berth-run.8 ]; then pass "man pages"; else fail "man pages" "$(ls /usr/local/share/man/man8 2>&1)"; fi
    [ -f /usr/local/share/bash-completion/completions/berth ] && [ -f /usr/local/share/zsh/site-functions/_berth ] \
        && [ -f /usr/local/share/fish/vendor_completions.d/berth.fish ] && pass "completions" || fail "completions"
    cmd=$(readme_snippet docker-run "$repo/README.md")
    if [ -z "$cmd" ]; then
        fail "README docker-run snippet" "not found"
    elif step "README: $cmd" bash -c "$cmd"; then
        expect "README: $cmd prints hi" "hi" "$OUTPUT"
    fi
    step "berth check" /usr/local/bin/berth check
    case $OUTPUT in *systemd*) pass "berth check names systemd" ;; *) fail "berth check names systemd" "$OUTPUT" ;; esac
    step "install.sh again" bash "$repo/scripts/install.sh" --no-build --configure docker
    case $OUTPUT in *"has Berth already"*) pass "second run changes nothing" ;; *) fail "second run changes nothing" "$OUTPUT" ;; esac
    step "install.sh --uninstall" bash "$repo/scripts/install.sh" --uninstall
    [ ! -e /usr/local/bin/berth ] && pass "berth removed" || fail "berth removed"
    if [ $had_config = 0 ]; then
        [ ! -e /etc/docker/daemon.json ] && pass "daemon.json it made is gone" || fail "daemon.json it made is gone" "$(cat /etc/docker/daemon.json)"
    fi
    # dockerd's reload keeps runtimes daemon.json no longer sets: restart.
    systemctl restart docker
    case $(docker info --format '{{json .Runtimes}}' 2>&1) in
        *berth*) fail "docker no longer lists berth" ;;
        *) pass "docker no longer lists berth" ;;
    esac
    docker rmi busybox > /dev/null 2>&1
}

# ------------------------------------------------------------------ main
case " $ENGINES " in *" docker "*) [ "${SUITE_INSTALL:-1}" = 0 ] || install_done_when ;; esac
setup
[ "${SUITE_CONFORMANCE:-1}" = 0 ] || conformance_driver
for ENG in $ENGINES; do
    t=$(date +%s)
    case $ENG in
        containerd-*) [ -n "${ctrd_ready:-}" ] || { setup_containerd; ctrd_ready=1; } ;;
        podman) setup_podman ;;
        docker) setup_docker ;;
    esac
    for RT in $RUNTIMES; do
        echo "== $ENG with $RT"
        "engine_$ENG"
    done
    echo "== $ENG: $(( $(date +%s) - t )) s"
done
cp /var/log/berth-shim.log "$OUT/" 2>/dev/null
journalctl --no-pager -u containerd -u docker > "$OUT/journal.txt" 2>&1
RT=; ENG=
echo "== leftovers"
left=$(systemctl list-units --all --no-legend --plain | grep -E 'ctrsd-|libpod-|docker-' | grep -v -E 'libpod-conmon' )
[ -z "$left" ] || echo "leftover units: $left"
echo "guest suite: $(( $(date +%s) - t_all )) s"
grep -q $'\tFAIL\t' "$RES" && exit 1
exit 0
