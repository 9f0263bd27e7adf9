#!/bin/bash
# guest.sh - run a host-built command inside a throwaway pure-cgroup2 guest
# (the workplace's cgv2-vm tool: Debian 12, kernel 6.1 booted with
# cgroup_no_v1=all, under qemu).
#
#   scripts/guest.sh build               build or refresh the cached guest
#   scripts/guest.sh run [--] CMD ARG... boot (shell init), run CMD, exit with its status
#   GUEST_INIT=systemd scripts/guest.sh run ...   systemd as PID 1 (D-Bus, delegated service)
#
# The guest image carries the engines the systemd suite drives; the list is
# part of the tool's cache key, so it lives here only.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

GUEST_CACHE=${GUEST_CACHE:-/var/cache/berth/cgv2-vm}
GUEST_SHARE=${GUEST_SHARE:-/var/tmp/berth-guest}
GUEST_PKGS="containerd runc crun podman conmon containernetworking-plugins golang-github-containers-common iptables uidmap strace gcc libc6-dev docker.io python3-tomlkit apparmor"

cgv2_vm() {
    local t
    for t in "${CGV2_VM:-}" "$ROOT/../shared/tools/cgv2-vm/cgv2-vm.sh" /work/shared/tools/cgv2-vm/cgv2-vm.sh; do
        [ -n "$t" ] && [ -f "$t" ] && { echo "$t"; return 0; }
    done
    return 1
}

main() {
    local vm
    vm=$(cgv2_vm) || { echo "guest.sh: the cgv2-vm tool is not on this machine (set CGV2_VM)" >&2; exit 3; }
    export CGV2_EXTRA_PKGS=$GUEST_PKGS
    export CGV2_INIT=${GUEST_INIT:-sh}
    export CGV2_MEM=${CGV2_MEM:-2048}
    case "${1:-}" in
        build) bash "$vm" "$GUEST_CACHE" --build ;;
        run)
            shift
            [ "${1:-}" = -- ] && shift
            mkdir -p "$GUEST_SHARE"
            bash "$vm" "$GUEST_CACHE" "$GUEST_SHARE" -- "$@"
            ;;
        *) echo "usage: $0 build | run [--] CMD [ARG...]" >&2; exit 2 ;;
    esac
}

[ "${BASH_SOURCE[0]}" = "$0" ] && main "$@"
