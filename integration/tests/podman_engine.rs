//! Podman 4.3's everyday scenarios through the runtime under test: each test
//! is a group sharing one private Podman configuration whose commands run in
//! a network and mount namespace of the test's own (netavark,
//! aardvark-dns). A group runs every scenario, then fails naming each one
//! that failed.

#[path = "scenarios/mod.rs"]
mod scenarios;

use integration::engine::Engine;
use integration::scenario::Group;

/// run -it, published port, exec, top, stats, logs -f, lifecycle.
#[test]
fn podman_everyday() {
    let mut g = Group::new(Engine::podman());
    scenarios::lifecycle::all(&mut g);
    g.finish();
}

/// Volumes, binds, tmpfs, read-only root, rshared; limits, users, devices.
#[test]
fn podman_storage_and_limits() {
    let mut g = Group::new(Engine::podman());
    scenarios::storage::all(&mut g);
    scenarios::limits::all(&mut g);
    g.finish();
}

/// Networks, a pod over 127.0.0.1; podman build.
#[test]
fn podman_networks_pods_build() {
    let mut g = Group::new(Engine::podman());
    scenarios::net::all(&mut g);
    g.scenario("pod_two_containers_localhost", scenarios::net::pod_two_containers_localhost);
    g.scenario("podman_build_run_and_user", scenarios::build::podman_build);
    g.finish();
}

/// `play kube` takes no cgroup parent (its pods go to `/libpod_parent`), so
/// this Podman's namespace is also a cgroup namespace rooted at ours.
#[test]
fn podman_play_kube() {
    let mut g = Group::new(Engine::podman_in_cgroupns());
    g.scenario("play_kube", scenarios::net::play_kube);
    g.finish();
}
