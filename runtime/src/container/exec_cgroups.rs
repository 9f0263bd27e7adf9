//! runc's `exec --cgroup [CONTROLLER[,CONTROLLER]:]PATH`: the cgroups an
//! exec'd process joins instead of the container's own.
//!
//! - `PATH` alone (given once) is a sub-cgroup of the container's cgroup in
//!   every hierarchy;
//! - `CONTROLLER[,CONTROLLER]:PATH`, repeatable for different controllers,
//!   applies to the v1 hierarchies of those controllers only; the others
//!   keep the container's own. On a cgroup2-only host a controller prefix
//!   is an error, as runc's.
//!
//! The sub-cgroups must exist: joining one that does not fails the exec.

use crate::cgroups::Placement;
use crate::error::{Error, Result};
use std::path::PathBuf;

/// The directories the exec'd process joins, for a container whose
/// cgroups are `paths` (as its state records them).
pub(super) fn dirs(paths: &[PathBuf], args: &[String]) -> Result<Vec<PathBuf>> {
    if args.is_empty() {
        return Ok(paths.to_vec());
    }
    // Parse first: a malformed argument is refused whatever the host.
    let subs = parse(args)?;
    resolve(&Placement::from_paths(paths)?, &subs)
}

/// (controller, sub-path) pairs; the controller is "" for every hierarchy.
fn parse(args: &[String]) -> Result<Vec<(&str, &str)>> {
    let bad = |a: &str, why: &str| Error::msg(format!("invalid --cgroup argument {a:?}: {why}")).field("--cgroup");
    let mut subs: Vec<(&str, &str)> = Vec::new();
    for a in args {
        match a.split_once(':') {
            None if args.len() == 1 => subs.push(("", a)),
            None => return Err(bad(a, "with more than one --cgroup, each needs a <controller>: prefix")),
            Some((_, path)) if path.contains(':') => return Err(bad(a, "more than one ':'")),
            Some((ctls, path)) => {
                for ctl in ctls.split(',') {
                    if ctl.is_empty() {
                        return Err(bad(a, "empty controller name"));
                    }
                    if subs.iter().any(|(c, _)| *c == ctl) {
                        return Err(Error::msg(format!("invalid --cgroup arguments: controller {ctl} given more than once")).field("--cgroup"));
                    }
                    subs.push((ctl, path));
                }
            }
        }
    }
    for (_, p) in &subs {
        // The process must stay under the container's cgroup.
        if p.split('/').any(|c| c == "..") {
            return Err(Error::msg(format!("sub-cgroup {p:?} must not contain \"..\"")).field("--cgroup"));
        }
    }
    Ok(subs)
}

/// Apply parsed `subs` to the container's `placement`: one directory per
/// hierarchy, in the placement's order.
fn resolve(placement: &Placement, subs: &[(&str, &str)]) -> Result<Vec<PathBuf>> {
    let named = || subs.iter().filter(|(c, _)| !c.is_empty());
    if !placement.has_v1() && named().next().is_some() {
        return Err(Error::msg("cgroup v2 has no per-controller hierarchies: give --cgroup without a controller").field("--cgroup"));
    }
    for (c, _) in named() {
        if !placement.dirs.iter().any(|(h, _)| h.controllers.iter().any(|x| x == c)) {
            return Err(Error::msg(format!("the container has no cgroup of controller {c}")).field("--cgroup"));
        }
    }
    let mut out = Vec::new();
    for (h, dir) in &placement.dirs {
        let mine: Vec<&str> = subs.iter().filter(|(c, _)| h.controllers.iter().any(|x| x == c)).map(|(_, p)| *p).collect();
        let sub = match mine[..] {
            [] => subs.iter().find(|(c, _)| c.is_empty()).map(|(_, p)| *p),
            [p, ref rest @ ..] if rest.iter().all(|r| *r == p) => Some(p),
            _ => {
                // One v1 hierarchy holds both (cpu,cpuacct): one directory.
                return Err(Error::msg(format!("controllers {} share a hierarchy but name different sub-cgroups", h.controllers.join(","))).field("--cgroup"));
            }
        };
        let sub = sub.map(|p| p.trim_start_matches('/')).filter(|p| !p.is_empty());
        out.push(sub.map_or_else(|| dir.clone(), |p| dir.join(p)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::Hierarchy;

    fn hier(mount: &str, ctls: &[&str]) -> Hierarchy {
        Hierarchy { mountpoint: mount.into(), controllers: ctls.iter().map(|c| c.to_string()).collect(), v2: ctls.is_empty() }
    }

    /// A hybrid host: cpu,cpuacct together, memory, pids, and cgroup2.
    fn hybrid() -> Placement {
        let dirs = [("/cg/cpu,cpuacct", &["cpu", "cpuacct"][..]), ("/cg/memory", &["memory"]), ("/cg/pids", &["pids"]), ("/cg/unified", &[])];
        Placement { dirs: dirs.iter().map(|(m, c)| (hier(m, c), PathBuf::from(format!("{m}/c1")))).collect() }
    }

    fn run(p: &Placement, args: &[&str]) -> Result<Vec<String>> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let subs = parse(&args)?;
        Ok(resolve(p, &subs)?.iter().map(|d| d.display().to_string()).collect())
    }

    #[test]
    fn plain_path_applies_everywhere() {
        assert_eq!(run(&hybrid(), &["/sub"]).unwrap(), ["/cg/cpu,cpuacct/c1/sub", "/cg/memory/c1/sub", "/cg/pids/c1/sub", "/cg/unified/c1/sub"]);
        let v2 = Placement { dirs: vec![(hier("/cg", &[]), "/cg/c1".into())] };
        assert_eq!(run(&v2, &["a/b"]).unwrap(), ["/cg/c1/a/b"]);
        // "/" is the container's own cgroup, as runc reads it.
        assert_eq!(run(&v2, &["/"]).unwrap(), ["/cg/c1"]);
    }

    #[test]
    fn controllers_pick_their_hierarchies() {
        assert_eq!(run(&hybrid(), &["memory:m", "pids:p"]).unwrap(), ["/cg/cpu,cpuacct/c1", "/cg/memory/c1/m", "/cg/pids/c1/p", "/cg/unified/c1"]);
        assert_eq!(run(&hybrid(), &["cpu,memory:s"]).unwrap(), ["/cg/cpu,cpuacct/c1/s", "/cg/memory/c1/s", "/cg/pids/c1", "/cg/unified/c1"]);
        assert_eq!(run(&hybrid(), &["cpu:s", "cpuacct:s"]).unwrap()[0], "/cg/cpu,cpuacct/c1/s");
    }

    #[test]
    fn refusals_name_the_problem() {
        let err = |args: &[&str]| run(&hybrid(), args).unwrap_err().to_string();
        assert!(err(&["memory:a", "memory:b"]).contains("controller memory given more than once"));
        assert!(err(&["a", "b"]).contains("<controller>: prefix"));
        assert!(err(&[":a"]).contains("empty controller"));
        assert!(err(&["memory:a:b"]).contains("more than one ':'"));
        assert!(err(&["../x"]).contains(".."));
        assert!(err(&["rdma:x"]).contains("no cgroup of controller rdma"));
        assert!(err(&["cpu:a", "cpuacct:b"]).contains("share a hierarchy"));
        let v2 = Placement { dirs: vec![(hier("/cg", &[]), "/cg/c1".into())] };
        assert!(run(&v2, &["memory:a"]).unwrap_err().to_string().contains("cgroup v2"));
    }
}
