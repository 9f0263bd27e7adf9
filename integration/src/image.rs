//! Building a tiny OCI image offline: busybox-static as the only file, its
//! applets as symlinks, one uncompressed layer, packed as an OCI image layout
//! tar that `ctr images import` accepts.

use std::path::Path;

#[path = "../../shim/src/sha256.rs"]
mod sha256;

/// Applets linked to busybox in the image.
const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "true", "false", "ls", "ps", "id", "env", "kill", "yes", "head", "dd", "tty", "stty",
    // For the engines' everyday scenarios (web server, DNS, mounts, users).
    "httpd", "wget", "nc", "nslookup", "mkdir", "touch", "mount", "umount", "grep", "stat", "rm", "ip", "hostname", "seq", "wc", "whoami", "chmod", "test",
    "tr", "printf", "ln", "date", "timeout", "tail", "usleep", "cut", "sort", "readlink",
];

/// Minimal ustar writer.
#[derive(Default)]
pub struct Tar {
    buf: Vec<u8>,
}

fn octal(field: &mut [u8], value: u64) {
    let s = format!("{:0width$o}", value, width = field.len() - 1);
    field[..s.len()].copy_from_slice(s.as_bytes());
    field[s.len()] = 0;
}

impl Tar {
    fn header(&mut self, name: &str, mode: u32, size: u64, kind: u8, link: &str) {
        let mut h = [0u8; 512];
        assert!(name.len() < 100 && link.len() < 100, "tar name too long: {name}");
        h[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut h[100..108], mode as u64);
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], size);
        octal(&mut h[136..148], 1_700_000_000);
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        self.buf.extend_from_slice(&h);
    }

    /// Adds a directory (`name` ends without a slash).
    pub fn dir(&mut self, name: &str) {
        self.dir_mode(name, 0o755);
    }

    /// Adds a directory with permission bits `mode`.
    pub fn dir_mode(&mut self, name: &str, mode: u32) {
        self.header(&format!("{name}/"), mode, 0, b'5', "");
    }

    /// Adds a regular file.
    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.header(name, mode, data.len() as u64, b'0', "");
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.extend(std::iter::repeat_n(0, pad));
    }

    /// Adds a symbolic link.
    pub fn symlink(&mut self, name: &str, target: &str) {
        self.header(name, 0o777, 0, b'2', target);
    }

    /// Ends the archive and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&[0u8; 1024]);
        self.buf
    }
}

fn digest(data: &[u8]) -> String {
    format!("sha256:{}", sha256::hex_digest(data))
}

/// The busybox root filesystem as a plain tar (the image's one layer);
/// what `podman import` and `docker import` take.
pub fn busybox_rootfs_tar() -> std::io::Result<Vec<u8>> {
    let busybox = std::fs::read("/bin/busybox")?;
    let mut layer = Tar::default();
    for d in ["bin", "dev", "etc", "proc", "sys", "root", "home", "home/user"] {
        layer.dir(d);
    }
    layer.dir_mode("tmp", 0o1777);
    // A directory whose mode a tmpfs mounted on it keeps (runc's behaviour).
    layer.dir_mode("secret", 0o710);
    layer.file("secret/keep", 0o644, b"kept\n");
    layer.file("bin/busybox", 0o755, &busybox);
    for a in APPLETS {
        layer.symlink(&format!("bin/{a}"), "busybox");
    }
    layer.file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n");
    layer.file("etc/group", 0o644, b"root:x:0:\nuser:x:1000:\n");
    Ok(layer.finish())
}

/// Writes an OCI image layout tar holding busybox at `out`, named `name`
/// (e.g. `docker.io/library/berth-busybox:test`).
pub fn write_busybox_image(out: &Path, name: &str) -> std::io::Result<()> {
    let layer = busybox_rootfs_tar()?;
    let layer_d = digest(&layer);

    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["PATH=/bin"],"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["{layer_d}"]}}}}"#
    );
    let config_d = digest(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_d}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_d}","size":{}}}]}}"#,
        config.len(),
        layer.len()
    );
    let manifest_d = digest(manifest.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest_d}","size":{},"platform":{{"architecture":"amd64","os":"linux"}},"annotations":{{"io.containerd.image.name":"{name}","org.opencontainers.image.ref.name":"{}"}}}}]}}"#,
        manifest.len(),
        name.rsplit(':').next().unwrap_or("latest")
    );

    let mut outer = Tar::default();
    outer.file("oci-layout", 0o644, br#"{"imageLayoutVersion":"1.0.0"}"#);
    outer.file("index.json", 0o644, index.as_bytes());
    outer.dir("blobs");
    outer.dir("blobs/sha256");
    for (d, data) in [(&layer_d, &layer[..]), (&config_d, config.as_bytes()), (&manifest_d, manifest.as_bytes())] {
        outer.file(&format!("blobs/sha256/{}", &d[7..]), 0o644, data);
    }
    std::fs::write(out, outer.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_header_checksum_is_valid() {
        let mut t = Tar::default();
        t.file("a", 0o644, b"hi");
        let b = t.finish();
        let mut h = b[..512].to_vec();
        let stored = u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        h[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, h.iter().map(|&x| x as u32).sum::<u32>());
        assert_eq!(b.len(), 512 + 512 + 1024);
    }
}
