//! Writes the busybox test image as files an engine imports offline, for
//! suites that run the engines somewhere else (the systemd guest of
//! `scripts/guest-systemd.sh`):
//!
//! - `OUT/busybox-oci.tar`: an OCI image layout for `ctr images import`
//!   (named [`integration::IMAGE`]);
//! - `OUT/busybox-rootfs.tar`: the plain root filesystem tar for
//!   `podman import` and `docker import`.
//!
//! Usage: `cargo run -p integration --example guest_images -- OUT`

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: guest_images OUT_DIR");
        std::process::exit(2)
    }));
    let res = std::fs::create_dir_all(&out)
        .and_then(|()| integration::image::write_busybox_image(&out.join("busybox-oci.tar"), integration::IMAGE))
        .and_then(|()| integration::image::busybox_rootfs_tar())
        .and_then(|tar| std::fs::write(out.join("busybox-rootfs.tar"), tar));
    if let Err(e) = res {
        eprintln!("guest_images: {}: {e}", out.display());
        std::process::exit(1);
    }
}
