//! The probe: the shell script that replaces `process.args` and prints what
//! the process sees as `key=value` lines, and [`Probe`], what it printed.

use conformance::*;
use serde_json::Value;

/// What the probe printed: `key=value` lines.
pub struct Probe {
    /// The probe's stdout.
    pub out: String,
    /// The probe's stderr.
    pub err: String,
}

impl Probe {
    /// Every value printed for `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.out.lines().filter_map(|l| l.trim_end_matches('\r').split_once('=')).filter(|(k, _)| *k == key).map(|(_, v)| v).collect()
    }
    /// The first value printed for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.all(key).into_iter().next()
    }
    /// Whether the probe got to its end (`probe-done`).
    pub fn done(&self) -> bool {
        self.out.lines().any(|l| l.trim_end_matches('\r') == "probe-done")
    }
    /// The topmost mountinfo entry at `dest`: (options, optional fields, fstype).
    pub fn mount(&self, dest: &str) -> Option<(String, String, String)> {
        self.all("mi")
            .into_iter()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                let sep = f.iter().position(|x| *x == "-")?;
                (f.get(4)? == &dest).then(|| (f[5].to_string(), f[6..sep].join(" "), f[sep + 1].to_string()))
            })
            .next_back()
    }
}

const PROBE_BASE: &str = r#"p() { echo "$1=$2"; }
p uid "$(id -u)"; p gid "$(id -g)"; p groups "$(id -G)"
p home "${HOME-<unset>}"
p cwd "$(pwd)"
for k in net ipc uts pid mnt cgroup user; do p "ns:$k" "$(readlink /proc/self/ns/$k)"; done
p lo "$(cat /sys/class/net/lo/flags 2>&1)"
p hostname "$(hostname)"
p domainname "$(cat /proc/sys/kernel/domainname)"
if echo probe-stdout >> /dev/stdout; then p stdout ok; else p stdout fail; fi
while IFS=":	" read -r k v; do case "$k" in Cap*|NoNewPrivs|Seccomp) p "$k" "$(echo $v)";; esac; done < /proc/self/status
p nofile "$(ulimit -n)"; p nproc "$(ulimit -u)"; p umask "$(umask)"
env | while read -r l; do p env "$l"; done
while read -r l; do p mi "$l"; done < /proc/self/mountinfo
p rootwrite "$( (touch /.probe-write && echo ok) 2>&1)"
"#;

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The probe for a process of `cfg` (a whole config; for exec only its
/// `process` matters): the base lines plus what this config asks for.
pub fn probe_script(cfg: &Value, extra: &str, hold: bool) -> String {
    let mut s = String::from(PROBE_BASE);
    if let Some(m) = cfg.pointer("/linux/sysctl").and_then(Value::as_object) {
        for k in m.keys() {
            s += &format!("p {} \"$(echo $(cat /proc/sys/{}))\"\n", sh_quote(&format!("sysctl:{k}")), k.replace('.', "/"));
        }
    }
    for p in strs(cfg, "/linux/maskedPaths") {
        let q = sh_quote(&p);
        s += &format!(
            "if [ -d {q} ]; then p 'masked:{p}' \"$(ls -A {q} | wc -l)\"; elif [ -e {q} ]; then p 'masked:{p}' \"$(wc -c < {q} 2>&1)\"; else p 'masked:{p}' absent; fi\n"
        );
    }
    for p in strs(cfg, "/linux/readonlyPaths") {
        s += &format!("if [ -e {} ]; then p 'exists:{p}' yes; else p 'exists:{p}' no; fi\n", sh_quote(&p));
    }
    for d in cfg.pointer("/linux/devices").and_then(Value::as_array).into_iter().flatten() {
        let p = d["path"].as_str().unwrap_or_default();
        let q = sh_quote(p);
        s += &format!("p 'dev:{p}' \"$(stat -c '%F %t:%T %a %u:%g' {q} 2>&1)\"\n");
        s += &format!("p 'devr:{p}' \"$( (exec 3<{q} && echo ok) 2>&1)\"\n");
        s += &format!("p 'devw:{p}' \"$( (exec 3>{q} && echo ok) 2>&1)\"\n");
    }
    for m in cfg.pointer("/mounts").and_then(Value::as_array).into_iter().flatten() {
        if m["type"] == "tmpfs" {
            let d = m["destination"].as_str().unwrap_or_default();
            let q = sh_quote(d);
            s += &format!("p 'mode:{d}' \"$(stat -c %a {q})\"; p 'ls:{d}' \"$(ls -A {q} | tr '\\n' ' ')\"\n");
        }
    }
    s += extra;
    s += "\necho probe-done\n";
    if hold {
        // Kept alive so the test can read the cgroup from the host.
        s += "exec sleep 60\n";
    }
    s
}

/// The strings of the array at `ptr` in `v` (none if absent).
pub fn strs(v: &Value, ptr: &str) -> Vec<String> {
    v.pointer(ptr).and_then(Value::as_array).map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// The mask of capability set `set` (`bounding`, ...) of a `process` object.
pub fn caps(v: &Value, set: &str) -> u64 {
    let names = strs(v, &format!("/capabilities/{set}"));
    cap_mask(&names.iter().map(String::as_str).collect::<Vec<_>>())
}
