#!/usr/bin/env python3
"""Turns a capture of scripts/guest-systemd.sh capture into fixtures.

    fixtures.py CAPTURE_DIR [CAPTURE_DIR...] OUT_DIR

For each engine directory in the capture(s) (a later CAPTURE_DIR's engine
replaces an earlier one's) and each scenario it ran, writes to OUT_DIR:
- <engine>-<scenario>.argv: `# engine:` lines (the engine commands of that
  scenario, with their exit status) then every runtime command line, in order;
- <engine>-<scenario>.json: the config.json of its create (or the --process
  file of its exec), exactly as sent;
- <engine>-<scenario>.env: `# argv:`/`# cgroup:` of that same runtime call
  and the environment the runtime got;
and <engine>-units.txt (systemctl show of the scopes while a container ran),
versions.txt. Nothing is substituted: ids, paths and hooks are as captured.
"""

import os
import shutil
import sys


def main():
    *caps, out = sys.argv[1:]
    os.makedirs(out, exist_ok=True)
    engines = {}
    for cap in caps:
        for e in sorted(os.listdir(cap)):
            if os.path.isfile(os.path.join(cap, e, "calls.log")):
                engines[e] = os.path.join(cap, e)
        if os.path.isfile(os.path.join(cap, "versions.txt")):
            shutil.copy(os.path.join(cap, "versions.txt"), os.path.join(out, "versions.txt"))
    for e, d in sorted(engines.items()):
        cmds = {}
        for line in open(os.path.join(d, "commands.log")):
            scen, rc, cmd = line.rstrip("\n").split("\t", 2)
            cmds.setdefault(scen, []).append("# engine: %s  (exit %s)" % (cmd, rc))
        calls = {}
        for line in open(os.path.join(d, "calls.log")):
            scen, tag, argv = line.rstrip("\n").split("\t", 2)
            calls.setdefault(scen, []).append((tag, argv))
        configs = sorted(os.listdir(os.path.join(d, "configs")))
        for scen in cmds:
            if scen == "setup" or scen not in calls:
                continue
            name = "%s-%s" % (e, scen)
            with open(os.path.join(out, name + ".argv"), "w") as f:
                f.write("\n".join(cmds[scen]) + "\n")
                for _, argv in calls[scen]:
                    f.write("runc " + argv + "\n")
            mine = [c for c in configs if c.startswith(scen + "--")]
            if mine:
                c = mine[0]
                shutil.copy(os.path.join(d, "configs", c), os.path.join(out, name + ".json"))
                tag = c[len(scen) + 2:].rsplit("-", 1)[0]
            else:
                tag = calls[scen][0][0]
            env = os.path.join(d, "env", "%s--%s.env" % (scen, tag))
            if os.path.isfile(env):
                shutil.copy(env, os.path.join(out, name + ".env"))
        if os.path.isfile(os.path.join(d, "units.txt")):
            shutil.copy(os.path.join(d, "units.txt"), os.path.join(out, e + "-units.txt"))


if __name__ == "__main__":
    main()
