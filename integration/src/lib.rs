//! Engine-driven tests (containerd, dockerd, podman) live here; see issue 6.
