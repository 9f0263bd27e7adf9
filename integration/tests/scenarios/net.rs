//! Networks: a user-defined bridge with DNS by container name (Docker's
//! embedded DNS, Podman's aardvark-dns), `--network host`, `none` and
//! `container:<other>`; Podman pods (two containers over 127.0.0.1).

use std::time::Duration;

use integration::engine::Engine;
use integration::scenario::Group;
use integration::show;

use super::{fetch, name, ok, out, run_with, wait_until, web_server};

/// Every scenario of this module that both engines run.
pub fn all(g: &mut Group) {
    g.scenario("user_bridge_dns_by_name", user_bridge_dns_by_name);
    g.scenario("network_host", network_host);
    g.scenario("network_none", network_none);
    g.scenario("network_container", network_container);
}

/// The network namespace of `pid` (`net:[inode]`).
fn netns_of(pid: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/net")).map(|p| p.display().to_string()).unwrap_or_default()
}

/// The runtime the engine says ran the container.
fn runtime_name(e: &Engine, n: &str) -> String {
    e.inspect(n, if e.is_docker() { "{{.HostConfig.Runtime}}" } else { "{{.OCIRuntime}}" })
}

/// A web server on a user-defined bridge, reached by its name from another
/// container on that network.
pub fn user_bridge_dns_by_name(e: &Engine) {
    let mark = e.calls_mark();
    let (net, web) = (name("net"), name("dnsweb"));
    e.ok(&["network", "create", &net]);
    ok(e, &run_with(e, &["-d", "--network", &net, "--name", &web, &e.image], &web_server("hello-by-name")), "run web");
    assert_eq!(runtime_name(e, &web), "berth", "not run by the runtime named berth");
    let ip = e.inspect(&web, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}");
    assert!(!ip.is_empty(), "no address on {net}");
    let script = format!("for i in $(seq 50); do timeout 5 wget -q -O - http://{web}/ && break; sleep 0.2; done; nslookup -type=a {web} | grep -A2 'Name:'");
    let o = e.run(&["--rm", "--network", &net, &e.image, "sh", "-c", &script]);
    let text = ok(e, &o, "fetch by name");
    assert!(text.starts_with("hello-by-name"), "fetch by name: {}", show(&o));
    assert!(text.contains(&ip), "name did not resolve to {ip}: {}", show(&o));
    e.rm_f(&web);
    e.ok(&["network", "rm", &net]);
    e.assert_called(mark, "create --bundle");
}

/// `--network host` shares the engine's network namespace (ours, not the
/// machine's): a server in it is reached on the engine's loopback.
pub fn network_host(e: &Engine) {
    let n = name("hostnet");
    let cmd = ["sh".to_string(), "-c".into(), "echo hello-host > /tmp/i.html; exec httpd -f -p 18081 -h /tmp".into()];
    ok(e, &run_with(e, &["-d", "--network", "host", "--name", &n, &e.image], &cmd), "run --network host");
    let pid = e.inspect(&n, "{{.State.Pid}}");
    assert_eq!(netns_of(&pid), netns_of(&e.ns.pid.to_string()), "container not in the engine's network namespace");
    let body = fetch(e, "http://127.0.0.1:18081/i.html").unwrap_or_else(|f| panic!("host-network server: {f}"));
    assert_eq!(body, "hello-host");
    e.rm_f(&n);
}

/// `--network none`: a namespace of its own with only loopback (up).
pub fn network_none(e: &Engine) {
    let o = e.run(&[
        "--rm",
        "--network",
        "none",
        &e.image,
        "sh",
        "-c",
        "readlink /proc/self/ns/net; ls /sys/class/net; ip -o link show lo | grep -o 'LOOPBACK,UP'",
    ]);
    let text = ok(e, &o, "run --network none");
    let mut lines = text.lines();
    let ns = lines.next().unwrap_or("");
    assert_ne!(ns, netns_of(&e.ns.pid.to_string()), "shares the engine's namespace");
    assert_ne!(ns, netns_of("self"), "shares the machine's namespace");
    let rest: Vec<&str> = lines.collect();
    assert_eq!(rest.first(), Some(&"lo"), "interfaces: {text:?}");
    assert!(!rest.iter().any(|l| l.starts_with("eth")), "interfaces: {text:?}");
    assert!(rest.contains(&"LOOPBACK,UP"), "lo not up: {text:?}");
}

/// `--network container:<other>` joins another container's namespace: its
/// server is on our 127.0.0.1.
pub fn network_container(e: &Engine) {
    let a = name("netowner");
    ok(e, &run_with(e, &["-d", "--name", &a, &e.image], &web_server("hello-shared-ns")), "run owner");
    let pid = e.inspect(&a, "{{.State.Pid}}");
    let script = "readlink /proc/self/ns/net; for i in $(seq 50); do timeout 5 wget -q -O - http://127.0.0.1/ && break; sleep 0.2; done";
    let o = e.run(&["--rm", "--network", &format!("container:{a}"), &e.image, "sh", "-c", script]);
    let text = ok(e, &o, "run --network container:");
    assert_eq!(text, format!("{}\nhello-shared-ns", netns_of(&pid)), "{}", show(&o));
    e.rm_f(&a);
}

/// Podman: a pod of two containers talking over 127.0.0.1.
pub fn pod_two_containers_localhost(e: &Engine) {
    let mark = e.calls_mark();
    let (pod, web) = (name("pod"), name("podweb"));
    let mut args = vec!["pod".to_string(), "create".into(), "--name".into(), pod.clone()];
    args.extend(e.cgroup_parent_args());
    e.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    ok(e, &run_with(e, &["-d", "--pod", &pod, "--name", &web, &e.image], &web_server("hello-pod")), "run web in pod");
    let script = "for i in $(seq 50); do timeout 5 wget -q -O - http://127.0.0.1/ && break; sleep 0.2; done";
    let o = e.run(&["--rm", "--pod", &pod, &e.image, "sh", "-c", script]);
    assert_eq!(ok(e, &o, "client in pod"), "hello-pod", "{}", show(&o));
    let infra = e.ok(&["pod", "inspect", "--format", "{{.InfraContainerID}}", &pod]);
    assert!(!infra.is_empty());
    e.ok(&["pod", "rm", "-f", "-t", "0", &pod]);
    e.assert_called(mark, "create --bundle");
}

/// Podman: `play kube` of a pod YAML with a server and a client container
/// talking over 127.0.0.1, then `play kube --down`.
pub fn play_kube(e: &Engine) {
    let mark = e.calls_mark();
    let pod = name("kube");
    let yaml = format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {pod}
spec:
  restartPolicy: Never
  containers:
  - name: web
    image: {image}
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /www && echo hello-kube > /www/index.html && exec httpd -f -p 80 -h /www"]
  - name: client
    image: {image}
    imagePullPolicy: Never
    command: ["sh", "-c", "for i in $(seq 100); do timeout 5 wget -q -O - http://127.0.0.1/ && break; sleep 0.2; done; sleep 1000"]
"#,
        image = e.image
    );
    let file = e.sb.dir.join(format!("{pod}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    let f = file.display().to_string();
    e.ok(&["play", "kube", &f]);
    let client = format!("{pod}-client");
    assert!(
        wait_until(Duration::from_secs(20), || out(&e.cli(&["logs", &client])).contains("hello-kube")),
        "client did not reach the server: {}\n{}",
        show(&e.cli(&["logs", &client])),
        e.tail_calls()
    );
    let state = e.ok(&["pod", "inspect", "--format", "{{.State}}", &pod]);
    assert_eq!(state, "Running");
    e.ok(&["play", "kube", "--down", &f]);
    e.assert_called(mark, "create --bundle");
}
