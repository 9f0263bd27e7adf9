//! Building images FROM the local busybox image (no network): `docker
//! build` with the legacy builder and with BuildKit, `podman build`; and
//! docker-compose up/down of a two-service app sharing a volume.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use integration::engine::Engine;
use integration::scenario::Group;
use integration::{run_timeout, show, which};

use super::{name, ok, out};

/// Docker's build scenarios and compose.
pub fn docker_all(g: &mut Group) {
    g.scenario("docker_build_legacy_builder", |e| docker_build(e, false));
    g.scenario("docker_build_buildkit", |e| docker_build(e, true));
    g.scenario("docker_compose_up_down", docker_compose_up_down);
}

/// A build context: RUN as root, USER 1000, RUN as that user.
fn context(e: &Engine, tag: &str) -> PathBuf {
    let dir = e.sb.dir.join(name(tag));
    std::fs::create_dir_all(&dir).unwrap();
    let dockerfile = format!(
        "FROM {image}\n\
         RUN echo built-by-$(id -u) > /built && mkdir /work && chmod 777 /work\n\
         USER 1000\n\
         RUN id -u > /work/uid && echo home=$HOME >> /work/uid\n\
         CMD [\"sh\", \"-c\", \"cat /built /work/uid; id -u\"]\n",
        image = e.image
    );
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    dir
}

/// What the built image prints when run.
const BUILT: &str = "built-by-0\n1000\nhome=/home/user\n1000";

/// `docker build` (legacy builder or BuildKit), then run the image; the
/// RUN steps went through the runtime under test.
pub fn docker_build(e: &Engine, buildkit: bool) {
    let mark = e.calls_mark();
    let ctx = context(e, if buildkit { "bk" } else { "legacy" });
    let tag = format!("berth-built:{}", if buildkit { "buildkit" } else { "legacy" });
    let mut cmd = e.cmd(&["build", "-t", &tag, &ctx.display().to_string()]);
    cmd.env("DOCKER_BUILDKIT", if buildkit { "1" } else { "0" });
    if buildkit {
        cmd.arg("--progress=plain");
    }
    let o = run_timeout(cmd, Duration::from_secs(180));
    ok(e, &o, "docker build");
    let calls = e.calls_since(mark);
    if buildkit {
        // BuildKit's executor runs `runc run` (our shadow) for each RUN.
        assert!(calls.lines().filter(|l| l.contains(" run ") || l.starts_with("run ")).count() >= 2, "no runtime `run` calls from BuildKit:\n{calls}");
    } else {
        assert!(calls.matches("create --bundle").count() >= 2, "legacy builder's RUN containers not created by the runtime:\n{calls}");
    }
    let o = e.run(&["--rm", "--network", "none", &tag]);
    assert_eq!(ok(e, &o, "run the built image"), BUILT);
    e.ok(&["rmi", &tag]);
    if buildkit {
        e.ok(&["builder", "prune", "--all", "--force"]);
    } else {
        let _ = e.cli(&["image", "prune", "--force"]);
    }
    std::fs::remove_dir_all(&ctx).unwrap();
}

/// `podman build` with RUN and USER steps, then run the image.
pub fn podman_build(e: &Engine) {
    let mark = e.calls_mark();
    let ctx = context(e, "pb");
    let tag = "localhost/berth-built:podman";
    let mut args: Vec<String> = vec!["build".into(), "--pull=never".into(), "-t".into(), tag.into()];
    args.extend(e.build_cgroup_args());
    args.push(ctx.display().to_string());
    let o = run_timeout(e.cmd(&args.iter().map(String::as_str).collect::<Vec<_>>()), Duration::from_secs(180));
    ok(e, &o, "podman build");
    let calls = e.calls_since(mark);
    assert!(calls.lines().filter(|l| l.contains("run ") || l.contains("create ")).count() >= 2, "RUN steps did not use the runtime:\n{calls}");
    let o = e.run(&["--rm", "--network", "none", tag]);
    assert_eq!(ok(e, &o, "run the built image"), BUILT);
    e.ok(&["rmi", tag]);
    std::fs::remove_dir_all(&ctx).unwrap();
}

/// docker-compose (1.29) up of a writer and a reader sharing a volume, then
/// down -v removes containers, network and volume.
pub fn docker_compose_up_down(e: &Engine) {
    let Some(compose) = which("docker-compose") else {
        eprintln!("\n!!! SKIPPING docker_compose_up_down: docker-compose not installed (scripts/setup.sh --tests installs it) !!!\n");
        return;
    };
    let mark = e.calls_mark();
    let dir = e.sb.dir.join(name("compose"));
    std::fs::create_dir_all(&dir).unwrap();
    let yml = format!(
        r#"version: "3"
services:
  writer:
    image: {image}
    command: ["sh", "-c", "echo from-writer > /data/msg"]
    volumes: ["shared:/data"]
  reader:
    image: {image}
    depends_on: ["writer"]
    command: ["sh", "-c", "for i in $$(seq 100); do [ -s /data/msg ] && break; sleep 0.1; done; cat /data/msg"]
    volumes: ["shared:/data"]
volumes:
  shared: {{}}
"#,
        image = e.image
    );
    std::fs::write(dir.join("docker-compose.yml"), yml).unwrap();
    let project = "berthapp";
    let compose_cmd = |args: &[&str]| {
        let mut c = Command::new(&compose);
        c.arg("--project-name").arg(project).arg("--project-directory").arg(&dir);
        c.arg("--file").arg(dir.join("docker-compose.yml")).args(args).current_dir(&dir);
        let probe = e.cmd(&[]);
        for (k, v) in probe.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        c.stdin(std::process::Stdio::null());
        c
    };
    let o = run_timeout(compose_cmd(&["up", "--no-color"]), Duration::from_secs(180));
    assert!(o.status.success(), "docker-compose up: {}\n{}", show(&o), e.tail_calls());
    assert!(out(&o).contains("from-writer"), "reader did not see the writer's volume: {}", show(&o));
    let vols = e.ok(&["volume", "ls", "-q"]);
    assert!(vols.contains(&format!("{project}_shared")), "{vols}");
    let o = run_timeout(compose_cmd(&["down", "-v"]), Duration::from_secs(120));
    assert!(o.status.success(), "docker-compose down -v: {}", show(&o));
    assert!(e.ok(&["volume", "ls", "-q"]).is_empty(), "volume left after down -v");
    let nets = e.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains(project), "network left after down: {nets}");
    assert!(e.calls_since(mark).matches("create --bundle").count() >= 2, "{}", e.calls_since(mark));
    std::fs::remove_dir_all(&dir).unwrap();
}
