#!/usr/bin/python3
"""Add Berth to an engine's configuration file, or take it out again.

Called by scripts/install.sh; usable alone:

  engine-config.py add ENGINE FILE --bin DIR [--default]
  engine-config.py remove ENGINE FILE [--restore-default JSON] [--created]

ENGINE is docker (daemon.json), podman (containers.conf) or containerd
(config.toml, versions 1 to 3). `add` puts in only Berth's entries (the
README's snippets), keeps every other setting, comment and the order of
the file (tomlkit edits TOML in place; JSON keeps its key order), and
writes nothing when the file already says it all, so running it twice
changes nothing. The first time it changes a file that existed it keeps the
original as FILE.pre-berth. It makes Berth the default runtime only with
`--default`. `remove` takes Berth's entries out; a default runtime that
names Berth goes back to the value given by --restore-default (JSON:
"runc", or null for "no such key"); with --created (the file did not exist
before Berth's install) a file left with no settings of its own is removed.
What FILE.pre-berth holds is the user's own: a setting Berth would drop
when it matches a default (Podman's runtime_supports_json, an empty table)
stays when the original had it, and the file goes back to those very bytes
when nothing but Berth's entries changed.

It prints one JSON object: {"changed": bool, "created": bool,
"previous_default": <the default before, JSON, null if unset>,
"backup": path or null}. Errors (a file that does not parse, a key of the
wrong type) go to stderr naming the file and the key, exit status 1,
and the file is left as it was.
"""

import argparse
import json
import os
import sys
import tempfile

RUNTIME = "berth"
# containerd's runc shim driving Berth as its runc binary: a second CRI
# handler, for users who keep containerd's own shim.
RUNC_SHIM_HANDLER = "berth-runc-shim"
# What Podman 4 treats as JSON-capable when containers.conf says nothing
# (containers/common's built-in default, also shown commented out in
# /usr/share/containers/containers.conf).
PODMAN_JSON_DEFAULT = ["crun", "runc", "kata", "runsc", "krun"]
PODMAN_SHARE_CONF = "/usr/share/containers/containers.conf"


class ConfigError(Exception):
    """A file Berth cannot edit safely; the message names file and key."""


def load_text(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(), True
    except FileNotFoundError:
        return "", False


def write_atomic(path, text, mode=0o644):
    """Replace PATH with TEXT in one rename, keeping an existing file's mode."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=".berth-", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# ---------------------------------------------------------------- Docker


def docker_edit(text, path, action, bin_dir, make_default, restore, prior=None):
    try:
        doc = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the top level is not a JSON object")
    runtimes = doc.get("runtimes", {})
    if not isinstance(runtimes, dict):
        raise ConfigError(f"{path}: \"runtimes\" is not an object")
    before = json.loads(json.dumps(doc))
    previous = doc.get("default-runtime")
    if action == "add":
        entry = runtimes.get(RUNTIME)
        want = {"path": os.path.join(bin_dir, "berth")}
        if not isinstance(entry, dict) or entry.get("path") != want["path"]:
            runtimes[RUNTIME] = want
        doc["runtimes"] = runtimes
        if make_default:
            doc["default-runtime"] = RUNTIME
    else:
        runtimes.pop(RUNTIME, None)
        if "runtimes" in doc and not runtimes and not (isinstance(prior, dict) and "runtimes" in prior):
            del doc["runtimes"]
        if doc.get("default-runtime") == RUNTIME:
            if restore is None:
                del doc["default-runtime"]
            else:
                doc["default-runtime"] = restore
    if doc == before:
        # Nothing to do: the user's own layout stays, byte for byte.
        return text, previous
    return json.dumps(doc, indent=4) + "\n", previous


# ---------------------------------------------------------------- TOML


def toml_load(text, path):
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        return tomlkit.parse(text)
    except ParseError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None


def table_at(doc, keys, path, create, super_last=False):
    """The table at KEYS, or None when absent and not CREATE. Tables made
    on the way are header-less super tables (the last one too with
    SUPER_LAST), so adding one runtime adds its own headers and no
    others."""
    import tomlkit

    node = doc
    for i, k in enumerate(keys):
        if k not in node:
            if not create:
                return None
            node[k] = tomlkit.table(is_super_table=super_last or i < len(keys) - 1)
        node = node[k]
        if not hasattr(node, "keys"):
            raise ConfigError(f"{path}: [{'.'.join(keys[: i + 1])}] is not a table")
    return node


def has_path(doc, keys):
    """Whether DOC (a parsed document, or None) has a table at KEYS."""
    node = doc
    for k in keys:
        if not hasattr(node, "keys") or k not in node:
            return False
        node = node[k]
    return True


def prune_empty(doc, keys, prior=None):
    """Drop now-empty tables along KEYS, deepest first, but those the
    original (PRIOR) had."""
    for n in range(len(keys), 0, -1):
        if has_path(prior, keys[:n]):
            return
        parent = doc
        for k in keys[: n - 1]:
            parent = parent.get(k)
            if parent is None:
                return
        t = parent.get(keys[n - 1])
        if t is not None and hasattr(t, "keys") and len(t) == 0:
            del parent[keys[n - 1]]
        else:
            return


def podman_json_base(doc):
    """Podman's runtime_supports_json as it stands before we add Berth: this
    file's, else the shared defaults file's (set or shown commented), else
    containers/common's default."""
    engine = doc.get("engine")
    if engine is not None and "runtime_supports_json" in engine:
        return list(engine["runtime_supports_json"])
    share, _ = load_text(PODMAN_SHARE_CONF)
    for line in share.splitlines():
        s = line.strip().lstrip("#").strip()
        if s.startswith("runtime_supports_json") and "=" in s:
            try:
                v = json.loads(s.split("=", 1)[1].strip())
            except ValueError:
                continue
            if isinstance(v, list) and all(isinstance(x, str) for x in v):
                return v
    return list(PODMAN_JSON_DEFAULT)


def podman_edit(text, path, action, bin_dir, make_default, restore, prior=None):
    import tomlkit

    doc = toml_load(text, path)
    engine = table_at(doc, ["engine"], path, create=action == "add")
    previous = engine.get("runtime") if engine is not None else None
    previous = previous.unwrap() if hasattr(previous, "unwrap") else previous
    if action == "add":
        supports = podman_json_base(doc)
        if RUNTIME not in supports:
            arr = tomlkit.array()
            arr.extend(supports + [RUNTIME])
            engine["runtime_supports_json"] = arr
        runtimes = table_at(doc, ["engine", "runtimes"], path, create=True)
        want = [os.path.join(bin_dir, "berth")]
        if list(runtimes.get(RUNTIME, [])) != want:
            runtimes[RUNTIME] = want
        if make_default and engine.get("runtime") != RUNTIME:
            engine["runtime"] = RUNTIME
    elif engine is not None:
        if "runtime_supports_json" in engine and RUNTIME in engine["runtime_supports_json"]:
            kept = [x for x in engine["runtime_supports_json"] if x != RUNTIME]
            # A list we wrote from the defaults goes: the defaults hold
            # again. The user's own list stays, even when it says the same.
            users = prior is not None and "runtime_supports_json" in prior.get("engine", {})
            if kept == podman_json_base(tomlkit.document()) and not users:
                del engine["runtime_supports_json"]
            else:
                arr = tomlkit.array()
                arr.extend(kept)
                engine["runtime_supports_json"] = arr
        runtimes = engine.get("runtimes")
        if runtimes is not None and RUNTIME in runtimes:
            del runtimes[RUNTIME]
        if engine.get("runtime") == RUNTIME:
            if restore is None:
                del engine["runtime"]
            else:
                engine["runtime"] = restore
        prune_empty(doc, ["engine", "runtimes"], prior)
    return tomlkit.dumps(doc), previous


def containerd_cri_keys(doc, path):
    """The CRI plugin's table path for this config's version (1, 2, 3)."""
    version = doc.get("version", 1 if doc else 2)
    if version == 3:
        return ["plugins", "io.containerd.cri.v1.runtime"]
    if version == 2:
        return ["plugins", "io.containerd.grpc.v1.cri"]
    if version == 1:
        return ["plugins", "cri"]
    raise ConfigError(f"{path}: unknown config version {version!r} (expected 1, 2 or 3)")


def lay_out(table, indent, step, blank):
    """Indent a table Berth made as containerd's own config does: its header
    at INDENT, keys and sub-table headers STEP further (two spaces a level
    in containerd's output and Debian's file, none in a flat file), and a
    blank line before each sub-table header when the file has them (BLANK).
    tomlkit would indent a new table by its parent's indent alone."""
    from tomlkit.items import Table, Whitespace

    table.trivia.indent = " " * indent
    for _, v in table.value.body:
        if isinstance(v, Table):
            lay_out(v, indent + step, step, blank)
            if blank:
                v.trivia.indent = "\n" + v.trivia.indent
        elif not isinstance(v, Whitespace):
            v.trivia.indent = " " * (indent + step)


def header_indent(doc, keys, step):
    """The indent of a new table at KEYS: STEP a level below the deepest
    table along KEYS with a header of its own, else STEP a level from the
    left (the file need not start its headers at [plugins])."""
    from tomlkit.items import Table

    node, base, depth = doc, None, 0
    for i, k in enumerate(keys):
        if not hasattr(node, "keys") or k not in node:
            break
        node = node[k]
        if isinstance(node, Table) and not node.is_super_table():
            base, depth = len(node.trivia.indent.replace("\n", "")), i + 1
    if base is None:
        return step * (len(keys) - 1)
    return base + step * (len(keys) - depth)


def ends_blank(item):
    """Whether a table's text ends with a blank line (containerd's own
    config ends each table so, the next header's separator)."""
    from tomlkit.items import Table, Whitespace

    body = item.value.body if isinstance(item, Table) else []
    if not body:
        return False
    last = body[-1][1]
    if isinstance(last, Whitespace):
        return "\n" in last.s
    return ends_blank(last)


def key_indent(table, fallback):
    """The indent of TABLE's own keys (FALLBACK when it has none)."""
    from tomlkit.items import AoT, Table, Whitespace

    for _, v in table.value.body:
        if not isinstance(v, (Table, AoT, Whitespace)) and v is not None and hasattr(v, "trivia"):
            return v.trivia.indent.lstrip("\n")
    return fallback


def containerd_edit(text, path, action, bin_dir, make_default, restore, prior=None):
    import tomlkit
    from tomlkit.items import Table

    doc = toml_load(text, path)
    if not text.strip() and action == "add":
        # containerd 1.x reads a file without `version` as the old format.
        doc["version"] = 2
    cri = containerd_cri_keys(doc, path)
    ctd = table_at(doc, cri + ["containerd"], path, create=False)
    previous = ctd.get("default_runtime_name") if ctd is not None else None
    previous = previous.unwrap() if hasattr(previous, "unwrap") else previous
    rt_keys = cri + ["containerd", "runtimes"]
    if action == "add":
        # Lay out as the file does: containerd's own default config indents
        # two spaces a level (a table's header at 2 x (its depth - 1), its
        # keys one level further) with a blank line before each header;
        # Debian's file indents with none (but before its first header).
        lines = text.splitlines()
        indented = any(line[:1] in (" ", "\t") and line.lstrip().startswith("[") for line in lines)
        headers = [i for i, line in enumerate(lines) if line.lstrip().startswith("[")]
        blank = any(not lines[i - 1].strip() for i in headers[1:]) if len(headers) > 1 else True
        step = 2 if indented else 0
        # An indented file gets a [...runtimes] header of its own, as
        # containerd's default config has: tomlkit (0.11) reads indented
        # sibling tables under a header-less parent back with their indent
        # doubled, so the next edit would shift our second handler.
        made = not has_path(doc, rt_keys)
        at = header_indent(doc, rt_keys, step)
        runtimes = table_at(doc, rt_keys, path, create=True, super_last=not indented)
        if made and indented:
            runtimes.trivia.indent = ("\n" if blank else "") + " " * at
        # SystemdCgroup must match the kubelet's cgroup driver: take the
        # runc handler's, else whether systemd runs this host.
        systemd = os.path.isdir("/run/systemd/system")
        runc = runtimes.get("runc")
        if runc is not None and "options" in runc and "SystemdCgroup" in runc["options"]:
            systemd = bool(runc["options"]["SystemdCgroup"])
        want = {
            RUNTIME: ("io.containerd.berth.v2", {"SystemdCgroup": systemd}),
            RUNC_SHIM_HANDLER: (
                "io.containerd.runc.v2",
                {"BinaryName": os.path.join(bin_dir, "berth"), "SystemdCgroup": systemd},
            ),
        }
        for name, (rtype, options) in want.items():
            have = runtimes.get(name)
            have_opts = dict(have.get("options", {})) if have is not None else {}
            if have is not None and have.get("runtime_type") == rtype and have_opts == options:
                continue
            # A blank line before the header unless the table before ends
            # with one; one after, for the header that follows.
            tables = [v for _, v in runtimes.value.body if hasattr(v, "keys")]
            lead = blank and not (tables and ends_blank(tables[-1]))
            t = tomlkit.table()
            t["runtime_type"] = rtype
            o = tomlkit.table()
            for k, v in options.items():
                o[k] = v
            if blank:
                o.add(tomlkit.nl())
            t["options"] = o
            at = header_indent(doc, rt_keys + [name], step)
            # Beside a handler the file has (runc's), as deep as it is: a
            # file may start its headers at any depth (containerd 2's
            # version 3 files put [plugins.'...'.runtimes.runc] at the left).
            for sib_name, sib in runtimes.items():
                if sib_name not in want and isinstance(sib, Table) and not sib.is_super_table():
                    at = len(sib.trivia.indent.rsplit("\n", 1)[-1])
                    break
            runtimes[name] = t
            t = runtimes[name]
            lay_out(t, at, step, blank)
            if lead:
                t.trivia.indent = "\n" + t.trivia.indent
        if make_default:
            ctd = table_at(doc, cri + ["containerd"], path, create=True)
            if ctd.get("default_runtime_name") != RUNTIME:
                at = header_indent(doc, cri + ["containerd"], step)
                if not [k for k, v in ctd.items() if not hasattr(v, "keys")]:
                    # Its header appears now (a key of its own): indent it.
                    ctd.trivia.indent = ("\n" if blank else "") + " " * at
                ind = key_indent(ctd, " " * (at + step))
                ctd["default_runtime_name"] = RUNTIME
                ctd["default_runtime_name"].trivia.indent = ind
    else:
        runtimes = table_at(doc, rt_keys, path, create=False)
        for name in (RUNTIME, RUNC_SHIM_HANDLER):
            if runtimes is not None and name in runtimes:
                del runtimes[name]
        if ctd is not None and ctd.get("default_runtime_name") == RUNTIME:
            if restore is None:
                del ctd["default_runtime_name"]
            else:
                ctd["default_runtime_name"] = restore
        prune_empty(doc, rt_keys, prior)
    return tomlkit.dumps(doc), previous


EDITORS = {"docker": docker_edit, "podman": podman_edit, "containerd": containerd_edit}


# What a file holds when nothing is set (containerd's names its version).
EMPTY = {"docker": "{}", "podman": "", "containerd": "version = 2\n"}


def parsed(engine, text):
    """TEXT of ENGINE's file as plain data, None when it does not parse."""
    import tomlkit

    try:
        if engine == "docker":
            return json.loads(text or "{}")
        return tomlkit.parse(text).unwrap()
    except Exception:  # a backup that no longer parses tells nothing
        return None


def comments(text):
    """The comment lines of a TOML text (a user's note is worth keeping)."""
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


def same_settings(engine, a, b):
    """Whether two texts of ENGINE's file say the same (layout aside; a
    TOML file's comments count). A containerd file that says nothing but
    its version says nothing."""
    x, y = parsed(engine, a), parsed(engine, b)
    if x is None or y is None:  # a backup that no longer parses is not the same
        return False
    if engine == "containerd":
        x, y = ({} if set(v) <= {"version"} else v for v in (x, y))
    return x == y and (engine == "docker" or comments(a) == comments(b))


def has_berth(engine, text):
    """Whether ENGINE's file already names a Berth runtime (then it is not
    the user's original, whatever changes next)."""
    doc = parsed(engine, text)
    if not isinstance(doc, dict):
        return False
    if engine == "docker":
        tables = [doc.get("runtimes")]
    elif engine == "podman":
        tables = [doc.get("engine", {}).get("runtimes")]
    else:
        plugins = doc.get("plugins", {})
        cri = ("cri", "io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime")
        tables = [plugins.get(k, {}).get("containerd", {}).get("runtimes") for k in cri]
    return any(isinstance(t, dict) and RUNTIME in t for t in tables)


def main(argv):
    p = argparse.ArgumentParser(prog="engine-config.py", description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=["add", "remove"])
    p.add_argument("engine", choices=sorted(EDITORS))
    p.add_argument("file")
    p.add_argument("--bin", default="/usr/local/bin", help="where berth and the shim are installed")
    p.add_argument("--default", action="store_true", help="make Berth the default runtime (add)")
    p.add_argument("--restore-default", default="null", help="JSON: the default runtime to restore (remove)")
    p.add_argument("--created", action="store_true", help="install made the file: remove it when left empty (remove)")
    a = p.parse_args(argv)
    text, existed = load_text(a.file)
    if a.action == "remove" and not existed:
        print(json.dumps({"changed": False, "created": False, "previous_default": None, "backup": None}))
        return 0
    try:
        restore = json.loads(a.restore_default)
    except ValueError:
        print(f"engine-config.py: --restore-default: not JSON: {a.restore_default}", file=sys.stderr)
        return 2
    saved = a.file + ".pre-berth"
    prior_text, has_prior = load_text(saved) if a.action == "remove" else ("", False)
    prior = parsed(a.engine, prior_text) if has_prior else None
    try:
        out, previous = EDITORS[a.engine](text, a.file, a.action, a.bin, a.default, restore, prior)
    except ConfigError as e:
        print(f"engine-config.py: {e}", file=sys.stderr)
        return 1
    if same_settings(a.engine, text, out):
        # Nothing to do: the file stays as it is, byte for byte.
        out = text
    backup = None
    # Nothing but Berth's entries changed since install: the file goes back
    # to its very bytes (tomlkit would leave a blank line or two), and the
    # copy goes once the file is written.
    restored = has_prior and same_settings(a.engine, prior_text, out)
    if restored:
        out = prior_text
    changed = out != text
    if a.action == "remove" and a.created and same_settings(a.engine, out, EMPTY[a.engine]):
        os.unlink(a.file)
        print(json.dumps({"changed": True, "created": False, "previous_default": previous, "backup": None}))
        return 0
    if changed:
        # The original, once: not a file Berth is in already (a second
        # install with --default).
        if existed and a.action == "add" and not os.path.exists(saved) and not has_berth(a.engine, text):
            backup = saved
            write_atomic(backup, text)
        write_atomic(a.file, out)
    if restored:
        os.unlink(saved)
    print(json.dumps({"changed": changed, "created": changed and not existed, "previous_default": previous, "backup": backup}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
