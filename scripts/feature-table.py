#!/usr/bin/python3
"""README's table of what Berth supports beside runc and crun.

  feature-table.py [--berth BIN] [--runc BIN] [--crun BIN] [--write|--check] [README]

Each column comes from that runtime's own `features` document (the OCI
runtime spec's features.md: what the build implements, not what this host
has). A runtime whose build has no `features` command (crun before 1.10,
Debian 12 ships 1.8.1) is read from its `--version` build flags instead,
for the rows those flags answer; the others say "not reported".

Without --write/--check it prints the table. --write replaces the text
between README's `<!-- feature-table -->` and `<!-- /feature-table -->`
lines; --check exits 1 (printing the expected table) when README's Berth
column differs from `berth features`, or a peer's column differs from that
peer as installed here (a peer of another version than README's is skipped,
with a note), so a test keeps README in step.
"""

import argparse
import json
import subprocess
import sys

BEGIN, END = "<!-- feature-table -->", "<!-- /feature-table -->"
NOT_REPORTED = "not reported"


def run(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout if p.returncode == 0 else None


def first_line(text):
    return (text or "").splitlines()[0] if text else ""


def column(binary):
    """(header, features document or None, build flags from --version)."""
    version = run([binary, "--version"])
    header = first_line(version).replace(" version ", " ") or binary
    doc = run([binary, "features"])
    try:
        doc = json.loads(doc) if doc else None
    except ValueError:
        doc = None
    # crun's `--version` ends with its build flags: +SYSTEMD +SECCOMP ...
    flags = {w[1:] for w in (version or "").split() if w.startswith(("+", "-")) and w[1:].isupper()}
    spec = [line.split(":", 1)[1].strip() for line in (version or "").splitlines() if line.startswith("spec:")]
    if spec:
        flags.add("spec=" + spec[0])
    return header, doc, flags


def get(doc, *path):
    for k in path:
        if not isinstance(doc, dict) or k not in doc:
            return None
        doc = doc[k]
    return doc


def yes_no(v):
    return NOT_REPORTED if v is None else ("yes" if v else "no")


def rows(doc, flags):
    """The table's rows for one runtime: (label, cell)."""
    if doc is None:
        def flag(name):
            return yes_no(name in flags) if flags else NOT_REPORTED

        spec = [f[5:] for f in flags if f.startswith("spec=")]
        return [
            ("OCI versions accepted", f"up to {spec[0]} (`--version`)" if spec else NOT_REPORTED),
            ("hooks", NOT_REPORTED),
            ("namespaces", NOT_REPORTED),
            ("cgroup v1 / v2", NOT_REPORTED),
            ("systemd cgroup driver", flag("SYSTEMD")),
            ("systemd driver, rootless (user bus)", NOT_REPORTED),
            ("seccomp", flag("SECCOMP")),
            ("seccomp notify (SCMP_ACT_NOTIFY)", NOT_REPORTED),
            ("AppArmor / SELinux", f"{flag('APPARMOR')} / {flag('SELINUX')}"),
            ("id-mapped mounts", NOT_REPORTED),
            ("recursive read-only mounts (rro)", NOT_REPORTED),
            ("Intel RDT", NOT_REPORTED),
            ("capabilities known", NOT_REPORTED),
            ("mount options known", NOT_REPORTED),
        ]
    lx = doc.get("linux", {})
    ns = get(lx, "namespaces") or []
    v1, v2 = get(lx, "cgroup", "v1"), get(lx, "cgroup", "v2")
    actions = get(lx, "seccomp", "actions")
    idmap = get(lx, "mountExtensions", "idmap", "enabled")
    opts = doc.get("mountOptions")
    hooks = doc.get("hooks")
    return [
        ("OCI versions accepted", f"{doc.get('ociVersionMin', '?')} to {doc.get('ociVersionMax', '?')}"),
        ("hooks", NOT_REPORTED if hooks is None else f"{len(hooks)} of 6"),
        ("namespaces", ", ".join(ns) if ns else NOT_REPORTED),
        ("cgroup v1 / v2", f"{yes_no(v1)} / {yes_no(v2)}"),
        ("systemd cgroup driver", yes_no(get(lx, "cgroup", "systemd"))),
        ("systemd driver, rootless (user bus)", yes_no(get(lx, "cgroup", "systemdUser"))),
        ("seccomp", yes_no(get(lx, "seccomp", "enabled"))),
        ("seccomp notify (SCMP_ACT_NOTIFY)", NOT_REPORTED if actions is None else yes_no("SCMP_ACT_NOTIFY" in actions)),
        ("AppArmor / SELinux", f"{yes_no(get(lx, 'apparmor', 'enabled'))} / {yes_no(get(lx, 'selinux', 'enabled'))}"),
        ("id-mapped mounts", "no" if idmap is None and opts is not None else yes_no(idmap)),
        ("recursive read-only mounts (rro)", NOT_REPORTED if opts is None else yes_no("rro" in opts)),
        ("Intel RDT", yes_no(get(lx, "intelRdt", "enabled"))),
        ("capabilities known", NOT_REPORTED if get(lx, "capabilities") is None else str(len(lx["capabilities"]))),
        ("mount options known", NOT_REPORTED if opts is None else str(len(opts))),
    ]


def table(columns):
    headers = ["", *(h for h, _, _ in columns)]
    body = [rows(doc, flags) for _, doc, flags in columns]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for i, (label, _) in enumerate(body[0]):
        lines.append("| " + " | ".join([label, *(b[i][1] for b in body)]) + " |")
    return "\n".join(lines) + "\n"


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--berth", default="target/release/berth")
    p.add_argument("--runc", default="runc")
    p.add_argument("--crun", default="crun")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--write", action="store_true")
    g.add_argument("--check", action="store_true")
    p.add_argument("readme", nargs="?", default="README.md")
    a = p.parse_args(argv)
    cols = [column(b) for b in (a.berth, a.runc, a.crun)]
    if cols[0][1] is None:
        print(f"feature-table.py: {a.berth} features: no document", file=sys.stderr)
        return 2
    text = table(cols)
    if not (a.write or a.check):
        sys.stdout.write(text)
        return 0
    readme = open(a.readme, encoding="utf-8").read()
    try:
        head, rest = readme.split(BEGIN + "\n", 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        print(f"feature-table.py: {a.readme} has no {BEGIN} ... {END} block", file=sys.stderr)
        return 2
    new = head + BEGIN + "\n" + text + END + tail
    if a.write:
        if new != readme:
            open(a.readme, "w", encoding="utf-8").write(new)
        return 0
    have = parse_table(rest.split(END, 1)[0])
    want = parse_table(text)
    bad = []
    for i, (hw, hh) in enumerate(zip(want["headers"], have["headers"])):
        if i > 0 and hw != hh:
            print(f"feature-table.py: README's column {hh!r} is another version than {hw!r} here: not compared")
            continue
        if [r[i] for r in want["rows"]] != [r[i] for r in have["rows"]] or (i == 0 and hw != hh):
            bad.append(hw)
    if want["labels"] != have["labels"] or len(want["headers"]) != len(have["headers"]) or bad:
        print(f"{a.readme}'s feature table differs from what {', '.join(bad) or 'the runtimes'} report; expected:\n{text}")
        return 1
    return 0


def parse_table(text):
    """A Markdown table's column headers, row labels, and rows of cells
    (each row without its label, so cell i is under header i)."""
    lines = [line for line in text.splitlines() if line.startswith("|") and not line.startswith("|---")]
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    if not cells:
        return {"headers": [], "labels": [], "rows": []}
    return {"headers": cells[0][1:], "labels": [c[0] for c in cells[1:]], "rows": [c[1:] for c in cells[1:]]}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
