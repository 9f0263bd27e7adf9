#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine (as root) to build and test Berth.
# Idempotent: when every package is already installed apt is not called at
# all, and a Rust toolchain is only installed when none >= 1.85 is found.
#
# usage: scripts/setup.sh [--tests]
#   --tests   also install what the test suites need
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

want_tests=0
for arg in "$@"; do
    case "$arg" in
        --tests) want_tests=1 ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

die() { echo "setup.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (try: sudo bash $0)"
command -v apt-get >/dev/null || die "apt-get not found: this script targets Debian 12"

# What building Berth and trying it by hand need.
build_pkgs=(build-essential pkg-config libseccomp-dev busybox-static
            runc crun strace hyperfine jq iproute2)
# What the test suites need on top: the engines the integration tests
# drive (podman brings conmon; docker.io brings dockerd and its client),
# docker-compose 1.29 for the compose scenario, and what the engines'
# networking needs inside the tests' own namespaces (iptables for dockerd,
# netavark + aardvark-dns for Podman; util-linux's unshare and nsenter;
# python3-tomlkit for scripts/install.sh's engine config edits;
# protobuf-compiler: the CRI client the tests use, the k8s-cri crate,
# compiles the CRI protos with protoc when it builds).
test_pkgs=(containerd criu podman docker.io docker-compose iptables netavark aardvark-dns util-linux
           python3-tomlkit protobuf-compiler)

pkgs=("${build_pkgs[@]}")
[ "$want_tests" -eq 0 ] || pkgs+=(${test_pkgs[@]+"${test_pkgs[@]}"})

# apt_install PKG...: install quietly; on failure print apt's whole output.
apt_install() {
    local log rc=0
    log=$(mktemp)
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq "$@"; } >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$log" >&2
        rm -f "$log"
        die "apt-get failed (exit $rc) installing: $*"
    fi
    rm -f "$log"
}

missing=()
for p in "${pkgs[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] \
        || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}"
    apt_install "${missing[@]}"
fi

# Rust: the dependencies need rustc >= 1.85 (clap 4.6 is edition 2024), so
# Debian 12's own rustc (1.63) cannot build Berth. Prefer a toolchain that is
# already there (rustup's lives in ~/.cargo/bin, which a root shell under
# sudo may not have on PATH); otherwise install rustup's stable toolchain.
min_rust=1.85
rust_ok() {
    command -v cargo >/dev/null && command -v rustc >/dev/null || return 1
    local v
    v=$(rustc --version | awk '{print $2}')
    [ "$(printf '%s\n%s\n' "$min_rust" "$v" | sort -V | head -1)" = "$min_rust" ]
}
ensure_cargo_path
if ! rust_ok; then
    echo "setup.sh: no rustc >= $min_rust found, installing rustup's stable toolchain"
    apt_install curl ca-certificates
    log=$(mktemp)
    if ! curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
        | sh -s -- -y --profile minimal --component rustfmt,clippy --default-toolchain stable >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        die "could not install Rust from https://sh.rustup.rs; install rustc >= $min_rust and cargo, then rerun"
    fi
    rm -f "$log"
    ensure_cargo_path
fi
rust_ok || die "rustc >= $min_rust and cargo are needed; found: $(rustc --version 2>&1 || true)"

# The tests check formatting and lints (scripts/test.sh): rustfmt and
# clippy must be there.
if [ "$want_tests" -eq 1 ] && { ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; }; then
    command -v rustup >/dev/null && rustup component add rustfmt clippy >/dev/null 2>&1 || true
    cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1 \
        || die "cargo fmt and cargo clippy are needed by the tests (rustup component add rustfmt clippy)"
fi

# The shim is built for musl when rustup can add that target: a static musl
# binary keeps each long-lived shim near 1 MB resident, static glibc near 2.
# Without it everything still builds and runs (the shim for the host target).
musl=x86_64-unknown-linux-musl
if command -v rustup >/dev/null && ! rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
    if timeout 300 rustup target add "$musl" >/dev/null 2>&1; then
        echo "setup.sh: added the $musl target (for the shim)"
    else
        echo "setup.sh: could not add the $musl target; the shim will be built for the host" >&2
    fi
fi

echo "setup.sh: ready: $(cargo --version); $(runc --version | head -1); $(crun --version | head -1)"
