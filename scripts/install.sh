#!/usr/bin/env bash
# Build and install Berth, and point container engines at it.
#
# usage: sudo bash scripts/install.sh [options]
#   --prefix DIR          install under DIR (default /usr/local): DIR/bin/berth,
#                         DIR/bin/containerd-shim-berth-v2, man pages in
#                         DIR/share/man/man8, completions for bash, zsh, fish
#   --configure ENGINE    add Berth to docker, podman or containerd's config
#                         (repeat, or comma-separate: docker,containerd)
#   --default             also make Berth the default runtime of those engines
#   --uninstall           remove the files and take Berth out of the engines'
#                         configs (those named, else every one it configured)
#   --no-build            install target/ binaries as built (no cargo)
#   --no-reload           do not reload docker / restart containerd
#   --docker-config F     (default /etc/docker/daemon.json)
#   --podman-config F     (default /etc/containers/containers.conf)
#   --containerd-config F (default /etc/containerd/config.toml)
#   -h, --help
# DESTDIR=/some/dir puts the installed files under it while every path
# written in configs stays the final one (for packaging and tests); the
# engines' config files are edited where the options name them.
#
# Engines: only Berth's entries are added (README "Use Berth with ..."),
# the rest of each file is kept, the original is copied once to
# <file>.pre-berth, and running again changes nothing. dockerd rereads its
# runtimes on SIGHUP (`systemctl reload docker`), containerd needs a
# restart (its containers keep running); Podman reads its config per call.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/lib.sh"

prefix=/usr/local
engines=()
make_default=0
uninstall=0
build=1
reload=1
declare -A config=(
    [docker]=/etc/docker/daemon.json
    [podman]=/etc/containers/containers.conf
    [containerd]=/etc/containerd/config.toml
)
declare -A explicit=()  # engines whose file an option named

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

need_value() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) need_value "$@"; prefix=$2; shift ;;
        --prefix=*) prefix=${1#*=} ;;
        --configure) need_value "$@"; IFS=, read -ra e <<<"$2"; engines+=("${e[@]}"); shift ;;
        --configure=*) IFS=, read -ra e <<<"${1#*=}"; engines+=("${e[@]}") ;;
        --default) make_default=1 ;;
        --uninstall) uninstall=1 ;;
        --no-build) build=0 ;;
        --no-reload) reload=0 ;;
        --docker-config|--podman-config|--containerd-config)
            # Absolute: the manifest must name the file from anywhere.
            need_value "$@"; k=${1#--}; k=${k%-config}
            config[$k]=$(realpath -m -- "$2"); explicit[$k]=1; shift ;;
        -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done
for e in ${engines[@]+"${engines[@]}"}; do
    case "$e" in docker|podman|containerd) ;; *) die "--configure: unknown engine '$e' (docker, podman or containerd)" ;; esac
done
case "$prefix" in /*) ;; *) die "--prefix must be an absolute path: $prefix" ;; esac
[ "$(id -u)" -eq 0 ] || [ -n "${DESTDIR:-}" ] || die "must run as root (try: sudo bash $0 ...)"

dest=${DESTDIR:-}
bindir=$prefix/bin
mandir=$prefix/share/man/man8
bashdir=$prefix/share/bash-completion/completions
zshdir=$prefix/share/zsh/site-functions
fishdir=$prefix/share/fish/vendor_completions.d
manifest=$prefix/share/berth/installed
engine_tool=("$repo/scripts/engine-config.py")

# The engine editor needs Python's tomlkit (format-preserving TOML).
ensure_tomlkit() {
    /usr/bin/python3 -c 'import tomlkit' 2>/dev/null && return 0
    command -v apt-get >/dev/null || die "python3-tomlkit is needed to edit engine configs (not found, and no apt-get)"
    say "installing python3-tomlkit (to edit TOML configs in place)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-tomlkit >/dev/null \
        || die "apt-get install python3-tomlkit failed"
}

# reload_engine ENGINE add|remove: make a running engine read its new config.
reload_engine() {
    [ "$reload" -eq 1 ] && [ -z "$dest" ] || return 0
    command -v systemctl >/dev/null && [ -d /run/systemd/system ] || {
        say "$1: restart it to read ${config[$1]} (no systemd here)"
        return 0
    }
    case "$1" in
        docker)
            if systemctl is-active --quiet docker; then
                systemctl reload docker && say "docker: reloaded (runtimes are reread on SIGHUP)"
                # dockerd's reload replaces its runtimes and default only
                # with those daemon.json sets: what the file no longer sets
                # (no "runtimes" left, no "default-runtime") stays.
                [ "$2" = add ] || say "docker: a reload keeps what daemon.json no longer sets:" \
                    "'systemctl restart docker' if it sets no \"runtimes\" now, or Berth was the default"
            fi ;;
        containerd)
            if systemctl is-active --quiet containerd; then
                systemctl restart containerd && say "containerd: restarted (running containers are kept)"
            fi ;;
        podman) ;;
    esac
}

# configure add|remove ENGINE [restore]: edit one engine's file.
configure() {
    local action=$1 engine=$2 file=${config[$2]} out args=()
    [ "$action" = add ] && [ "$make_default" -eq 1 ] && args+=(--default)
    [ "$action" = remove ] && args+=(--restore-default "${3:-null}")
    [ "$action" = remove ] && [ "${4:-0}" = 1 ] && args+=(--created)
    out=$(/usr/bin/python3 "${engine_tool[@]}" "$action" "$engine" "$file" --bin "$bindir" ${args[@]+"${args[@]}"}) \
        || die "$engine: could not edit $file (left as it was)"
    if [[ $out == *'"changed": true'* ]]; then
        say "$engine: $([ "$action" = add ] && echo "added Berth to" || echo "took Berth out of") $file"
        reload_engine "$engine" "$action"
    else
        say "$engine: $file $([ "$action" = add ] && echo "has Berth already" || echo "has no Berth entries")"
    fi
    printf '%s\n' "$out"
}

# The manifest's engine records, one a line: engine NAME PREVIOUS-DEFAULT
# (JSON, no spaces) CREATED (0/1) FILE.
records=()
[ -f "$dest$manifest" ] && mapfile -t records < <(grep '^engine ' "$dest$manifest" || true)

# recorded ENGINE [FILE]: print the record(s) of ENGINE (for FILE) as
# "NAME PREVIOUS CREATED FILE".
recorded() {
    local r name prev made file
    for r in ${records[@]+"${records[@]}"}; do
        read -r _ name prev made file <<<"$r"
        [ "$name" = "$1" ] && { [ $# -eq 1 ] || [ "$file" = "$2" ]; } && echo "$name $prev $made $file"
    done
    return 0
}

if [ "$uninstall" -eq 1 ]; then
    # The files to take Berth out of, each with the default runtime it had
    # before: every one the manifest recorded, or those of the engines
    # named (the file an option names, else the recorded ones, else the
    # engine's usual file).
    todo=()
    if [ ${#engines[@]} -eq 0 ]; then
        for r in ${records[@]+"${records[@]}"}; do todo+=("${r#engine }"); done
    fi
    for e in ${engines[@]+"${engines[@]}"}; do
        if [ -n "${explicit[$e]:-}" ]; then
            mapfile -t found < <(recorded "$e" "${config[$e]}")
        else
            mapfile -t found < <(recorded "$e")
        fi
        [ ${#found[@]} -gt 0 ] || found=("$e null 0 ${config[$e]}")
        todo+=("${found[@]}")
    done
    [ ${#todo[@]} -eq 0 ] || ensure_tomlkit
    for t in ${todo[@]+"${todo[@]}"}; do
        read -r e restore created file <<<"$t"
        config[$e]=$file
        # A config that cannot be edited still names Berth: keep the binaries.
        out=$(configure remove "$e" "$restore" "$created") \
            || die "uninstall stopped: $file still names Berth; nothing else removed"
        grep -v '^{' <<<"$out" || true
    done
    for f in "$bindir/berth" "$bindir/containerd-shim-berth-v2" "$bashdir/berth" "$zshdir/_berth" \
             "$fishdir/berth.fish" "$mandir"/berth.8 "$mandir"/berth-*.8 "$manifest"; do
        [ -e "$dest$f" ] && rm -f "$dest$f" && say "removed $f"
    done
    rmdir "$dest$prefix/share/berth" 2>/dev/null || true
    say "uninstalled"
    exit 0
fi

# --- build ---------------------------------------------------------------
musl=x86_64-unknown-linux-musl
# Where cargo builds (CARGO_TARGET_DIR, relative to here, as cargo reads it).
target=${CARGO_TARGET_DIR:-$repo/target}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac
berth_bin=$target/release/berth
shim_bin=$target/release/containerd-shim-berth-v2
[ -x "$target/$musl/release/containerd-shim-berth-v2" ] && shim_bin=$target/$musl/release/containerd-shim-berth-v2
assets=$(mktemp -d)
trap 'rm -rf "$assets"' EXIT
if [ "$build" -eq 1 ]; then
    bash "$repo/scripts/setup.sh"
    ensure_cargo_path
    cd "$repo"
    say "building berth (release)"
    cargo build --release --locked -p berth
    # The shim lives as long as its containers: static musl keeps it small.
    if rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
        cargo build --release --locked -p containerd-shim-berth-v2 --target "$musl"
        shim_bin=$target/$musl/release/containerd-shim-berth-v2
    else
        cargo build --release --locked -p containerd-shim-berth-v2
        shim_bin=$target/release/containerd-shim-berth-v2
    fi
fi
[ -x "$berth_bin" ] || die "$berth_bin not built (run without --no-build)"
[ -x "$shim_bin" ] || die "$shim_bin not built (run without --no-build)"
# Completions and man pages come from the clap definitions.
if [ "$build" -eq 1 ]; then
    cargo run --release --locked -q -p berth --example gen-assets -- "$assets"
elif [ -x "$target/release/examples/gen-assets" ]; then
    "$target/release/examples/gen-assets" "$assets"
else
    say "no completions or man pages: target/release/examples/gen-assets not built (run without --no-build)"
fi

# --- install -------------------------------------------------------------
install -d "$dest$bindir"
install -m 0755 "$berth_bin" "$dest$bindir/berth"
install -m 0755 "$shim_bin" "$dest$bindir/containerd-shim-berth-v2"
say "installed $bindir/berth ($("$dest$bindir/berth" --version | head -1)) and $bindir/containerd-shim-berth-v2"
if [ -d "$assets/man/man8" ]; then
    install -d "$dest$mandir" "$dest$bashdir" "$dest$zshdir" "$dest$fishdir"
    install -m 0644 "$assets"/man/man8/*.8 "$dest$mandir/"
    install -m 0644 "$assets/completions/berth.bash" "$dest$bashdir/berth"
    install -m 0644 "$assets/completions/_berth" "$dest$zshdir/_berth"
    install -m 0644 "$assets/completions/berth.fish" "$dest$fishdir/berth.fish"
    say "installed man pages in $mandir and completions for bash, zsh and fish"
fi

# --- engines -------------------------------------------------------------
install -d "$dest$(dirname "$manifest")"
touch "$dest$manifest"
[ ${#engines[@]} -eq 0 ] || ensure_tomlkit
for e in ${engines[@]+"${engines[@]}"}; do
    out=$(configure add "$e")
    grep -v '^{' <<<"$out" || true
    # Record the default runtime as it was before Berth's first change
    # of this file, for --uninstall to put back.
    if [ -z "$(recorded "$e" "${config[$e]}")" ]; then
        fields=$(tail -n1 <<<"$out" | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps(r["previous_default"]).replace(" ", ""), int(r["created"]))')
        echo "engine $e $fields ${config[$e]}" >>"$dest$manifest"
        records+=("engine $e $fields ${config[$e]}")
    fi
    command -v "$e" >/dev/null || command -v "${e}d" >/dev/null \
        || say "$e: not installed here; its config is ready for when it is"
done
say "done; 'berth check' reports what this host supports"
