//! Docker 20.10's everyday scenarios through the runtime under test: each
//! test is a group sharing one private dockerd in its own network and mount
//! namespace (see integration::engine). A group runs every scenario, then
//! fails naming each one that failed.

#[path = "scenarios/mod.rs"]
mod scenarios;

use integration::engine::{DockerOpts, Engine};
use integration::scenario::Group;

/// run -it, published port, exec, top, stats, logs -f, lifecycle; the
/// runtime is dockerd's default-runtime.
#[test]
fn docker_everyday() {
    let mut g = Group::new(Engine::docker(DockerOpts::default()));
    scenarios::lifecycle::all(&mut g);
    g.finish();
}

/// Volumes, binds, tmpfs, read-only root, rshared; limits, users, devices.
#[test]
fn docker_storage_and_limits() {
    let mut g = Group::new(Engine::docker(DockerOpts::default()));
    scenarios::storage::all(&mut g);
    scenarios::limits::all(&mut g);
    g.finish();
}

/// Networks, with the runtime registered by `--add-runtime berth=...` and
/// chosen per container with `--runtime berth` (runc stays the default).
#[test]
fn docker_networks_runtime_flag() {
    let mut g = Group::new(Engine::docker(DockerOpts { runtime_flag: true, ..DockerOpts::default() }));
    scenarios::net::all(&mut g);
    g.finish();
}

/// Legacy builder, BuildKit (which runs the `runc` on dockerd's PATH: ours),
/// docker-compose.
#[test]
fn docker_build_and_compose() {
    let mut g = Group::new(Engine::docker(DockerOpts { shadow_runc: true, ..DockerOpts::default() }));
    scenarios::build::docker_all(&mut g);
    g.finish();
}
