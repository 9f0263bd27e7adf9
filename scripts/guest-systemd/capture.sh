#!/bin/bash
# capture.sh - runs IN the systemd guest (scripts/guest-systemd.sh capture):
# records what containerd, podman and docker send their OCI runtime on a
# pure cgroup v2 host whose cgroups systemd manages.
#
#   capture.sh SHARE_DIR OUT_DIR
#
# SHARE_DIR holds busybox-oci.tar and busybox-rootfs.tar. Each engine is
# pointed at a logging wrapper (argv, environment, the bundle's config.json
# on create/run, the --process file on exec; then exec of the real runc), and
# configured for the systemd cgroup driver:
#   containerd: the system containerd.service; `ctr run --runc-systemd-cgroup`
#               with `--runc-binary WRAPPER` (the runc-v2 shim, SystemdCgroup
#               = true in its runc options);
#   podman:     /etc/containers/containers.conf cgroup_manager = "systemd";
#   docker:     the system docker.service, exec-opts native.cgroupdriver=systemd.
# podman knows the wrapper as "runc" (podman passes --log-format=json only
# to runtimes it knows by name); docker runs get --security-opt
# apparmor=unconfined (the guest kernel has AppArmor, the guest no
# apparmor_parser to load docker-default). Everything the engines store
# lives on the guest's own disk (thrown away at poweroff); only the capture
# lands in OUT_DIR.
set -u
SHARE=${1:?usage: capture.sh SHARE_DIR OUT_DIR}
OUT=${2:?usage: capture.sh SHARE_DIR OUT_DIR}
REAL=${CAPTURE_RUNTIME:-/usr/sbin/runc}
CAP=/var/lib/berth-capture
IMG_CTR=docker.io/library/berth-busybox:test
IMG=berth-busybox:test
mkdir -p "$CAP" "$OUT"
fail=0

say() { echo "== $*"; }
# run SCENARIO ENGINE CMD...: runs CMD with the scenario recorded for the
# wrapper, logs the command and its status.
run() {
    local scen=$1 eng=$2; shift 2
    echo "$scen" > "$CAP/$eng/current"
    local out rc
    out=$(timeout 300 "$@" 2>&1 < /dev/null); rc=$?
    printf '%s\t%s\t%s\n' "$scen" "$rc" "$*" >> "$CAP/$eng/commands.log"
    echo "[$eng $scen] rc=$rc: $*"
    [ -n "$out" ] && echo "$out" | tail -15 | sed 's/^/    /'
    [ $rc = 0 ] || fail=1
    return $rc
}

wrapper() {  # wrapper ENGINE: writes $CAP/ENGINE/runtime
    local d=$CAP/$1
    mkdir -p "$d/configs" "$d/env"
    cat > "$d/runtime" <<EOF
#!/bin/sh
# Logging runtime wrapper (capture.sh).
CAP='$d'
scen=\$(cat "\$CAP/current" 2>/dev/null || echo unknown)
tag="\$(date +%s%N)-\$\$"
printf '%s\t%s\t%s\n' "\$scen" "\$tag" "\$*" >> "\$CAP/calls.log"
{ printf '# argv: %s\n# cgroup: %s\n' "\$*" "\$(cat /proc/self/cgroup)"; env | sort; } > "\$CAP/env/\$scen--\$tag.env"
verb=""; bundle="."; process=""; prev=""
for a in "\$@"; do
  case "\$prev" in
    --bundle|-b) bundle="\$a" ;;
    --process|-p) process="\$a" ;;
  esac
  case "\$a" in
    --bundle=*) bundle="\${a#--bundle=}" ;;
    --process=*) process="\${a#--process=}" ;;
  esac
  if [ -z "\$verb" ]; then
    case "\$prev" in
      --root|--log|--log-format|--criu|--rootless|--cgroup-manager) ;;
      *) case "\$a" in create|run|exec|start|delete|kill|state|ps|pause|resume|update|features|spec|list|events|checkpoint|restore) verb="\$a" ;; esac ;;
    esac
  fi
  prev="\$a"
done
case "\$verb" in
  create|run) cp "\$bundle/config.json" "\$CAP/configs/\$scen--\$tag-\$verb.json" ;;
  exec) [ -n "\$process" ] && cp "\$process" "\$CAP/configs/\$scen--\$tag-exec.json" ;;
esac
exec '$REAL' "\$@"
EOF
    chmod 755 "$d/runtime"
}

# units SCENARIO ENGINE: what systemd shows about the engine's containers now
units() {
    {
        echo "### $1"
        systemctl list-units --all --no-legend --no-pager '*.scope' | grep -v -E 'session-|init.scope' || true
        for u in $(systemctl list-units --all --no-legend --plain --no-pager '*.scope' | awk '{print $1}' | grep -v -E 'session-|init.scope'); do
            systemctl show "$u" -p Id -p Slice -p ControlGroup -p Delegate -p MemoryMax -p TasksMax -p CPUQuotaPerSecUSec -p CPUWeight -p TimeoutStopUSec -p KillSignal -p DeviceAllow -p DevicePolicy -p Description --no-pager
            echo
        done
    } >> "$CAP/$2/units.txt" 2>&1
}

versions() {
    { containerd --version; ctr --version; runc --version; crun --version | head -1; podman --version; conmon --version | head -1;
      dockerd --version; systemctl --version | head -1; uname -r; } > "$CAP/versions.txt" 2>&1
}

# ------------------------------------------------------------------ containerd
capture_containerd() {
    say containerd
    wrapper containerd
    local W=$CAP/containerd/runtime
    mkdir -p /etc/containerd
    # SystemdCgroup for CRI's runc (not used by ctr, which passes its own
    # runc options); restrict_oom_score_adj is harmless as root here.
    cat > /etc/containerd/config.toml <<EOF
version = 2
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true
  BinaryName = "$W"
EOF
    systemctl restart containerd
    local c=(ctr --namespace fx)
    run setup containerd "${c[@]}" images import "$SHARE/busybox-oci.tar"
    run run containerd "${c[@]}" run --rm --runc-binary "$W" --runc-systemd-cgroup --cgroup system.slice:ctr:fx-run "$IMG_CTR" fx-run true
    run run-limits containerd "${c[@]}" run --rm --runc-binary "$W" --runc-systemd-cgroup --cgroup system.slice:ctr:fx-limits --memory-limit 67108864 --cpus 0.5 "$IMG_CTR" fx-limits true
    run exec-target containerd "${c[@]}" run -d --runc-binary "$W" --runc-systemd-cgroup --cgroup system.slice:ctr:fx-exec --memory-limit 67108864 "$IMG_CTR" fx-exec sleep 1000
    sleep 1
    units exec-target containerd
    run exec containerd "${c[@]}" task exec --exec-id e1 fx-exec true
    run ps containerd "${c[@]}" task ps fx-exec
    run metrics containerd "${c[@]}" task metrics fx-exec
    run pause containerd "${c[@]}" task pause fx-exec
    run resume containerd "${c[@]}" task resume fx-exec
    run kill containerd "${c[@]}" task kill -s SIGKILL fx-exec
    sleep 1
    run delete containerd "${c[@]}" task delete fx-exec
    run delete containerd "${c[@]}" container rm fx-exec
    units after-delete containerd
}

# ------------------------------------------------------------------ podman
capture_podman() {
    say podman
    wrapper podman
    local W=$CAP/podman/runtime
    mkdir -p /etc/containers
    cat > /etc/containers/containers.conf <<EOF
[engine]
cgroup_manager = "systemd"
runtime = "runc"
[engine.runtimes]
runc = ["$W"]
EOF
    local p=(podman)
    run setup podman "${p[@]}" import --change ENV=PATH=/bin "$SHARE/busybox-rootfs.tar" "localhost/$IMG"
    run run podman "${p[@]}" run --rm "localhost/$IMG" true
    run run-net-none podman "${p[@]}" run --rm --network none "localhost/$IMG" true
    run run-limits podman "${p[@]}" run --rm --network none --memory 64m --pids-limit 50 --cpus 0.5 "localhost/$IMG" true
    run exec-target podman "${p[@]}" run -d --network none --name fxexec --memory 64m "localhost/$IMG" sleep 1000
    sleep 1
    units exec-target podman
    run exec podman "${p[@]}" exec fxexec true
    run stats podman "${p[@]}" stats --no-stream fxexec
    run stop podman "${p[@]}" stop -t 2 fxexec
    run rm podman "${p[@]}" rm fxexec
    units after-rm podman
}

# ------------------------------------------------------------------ docker
capture_docker() {
    say docker
    wrapper docker
    local W=$CAP/docker/runtime
    mkdir -p /etc/docker
    cat > /etc/docker/daemon.json <<EOF
{
  "exec-opts": ["native.cgroupdriver=systemd"],
  "runtimes": {"capture": {"path": "$W"}},
  "default-runtime": "capture"
}
EOF
    systemctl restart docker || { journalctl -u docker --no-pager | tail -30; fail=1; return; }
    local d=(docker)
    run setup docker "${d[@]}" import --change "ENV PATH=/bin" "$SHARE/busybox-rootfs.tar" "$IMG"
    run run docker "${d[@]}" run --rm --security-opt apparmor=unconfined "$IMG" true
    run run-limits docker "${d[@]}" run --rm --security-opt apparmor=unconfined --memory 64m --pids-limit 50 --cpus 0.5 "$IMG" true
    run exec-target docker "${d[@]}" run -d --security-opt apparmor=unconfined --name fxexec --memory 64m "$IMG" sleep 1000
    sleep 1
    units exec-target docker
    run exec docker "${d[@]}" exec fxexec true
    run stats docker "${d[@]}" stats --no-stream fxexec
    run rm docker "${d[@]}" rm -f fxexec
    units after-rm docker
}

t0=$(date +%s)
echo "guest: $(uname -r), pid1 $(cat /proc/1/comm), $(systemctl is-system-running 2>&1)"
systemctl --no-pager --failed --no-legend | sed 's/^/failed unit: /'
versions
for e in ${CAPTURE_ENGINES:-containerd podman docker}; do
    "capture_$e"
done
cp -r "$CAP"/. "$OUT"/
journalctl --no-pager -u containerd -u docker > "$OUT/journal.txt" 2>&1
echo "capture done in $(( $(date +%s) - t0 )) s, fail=$fail"
exit $fail
