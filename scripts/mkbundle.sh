#!/usr/bin/env bash
# Make an OCI bundle from busybox-static.
#
# usage: scripts/mkbundle.sh DIR [ARGS...]
#   DIR    bundle directory (created if missing; rootfs/ and config.json
#          inside it are replaced)
#   ARGS   the container's process.args (default: sh)
# env:
#   CGROUPS_PATH  linux.cgroupsPath (default: /berth-demo/<basename of DIR>)
#   BERTH         berth binary whose `spec` gives the base config
#                 (default: target/release/berth of this repo, if built)
#   BUSYBOX       busybox binary to copy (default: /bin/busybox)
set -euo pipefail

die() { echo "mkbundle.sh: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: $0 DIR [ARGS...]"
dir=$1; shift
[ $# -gt 0 ] || set -- sh

repo=$(cd "$(dirname "$0")/.." && pwd)
busybox=${BUSYBOX:-/bin/busybox}
berth=${BERTH:-$repo/target/release/berth}

command -v jq >/dev/null || die "jq is required (run scripts/setup.sh)"
[ -x "$busybox" ] || die "$busybox not found (apt-get install busybox-static)"
# A dynamically linked busybox would need its libraries in the rootfs too.
if file_out=$(LC_ALL=C ldd "$busybox" 2>&1) && ! grep -q 'not a dynamic' <<<"$file_out"; then
    die "$busybox is dynamically linked; install busybox-static"
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cgroups_path=${CGROUPS_PATH:-/berth-demo/$(basename "$dir")}
case "$cgroups_path" in /*) ;; *) die "CGROUPS_PATH must be absolute: $cgroups_path" ;; esac

# --- rootfs -------------------------------------------------------------
rootfs=$dir/rootfs
rm -rf "$rootfs"
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,var,run}
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
# One symlink per applet at the path busybox itself lists for it. This is
# done from the host rather than with `busybox --install -s` in a chroot,
# because --install derives the link target from /proc/self/exe, which is
# not mounted inside a bare chroot.
while read -r applet; do
    [ "$applet" = bin/busybox ] || ln -sf /bin/busybox "$rootfs/$applet"
done < <("$busybox" --list-full)

cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
tty:x:5:
nogroup:x:65534:
GROUP

# --- config.json --------------------------------------------------------
# Prefer the runtime's own default (so the bundle tracks what `berth spec`
# emits); fall back to a built-in runc-like default while berth cannot.
base=
if [ -x "$berth" ]; then
    tmp=$(mktemp -d)
    if (cd "$tmp" && "$berth" spec) >/dev/null 2>&1 && jq -e .ociVersion "$tmp/config.json" >/dev/null 2>&1; then
        base=$(cat "$tmp/config.json")
    fi
    rm -rf "$tmp"
fi
if [ -z "$base" ]; then
    base=$(cat <<'JSON'
{
  "ociVersion": "1.3.0",
  "process": {
    "terminal": false,
    "user": { "uid": 0, "gid": 0 },
    "args": ["sh"],
    "env": [
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "TERM=xterm"
    ],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [
      { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }
    ],
    "noNewPrivileges": true
  },
  "root": { "path": "rootfs", "readonly": true },
  "hostname": "berth",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
      "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
      "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
    { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
      "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
      "options": ["nosuid", "noexec", "nodev"] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs",
      "options": ["nosuid", "noexec", "nodev", "ro"] }
  ],
  "linux": {
    "resources": {
      "devices": [ { "allow": false, "access": "rwm" } ]
    },
    "namespaces": [
      { "type": "pid" },
      { "type": "network" },
      { "type": "ipc" },
      { "type": "uts" },
      { "type": "mount" },
      { "type": "cgroup" }
    ],
    "maskedPaths": [
      "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
      "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
      "/proc/sched_debug", "/proc/scsi", "/sys/firmware"
    ],
    "readonlyPaths": [
      "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
    ]
  }
}
JSON
)
fi

# One JSON string per argument, so arguments may hold newlines or start
# with a dash (jq 1.6's --args would take those for options).
args_json=$(for a in "$@"; do printf '%s' "$a" | jq -Rs .; done | jq -s .)
jq --argjson args "$args_json" --arg cg "$cgroups_path" '
    .process.args = $args
  | .process.terminal = false
  | .linux.cgroupsPath = $cg
' <<<"$base" >"$dir/config.json.tmp"
mv "$dir/config.json.tmp" "$dir/config.json"
