//! config.md "apparmorProfile"/"selinuxLabel", config-linux.md "mountLabel":
//! on a host without the LSM, a label cannot be honoured; berth refuses the
//! container (a container expecting confinement must not run unconfined),
//! names the field, and leaves nothing behind.

use conformance::*;
use serde_json::json;

fn apparmor_on() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
}

fn selinux_on() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

fn refused(name: &str, ptr: &str, value: serde_json::Value, field: &str) {
    let mut c = TestContainer::new(name);
    c.set(ptr, value);
    c.write_config();
    let o = c.create();
    o.fails();
    assert!(o.stderr.contains(field) || o.log.contains(field), "error must name {field}: {o:?}");
    c.assert_no_leaks(None);
}

#[test]
fn apparmor_profile_without_apparmor_is_refused() {
    if apparmor_on() || skip_for("runc version", "runc ignores a profile when AppArmor is off") {
        return;
    }
    refused("lsm-apparmor", "/process/apparmorProfile", json!("berth-test-profile"), "process.apparmorProfile");
}

#[test]
fn selinux_label_without_selinux_is_refused() {
    if selinux_on() || skip_for("runc version", "runc ignores a label when SELinux is off") {
        return;
    }
    refused("lsm-selinux", "/process/selinuxLabel", json!("system_u:system_r:container_t:s0"), "process.selinuxLabel");
}

#[test]
fn mount_label_without_selinux_is_refused() {
    if selinux_on() || skip_for("runc version", "runc ignores a mount label when SELinux is off") {
        return;
    }
    refused("lsm-mountlabel", "/linux/mountLabel", json!("system_u:object_r:container_file_t:s0"), "linux.mountLabel");
}

#[test]
fn exec_with_apparmor_without_apparmor_is_refused() {
    if apparmor_on() || skip_for("runc version", "runc ignores a profile when AppArmor is off") {
        return;
    }
    let mut c = TestContainer::new("lsm-exec");
    c.args(&["sleep", "100"]);
    c.create().ok();
    c.start().ok();
    let o = c.cmd(&["exec", "--apparmor", "berth-test-profile", &c.id, "true"]);
    o.fails();
    assert!(o.stderr.contains("AppArmor"), "{o:?}");
    c.delete_force().ok();
    c.assert_no_leaks(None);
}
