"""Small programs run inside a pod (as its user, through the runtime's exec) to look at and
change the app's files. Their code is constant; paths and data travel as arguments or stdin,
never inside the code."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

PYTHON = "/usr/bin/python3"
APP = "/home/instapod/app"

# Prints what the presets need to know about the app, as one JSON object. With JSON
# {path: base64} on stdin, first writes those files when the app folder is still empty (a new
# pod's starter app), so provisioning takes one run in the pod instead of three.
PROBE = r"""
import base64, json, os, re, sys
app = sys.argv[1]
if len(sys.argv) > 2 and not (os.path.isdir(app) and os.listdir(app)):
    for path, data in json.load(sys.stdin).items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
def read(name):
    try:
        with open(os.path.join(app, name), encoding="utf-8", errors="replace") as f:
            return f.read(200000)
    except OSError:
        return None
names = sorted(os.listdir(app)) if os.path.isdir(app) else []
out = {"files": names[:1000], "public": os.path.isdir(os.path.join(app, "public"))}
text = read("package.json")
if text is not None:
    try:
        data = json.loads(text)
        scripts = data.get("scripts") if isinstance(data.get("scripts"), dict) else {}
        main = data.get("main") if isinstance(data.get("main"), str) else None
        out["package"] = {"start": bool(scripts.get("start")), "main": main}
    except ValueError:
        out["package"] = {"invalid": True}
text = read("requirements.txt")
if text is not None:
    reqs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "-")):
            reqs.append(re.split(r"[<>=!~\[;@ ]", line, maxsplit=1)[0].lower())
    out["requirements"] = reqs
modules = {}
for name in ("app.py", "main.py", "wsgi.py", "asgi.py", "server.py"):
    text = read(name)
    if text is not None:
        found = [v for v in ("app", "application") if re.search(rf"^{v}\s*[:=]", text, re.M)]
        modules[name] = found
out["modules"] = modules
out["venv"] = os.path.exists(os.path.join(app, "venv", "bin", "python"))
links = {}
for name in ("venv", "node_modules"):
    path = os.path.join(app, name)
    if os.path.islink(path):
        links[name] = os.readlink(path)
out["links"] = links
print(json.dumps(out))
"""

# Points a symlink (argv[1]) at a target (argv[2]) atomically, replacing a file or directory.
RELINK = r"""
import os, shutil, sys
link, target = sys.argv[1], sys.argv[2]
tmp = link + ".instapods-new"
if os.path.lexists(tmp):
    os.unlink(tmp)
os.symlink(target, tmp)
if os.path.isdir(link) and not os.path.islink(link):
    shutil.rmtree(link)
os.replace(tmp, link)
"""

# Copies the dependency manifests of the app (argv[1]) into a new build folder (argv[2]).
STAGE = r"""
import os, shutil, sys
app, build = sys.argv[1], sys.argv[2]
os.makedirs(build, exist_ok=True)
for name in ("package.json", "package-lock.json", "npm-shrinkwrap.json", ".npmrc"):
    if os.path.exists(os.path.join(app, name)):
        shutil.copy2(os.path.join(app, name), os.path.join(build, name))
"""

# Removes build folders under argv[1] whose names start with argv[2], except argv[3:].
PRUNE = r"""
import os, shutil, sys
root, prefix, keep = sys.argv[1], sys.argv[2], set(sys.argv[3:])
for name in os.listdir(root) if os.path.isdir(root) else []:
    path = os.path.join(root, name)
    if name.startswith(prefix) and path not in keep:
        shutil.rmtree(path, ignore_errors=True)
"""


def probe() -> list[str]:
    return [PYTHON, "-I", "-c", PROBE, APP]


def seed_and_probe(files: Mapping[str, bytes]) -> tuple[list[str], bytes]:
    """Write `files` if the app folder is empty, then probe it (one run in the pod)."""
    payload = {path: base64.b64encode(data).decode() for path, data in files.items()}
    return [PYTHON, "-I", "-c", PROBE, APP, "--seed"], json.dumps(payload).encode()


def relink(link: str, target: str) -> list[str]:
    return [PYTHON, "-I", "-c", RELINK, link, target]


def stage(build: str) -> list[str]:
    return [PYTHON, "-I", "-c", STAGE, APP, build]


def prune(root: str, prefix: str, keep: list[str]) -> list[str]:
    return [PYTHON, "-I", "-c", PRUNE, root, prefix, *keep]
