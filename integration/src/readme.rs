//! The README's snippets, so that tests run what a user copies.
//!
//! A snippet is the fenced code block that follows a line
//! `<!-- snippet: NAME -->` in the workspace's README.md (README "Use Berth
//! with ..."). Tests take it as it stands; a README edit that breaks a
//! snippet breaks its test.

use std::path::Path;

/// The text of snippet `name` (the lines between its fences, each ending in
/// a newline). Panics, naming the snippet, when README.md has no such
/// snippet or its block is not fenced: a test cannot run without it.
pub fn snippet(name: &str) -> String {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&readme).unwrap_or_else(|e| panic!("read {}: {e}", readme.display()));
    snippet_in(&text, name).unwrap_or_else(|| panic!("README.md has no fenced block after `<!-- snippet: {name} -->`"))
}

/// [`snippet`] on a given text; None when the marker or the fences are missing.
pub fn snippet_in(text: &str, name: &str) -> Option<String> {
    let marker = format!("<!-- snippet: {name} -->");
    let mut lines = text.lines().skip_while(|l| l.trim() != marker).skip(1);
    let fence = lines.find(|l| !l.trim().is_empty())?;
    if !fence.trim_start().starts_with("```") {
        return None;
    }
    let mut body = String::new();
    for l in lines {
        if l.trim_start().starts_with("```") {
            return Some(body);
        }
        body.push_str(l);
        body.push('\n');
    }
    None
}

/// The lines of a shell snippet that are commands (comments and blanks dropped).
pub fn commands(snippet: &str) -> Vec<String> {
    snippet.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_block_after_its_marker() {
        let t = "x\n<!-- snippet: a -->\n\n```sh\necho 1\n# c\necho 2\n```\n<!-- snippet: b -->\ntext\n";
        assert_eq!(snippet_in(t, "a").unwrap(), "echo 1\n# c\necho 2\n");
        assert_eq!(commands(&snippet_in(t, "a").unwrap()), ["echo 1", "echo 2"]);
        assert_eq!(snippet_in(t, "b"), None, "no fence after the marker");
        assert_eq!(snippet_in(t, "c"), None);
    }

    #[test]
    fn every_readme_snippet_parses() {
        for name in ["docker-daemon-json", "docker-run", "podman-containers-conf", "podman-run", "ctr-run", "containerd-config", "runtimeclass"] {
            assert!(!snippet(name).trim().is_empty(), "{name}");
        }
    }
}
