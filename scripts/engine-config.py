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


def docker_edit(text, path, action, bin_dir, make_default, restore):
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
        if "runtimes" in doc and not runtimes:
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


def prune_empty(doc, keys):
    """Drop now-empty tables along KEYS, deepest first."""
    for n in range(len(keys), 0, -1):
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


def podman_edit(text, path, action, bin_dir, make_default, restore):
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
            # A list we wrote from the defaults goes: the defaults hold again.
            if kept == podman_json_base(tomlkit.document()):
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
        prune_empty(doc, ["engine", "runtimes"])
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


def ends_blank(table):
    """Whether TABLE's text ends with a blank line (its last item, or its
    last sub-table's, is a bare newline)."""
    from tomlkit.items import Table, Whitespace

    body = table.value.body
    if not body:
        return False
    last = body[-1][1]
    if isinstance(last, Whitespace):
        return "\n" in last.s
    if isinstance(last, Table):
        return ends_blank(last)
    return False


def lay_out(table, pad, blank_before, blank_after):
    """Indent a table Berth added, its header at PAD spaces, its keys two
    deeper, its sub-tables the same way one level down. A blank line goes
    before it unless BLANK_BEFORE (the text before ends with one); with
    BLANK_AFTER (the file's tables end with one, as containerd's default
    config's do) one goes before each sub-table and after the last line."""
    import tomlkit
    from tomlkit.items import Table, Whitespace

    table.trivia.indent = ("" if blank_before else "\n") + " " * pad
    subs = []
    for _, v in table.value.body:
        if isinstance(v, Table):
            subs.append(v)
        elif not isinstance(v, Whitespace):
            v.trivia.indent = " " * (pad + 2)
    for i, sub in enumerate(subs):
        lay_out(sub, pad + 2, not blank_after, blank_after and i == len(subs) - 1)
    if blank_after and not subs:
        table.add(tomlkit.ws("\n"))


def containerd_edit(text, path, action, bin_dir, make_default, restore):
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
        runtimes = table_at(doc, rt_keys, path, create=True, super_last=True)
        # Indent as the file does (containerd's own default config indents
        # two spaces a level; Debian's file too).
        indented = any(line[:1] in (" ", "\t") and line.lstrip().startswith("[") for line in text.splitlines())
        # The header of [...runtimes.<name>]: as deep as a sibling's (the
        # runc handler's), else two spaces a level.
        pad = 2 * len(rt_keys)
        for sibling in runtimes.values():
            if isinstance(sibling, Table) and not sibling.is_super_table():
                pad = len(sibling.trivia.indent.rsplit("\n", 1)[-1])
                break
        # containerd's own default config ends each table with a blank line.
        blank_after = ends_blank(runtimes)
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
            t = tomlkit.table()
            t["runtime_type"] = rtype
            o = tomlkit.table()
            for k, v in options.items():
                o[k] = v
            t["options"] = o
            blank_before = ends_blank(runtimes)
            runtimes[name] = t
            if indented:
                # Laid out once in place: tomlkit adds the parent's indent
                # to a table it inserts, but not to that table's keys.
                lay_out(runtimes[name], pad, blank_before, blank_after)
        if make_default:
            ctd = table_at(doc, cri + ["containerd"], path, create=True)
            if ctd.get("default_runtime_name") != RUNTIME:
                ctd["default_runtime_name"] = RUNTIME
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
        prune_empty(doc, rt_keys)
    return tomlkit.dumps(doc), previous


EDITORS = {"docker": docker_edit, "podman": podman_edit, "containerd": containerd_edit}


# What a file holds when nothing is set (containerd's names its version).
EMPTY = {"docker": "{}", "podman": "", "containerd": "version = 2\n"}


def same_settings(engine, a, b):
    """Whether two texts of ENGINE's file say the same (layout aside)."""
    import tomlkit

    try:
        if engine == "docker":
            return json.loads(a or "{}") == json.loads(b or "{}")
        return tomlkit.parse(a).unwrap() == tomlkit.parse(b).unwrap()
    except Exception:  # a backup that no longer parses is not the same
        return False


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
    try:
        out, previous = EDITORS[a.engine](text, a.file, a.action, a.bin, a.default, restore)
    except ConfigError as e:
        print(f"engine-config.py: {e}", file=sys.stderr)
        return 1
    backup = None
    saved = a.file + ".pre-berth"
    if a.action == "remove" and os.path.exists(saved):
        # Nothing but Berth's entries changed since install: the file goes
        # back to its very bytes (tomlkit would leave a blank line or two).
        prior, _ = load_text(saved)
        if same_settings(a.engine, prior, out):
            out = prior
            os.unlink(saved)
    changed = out != text
    if a.action == "remove" and a.created and same_settings(a.engine, out, EMPTY[a.engine]):
        os.unlink(a.file)
        print(json.dumps({"changed": True, "created": False, "previous_default": previous, "backup": None}))
        return 0
    if changed:
        if existed and a.action == "add":
            backup = a.file + ".pre-berth"
            if not os.path.exists(backup):
                write_atomic(backup, text)
        write_atomic(a.file, out)
    print(json.dumps({"changed": changed, "created": changed and not existed, "previous_default": previous, "backup": backup}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
