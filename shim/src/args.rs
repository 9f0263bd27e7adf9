//! Command-line flags as containerd passes them.
//!
//! containerd is written in Go and calls shims with Go's `flag` package
//! conventions: single-dash long flags (`-namespace default`), `-flag=value`
//! also allowed, and double dashes accepted too. The subcommand (`start`,
//! `delete`) follows the flags. We parse by hand: the set is tiny and fixed.

/// What containerd asked the shim binary to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Launch (or reuse) a long-lived shim server and print its address.
    Start,
    /// Clean up after a shim that is gone and print a `DeleteResponse`.
    Delete,
    /// Internal: run as the long-lived server (started by `Start`).
    Serve,
    /// Print the version and exit.
    Version,
}

/// Flags shared by every invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// containerd namespace of the container (`-namespace`).
    pub namespace: String,
    /// containerd's main (gRPC) socket address (`-address`).
    pub address: String,
    /// Path of the containerd binary, for `containerd publish` (`-publish-binary`).
    pub publish_binary: String,
    /// Container id (`-id`).
    pub id: String,
    /// Bundle path (`-bundle`, given to `delete`); the working directory otherwise.
    pub bundle: String,
    /// `-debug` was given.
    pub debug: bool,
    /// The subcommand, if any.
    pub action: Option<Action>,
}

/// Parses the flags after the program name.
///
/// Unknown flags are an error, so that a protocol change shows up loudly
/// instead of being misread as a subcommand.
pub fn parse<I: IntoIterator<Item = String>>(argv: I) -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        if !arg.starts_with('-') || arg == "-" {
            args.action = Some(match arg.as_str() {
                "start" => Action::Start,
                "delete" => Action::Delete,
                "serve" => Action::Serve,
                other => return Err(format!("unknown subcommand {other:?}")),
            });
            continue;
        }
        let flag = arg.trim_start_matches('-');
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        match name {
            "debug" => args.debug = inline.map(|v| v != "false").unwrap_or(true),
            "v" | "version" => args.action = Some(Action::Version),
            "namespace" | "address" | "publish-binary" | "id" | "bundle" => {
                let value = match inline {
                    Some(v) => v,
                    None => it.next().ok_or_else(|| format!("flag -{name} needs a value"))?,
                };
                match name {
                    "namespace" => args.namespace = value,
                    "address" => args.address = value,
                    "publish-binary" => args.publish_binary = value,
                    "id" => args.id = value,
                    _ => args.bundle = value,
                }
            }
            other => return Err(format!("unknown flag -{other}")),
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Args, String> {
        parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn go_style_start() {
        let a = p("-namespace default -address /run/c.sock -publish-binary /usr/bin/containerd -id web start").unwrap();
        assert_eq!(a.namespace, "default");
        assert_eq!(a.address, "/run/c.sock");
        assert_eq!(a.publish_binary, "/usr/bin/containerd");
        assert_eq!(a.id, "web");
        assert_eq!(a.action, Some(Action::Start));
        assert!(!a.debug);
    }

    #[test]
    fn double_dash_equals_and_debug() {
        let a = p("--namespace=k8s.io -debug --id=x -bundle /b delete").unwrap();
        assert_eq!(a.namespace, "k8s.io");
        assert_eq!(a.id, "x");
        assert_eq!(a.bundle, "/b");
        assert!(a.debug);
        assert_eq!(a.action, Some(Action::Delete));
    }

    #[test]
    fn errors_are_loud() {
        assert!(p("-frobnicate start").is_err());
        assert!(p("-id").is_err());
        assert!(p("-id x launch").is_err());
    }
}
