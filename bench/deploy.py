"""`instapods deploy` end to end: the real CLI against a real `instapods server`.

Starts `instapods server` the way bench/pod_start.py does (its own data and pods directories
under /tmp/instapods-bench, a free port; its helpers are imported from there), registers a
user, writes a 200-file static site (index.html and 199 pages, posts, styles, scripts and icons
of 1-6 KB, all but the index in subfolders) and prints, in one run:

- first deploy: `instapods deploy NAME --local SITE` as a subprocess (the CLI as installed, with
  INSTAPODS_API, INSTAPODS_TOKEN and its own XDG_CONFIG_HOME), which creates the pod, waits
  until it runs, uploads the 200 files, reloads it and waits until the app answers; a fresh
  pod per run;
- one-file redeploy: one page changed, the same command again on that pod (then the page is
  checked through the edge and the pod deleted);
- beside them: the same API calls made in this process with httpx (one kept-alive client,
  polling every 10 ms, the archive made beforehand: what the server and the edge take), and as
  many bare `GET /api/auth/user` as the deploy makes requests (counted in the traced runs
  below; that many round trips through the edge, on a new connection like the CLI's);
- the CLI's start-up: `instapods version`, wall time, part of every command;
- where a deploy's time goes: the same `main()` run a few more times through a tracer
  (`python -c TRACER`: time stamps around the deploy's steps, its HTTP requests, sleeps and
  httpx clients; nothing in src/ changed), and `python -X importtime` once for its imports.

Times are medians of RUNS runs (min-max in brackets), on the monotonic clock, which the CLI
processes share with this one. As root:
    .venv/bin/python bench/deploy.py [RUNS]      (default 7; about 40 s)
Pods are deleted through the API after each run and the server stopped; whatever a failure
leaves (server, Caddy, pods on the host) is removed by PID and by the pods directory (and the
host's pod firewall only when no other `instapods server` runs). Other installations' pods
may run meanwhile: a new pod takes a slot no namespace on the host uses.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

# bench/ is not a package; run as a script, this file's directory is on sys.path.
import pod_start
from pod_start import (
    BASE,
    INSTAPODS,
    Server,
    Timing,
    call,
    delete_and_wait,
    machine,
    other_servers,
    print_dropped,
    print_machine,
    register,
    running_server,
)

from instapods.cli.deploy import APP, DEFAULT_EXCLUDES

T = TypeVar("T")
TRACE_RUNS = 3
CHANGED = "pages/page-007.html"  # the page a redeploy changes
REPLAY_POLL = 0.01
CLI_TIMEOUT = 180.0
ANSWER_TIMEOUT = 60.0

# The targets.
TARGET_FIRST_S = 3.0
TARGET_REDEPLOY_S = 1.0

# Run as `python -c TRACER deploy NAME --local DIR`: the CLI's own main(), with monotonic time
# stamps around the deploy's steps (module globals of instapods.cli.deploy, looked up at each
# call), every httpx request, client set-up and sleep; written as JSON to $BENCH_TRACE at exit.
TRACER = r"""
import time
_now = time.monotonic
stamps = {"up": _now()}
import atexit, json, os, sys
import httpx
import instapods.cli.main as cli_main
from instapods.cli import deploy
stamps["imported"] = _now()
events, spans = [], []

def _current():
    return spans[-1] if spans else ""

def _span(name, function):
    def traced(*args, **kwargs):
        spans.append(name)
        start = _now()
        try:
            return function(*args, **kwargs)
        finally:
            spans.pop()
            events.append({"kind": "span", "name": name, "start": start, "end": _now(),
                           "span": _current()})
    return traced

for _name in ("_existing", "wait_running", "local_files", "send", "reload", "wait_answering",
              "show"):
    setattr(deploy, _name, _span(_name, getattr(deploy, _name)))

_folder_of = deploy.folder_of
def _folder_of_traced(*args, **kwargs):
    stamps.setdefault("command", _now())
    return _folder_of(*args, **kwargs)
deploy.folder_of = _folder_of_traced

_send = httpx.Client.send
def _send_traced(self, request, **kwargs):
    start, status = _now(), None
    try:
        response = _send(self, request, **kwargs)
        status = response.status_code
        return response
    finally:
        events.append({"kind": "request", "method": request.method, "path": request.url.path,
                       "size": int(request.headers.get("content-length") or 0),
                       "status": status, "start": start, "end": _now(), "span": _current()})
httpx.Client.send = _send_traced

_init = httpx.Client.__init__
def _init_traced(self, *args, **kwargs):
    start = _now()
    _init(self, *args, **kwargs)
    events.append({"kind": "client", "start": start, "end": _now(), "span": _current()})
httpx.Client.__init__ = _init_traced

import typer.core
_build = getattr(typer.core, "build_runtime_param", None)  # Typer >= 0.2x: pydantic coercion
def _build_traced(descriptor):
    if "typer._adapters" not in sys.modules:  # it imports pydantic when first used
        start = _now()
        import typer._adapters
        events.append({"kind": "pydantic", "start": start, "end": _now(), "span": _current()})
    return _build(descriptor)
if _build is not None:
    typer.core.build_runtime_param = _build_traced

_sleep = time.sleep
def _sleep_traced(seconds):
    start = _now()
    _sleep(seconds)
    events.append({"kind": "sleep", "start": start, "end": _now(), "span": _current()})
time.sleep = _sleep_traced

def _dump():
    stamps["exit"] = _now()
    with open(os.environ["BENCH_TRACE"], "w") as handle:
        json.dump({"stamps": stamps, "events": events}, handle)
atexit.register(_dump)
sys.argv[0] = "instapods"
cli_main.main()
"""

# (key, label) of the breakdown, in the order a first deploy meets them.
PHASES = (
    ("start", "Python start-up (spawn to the first line)"),
    ("imports", "imports (instapods.cli.main: httpx, typer, rich)"),
    ("pydantic", "Typer: pydantic imported (for its argument coercion)"),
    ("parse", "Typer: commands built, arguments parsed"),
    ("clients", "httpx clients made (each loads the CA bundle)"),
    ("get_pod", "GET pod (does it exist?)"),
    ("create", "POST /api/pods"),
    ("polls", "GET pod until it runs"),
    ("poll_sleep", "  sleeps between those polls (0.3 s each)"),
    ("hash", "walking and hashing the folder (SHA-256)"),
    ("manifest", "GET files/manifest"),
    ("tar", "tar.gz of the files to send"),
    ("unpack", "POST files/unpack"),
    ("reload", "POST reload"),
    ("answer", "GET the pod's URL until the app answers"),
    ("answer_sleep", "  sleeps between those (0.2 s each)"),
    ("other_requests", "other requests"),
    ("other_sleep", "other sleeps (before resending)"),
    ("close", "end of the command until exit (clients closed)"),
    ("exit", "interpreter shut down (collects the heap)"),
    ("rest", "the rest (Python between the steps)"),
)
COUNTED = {"clients", "get_pod", "create", "polls", "manifest", "unpack", "reload", "answer",
           "other_requests"}  # fmt: skip


# -- the site ---------------------------------------------------------------------------------

WORDS = (
    "pod", "deploy", "static", "page", "site", "edge", "route", "file", "folder", "cache",
    "nginx", "sandbox", "archive", "upload", "reload", "server", "client", "style", "script",
    "the", "a", "of", "to", "and", "in", "is", "for", "with", "on", "that", "this", "from",
)  # fmt: skip


def prose(rng: random.Random, size: int) -> str:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def html(title: str, body: str) -> str:
    return (f"<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
            f"<title>{title}</title>\n<link rel=\"stylesheet\" href=\"/assets/css/style-00.css\">"
            f"</head>\n<body>\n<h1>{title}</h1>\n<p>{body}</p>\n</body>\n</html>\n")  # fmt: skip


def make_site(folder: Path) -> dict[str, bytes]:
    """index.html and 199 files of 1-6 KB in subfolders (pages, posts, CSS, JS, SVG icons)."""
    rng = random.Random(7)
    files: dict[str, str] = {}
    pages = [f"pages/page-{i:03}.html" for i in range(80)]
    posts = [f"blog/2025/post-{i:02}.html" for i in range(40)]
    for path in pages + posts:
        files[path] = html(path.rsplit("/", 1)[-1], prose(rng, rng.randint(1500, 5500)))
    for index in range(20):
        rules = "".join(f".c{index}-{n} {{ margin: {n}px; color: #{rng.randrange(4096):03x}; }}\n"
                        for n in range(rng.randint(40, 120)))  # fmt: skip
        files[f"assets/css/style-{index:02}.css"] = rules
        lines = "".join(f"export const v{n} = {json.dumps(prose(rng, 30))};\n"
                        for n in range(rng.randint(30, 120)))  # fmt: skip
        files[f"assets/js/app-{index:02}.js"] = lines
    for index in range(39):
        circles = "".join(f'<circle cx="{rng.randrange(64)}" cy="{rng.randrange(64)}" r="4"/>'
                          for _ in range(rng.randint(30, 150)))  # fmt: skip
        files[f"assets/img/icon-{index:02}.svg"] = (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">{circles}</svg>\n'
        )
    links = "".join(f'<li><a href="/{path}">{path}</a></li>' for path in pages + posts)
    files = {"index.html": html("bench site", f"<ul>{links}</ul>"), **files}
    assert len(files) == 200, len(files)
    for path, text in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return {path: text.encode() for path, text in files.items()}


def tar_gz(members: dict[str, bytes]) -> bytes:
    """An archive like the CLI's (gzip level 1)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def changed_page(original: bytes, marker: str) -> bytes:
    return original.replace(b"</body>", f'<p id="changed">{marker}</p>\n</body>'.encode())


def fetch(server: Server, name: str, path: str) -> tuple[int, bytes]:
    """GET path of the pod through the edge, on a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": server.host(name)})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def check_page(server: Server, name: str, path: str, expected: bytes) -> None:
    status, body = fetch(server, name, path)
    if status != 200 or expected not in body:
        raise RuntimeError(f"{name}: GET /{path.lstrip('/')} answered {status} without "
                           f"{expected!r}: {body[:200]!r}")  # fmt: skip


# -- the CLI ------------------------------------------------------------------------------------


class CliFailed(RuntimeError):
    pass


def cli_env(server: Server, config: Path) -> dict[str, str]:
    config.mkdir(mode=0o700)
    token = str(server.api.headers["Authorization"]).removeprefix("Bearer ")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSTAPODS_")}
    env.update(
        INSTAPODS_API=f"http://127.0.0.1:{server.port}",
        INSTAPODS_TOKEN=token,
        XDG_CONFIG_HOME=str(config),
    )
    return env


def run_cli(argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one CLI process, from spawn to exit; CliFailed unless it exits 0."""
    started = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, timeout=CLI_TIMEOUT, check=False)
    took = time.monotonic() - started
    if done.returncode != 0:
        output = (done.stderr or done.stdout).decode(errors="replace").strip()[-600:]
        raise CliFailed(f"`instapods {' '.join(argv[1:3])}…` exited {done.returncode}: {output}")
    return took


def deploy_args(name: str, site: Path) -> list[str]:
    return ["deploy", name, "--local", str(site)]


@dataclass
class Phases:
    """One traced deploy: seconds and count per phase key (see PHASES)."""

    seconds: dict[str, float]
    counts: dict[str, int]
    total: float
    requests: int
    upload_bytes: int


def request_key(event: dict[str, Any]) -> str:
    span, method, path = event["span"], event["method"], event["path"]
    if span == "_existing":
        return "get_pod"
    if span == "wait_running":
        return "polls"
    if span == "wait_answering":
        return "answer"
    if method == "POST" and path == "/api/pods":
        return "create"
    for suffix, key in (("/files/manifest", "manifest"), ("/files/unpack", "unpack"),
                        ("/reload", "reload")):  # fmt: skip
        if path.endswith(suffix):
            return key
    return "other_requests"


def phases_of(trace: dict[str, Any], started: float, ended: float) -> Phases:
    stamps, events = trace["stamps"], trace["events"]
    seconds: dict[str, float] = {}
    counts: dict[str, int] = {}

    def add(key: str, took: float) -> None:
        seconds[key] = seconds.get(key, 0.0) + took
        counts[key] = counts.get(key, 0) + 1

    add("start", stamps["up"] - started)
    add("imports", stamps["imported"] - stamps["up"])
    add("parse", stamps.get("command", stamps["imported"]) - stamps["imported"])
    requests = [e for e in events if e["kind"] == "request"]
    sleeps = {"wait_running": "poll_sleep", "wait_answering": "answer_sleep"}
    for event in events:
        took = event["end"] - event["start"]
        if event["kind"] == "client":
            add("clients", took)
        elif event["kind"] == "pydantic":
            add("pydantic", took)
            seconds["parse"] -= took
        elif event["kind"] == "sleep":
            add(sleeps.get(event["span"], "other_sleep"), took)
        elif event["kind"] == "request":
            add(request_key(event), took)
        elif event["name"] == "local_files":
            add("hash", took)
        elif event["name"] == "send":  # the archive, then the POST
            posted = sum(r["end"] - r["start"] for r in requests
                         if event["start"] <= r["start"] <= event["end"])  # fmt: skip
            add("tar", took - posted)
    last = max((e["end"] for e in events), default=stamps["imported"])
    add("close", stamps["exit"] - last)
    add("exit", ended - stamps["exit"])
    total = ended - started
    seconds["rest"] = total - sum(seconds.values())
    upload = sum(r["size"] for r in requests if r["path"].endswith("/files/unpack"))
    return Phases(seconds, counts, total, len(requests), upload)


def traced(argv: list[str], env: dict[str, str], trace: Path) -> Phases:
    """One CLI run through the tracer; its phases."""
    trace.unlink(missing_ok=True)
    started = time.monotonic()
    run_cli([sys.executable, "-c", TRACER, *argv], {**env, "BENCH_TRACE": str(trace)})
    ended = time.monotonic()
    return phases_of(json.loads(trace.read_text()), started, ended)


def import_costs(env: dict[str, str]) -> tuple[float, list[tuple[str, float]]]:
    """`-X importtime` of instapods.cli.main: its cumulative seconds, and the self time summed
    by top-level package, largest first."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import instapods.cli.main"],
                          env=env, capture_output=True, text=True, check=True)  # fmt: skip
    total = 0.0
    by_package: dict[str, float] = {}
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
        if found is None:
            continue
        name = found[3]
        if name == "instapods.cli.main":
            total = int(found[2]) / 1e6
        package = name.split(".")[0].lstrip("_")
        if package in sys.stdlib_module_names or name.startswith("_"):
            package = f"stdlib: {package}"
        by_package[package] = by_package.get(package, 0.0) + int(found[1]) / 1e6
    return total, sorted(by_package.items(), key=lambda item: -item[1])


# -- the same calls in process --------------------------------------------------------------


def expect(response: httpx.Response, *statuses: int) -> Any:
    if response.status_code not in statuses:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: "
                           f"{response.status_code} {response.text[:300]}")  # fmt: skip
    return response.json()


def wait_answer(server: Server, name: str) -> int:
    """GET / of the pod until the app (not the edge's 502-504) answers; the GETs made."""
    deadline = time.monotonic() + ANSWER_TIMEOUT
    count = 0
    while time.monotonic() < deadline:
        count += 1
        if pod_start.status_of(server.port, server.host(name)) not in (None, 502, 503, 504):
            return count
        time.sleep(REPLAY_POLL)
    raise RuntimeError(f"{name} did not answer within {ANSWER_TIMEOUT:.0f} s")


def replay(server: Server, name: str, archive: bytes, create: bool) -> tuple[float, int]:
    """The deploy's API calls in this process (a kept-alive client, the archive ready): seconds
    and the number of requests."""
    pod_path = f"/api/pods/{name}"
    manifest = [("path", APP), *(("exclude", p) for p in DEFAULT_EXCLUDES)]
    started = time.monotonic()
    count = 3  # manifest, unpack, reload; then the polls and the GETs of the app
    if create:
        expect(call(server, "GET", pod_path), 404)
        expect(call(server, "POST", "/api/pods", json={"name": name, "preset": "static"}), 202)
        count += 2
    while True:
        count += 1
        status = expect(call(server, "GET", pod_path), 200)["status"]
        if status != "creating":
            break
        time.sleep(REPLAY_POLL)
    if status != "running":
        raise RuntimeError(f"{name} is {status}")
    expect(call(server, "GET", f"{pod_path}/files/manifest", params=manifest), 200)
    files = {"archive": ("files.tar.gz", archive, "application/gzip")}
    expect(call(server, "POST", f"{pod_path}/files/unpack", data={"path": APP}, files=files), 200)
    expect(call(server, "POST", f"{pod_path}/reload", timeout=900), 200)
    count += wait_answer(server, name)
    return time.monotonic() - started, count


def bare_calls(server: Server, count: int) -> float:
    """`count` GET /api/auth/user through the edge on a new kept-alive connection."""
    headers = {"Authorization": server.api.headers["Authorization"]}
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", headers=headers) as client:
        started = time.monotonic()
        for _ in range(count):
            for _attempt in range(5):
                try:
                    client.get("/api/auth/user").raise_for_status()
                    break
                except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                    server.dropped.append(f"GET /api/auth/user: {type(exc).__name__}")
        return time.monotonic() - started


# -- the measurements -------------------------------------------------------------------------


@dataclass
class Results:
    runs: int
    machine: str = ""
    neighbours: set[int] = field(default_factory=set)
    load_after: str = ""
    dropped: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    site_bytes: int = 0
    version: Timing | None = None
    import_total: float = 0.0
    imports: list[tuple[str, float]] = field(default_factory=list)
    traces: dict[str, list[Phases]] = field(default_factory=dict)  # first, redeploy
    cli: dict[str, list[float]] = field(default_factory=dict)
    replay: dict[str, list[float]] = field(default_factory=dict)
    replay_calls: dict[str, list[int]] = field(default_factory=dict)
    bare: dict[str, list[float]] = field(default_factory=dict)

    def calls(self, kind: str) -> int:
        """The requests a deploy makes (the median of the traced runs)."""
        return round(statistics.median(p.requests for p in self.traces[kind]))


@dataclass
class Pods:
    """The pods made so far and not yet deleted (deleted through the API at the end)."""

    server: Server
    names: list[str] = field(default_factory=list)

    def remove(self, name: str) -> None:
        response = call(self.server, "GET", f"/api/pods/{name}")
        if response.status_code == 200:
            delete_and_wait(self.server, [response.json()])
        elif response.status_code != 404:
            raise RuntimeError(f"{name}: {response.status_code} {response.text[:300]}")
        self.names.remove(name)

    def remove_all(self) -> None:
        for name in list(self.names):
            try:
                self.remove(name)
            except Exception as exc:  # the pods directory is cleaned up after the server
                print(f"could not delete pod {name}: {exc}", file=sys.stderr)


def cli_pair(
    pods: Pods, site: Path, name: str, marker: str, once: Callable[[list[str]], T]
) -> tuple[T, T]:
    """A first deploy of a new pod `name` and a one-file redeploy (each checked through the
    edge), each run by `once(arguments)`; then the pod is deleted."""
    server, page = pods.server, site / CHANGED
    original = page.read_bytes()
    pods.names.append(name)
    try:
        first = once(deploy_args(name, site))
        check_page(server, name, "/", b"<title>bench site</title>")
        page.write_bytes(changed_page(original, marker))
        again = once(deploy_args(name, site))
        check_page(server, name, f"/{CHANGED}", marker.encode())
    finally:
        page.write_bytes(original)
        pods.remove(name)
    return first, again


def measure(server: Server, pods: Pods, root: Path, runs: int) -> Results:
    results = Results(runs, machine())
    results.neighbours.update(other_servers(server.process.pid))
    register(server)
    site = root / "site"
    members = make_site(site)
    results.site_bytes = sum(len(data) for data in members.values())
    env = cli_env(server, root / "config")

    version = [str(INSTAPODS), "version"]
    run_cli(version, env)
    results.version = Timing(tuple(run_cli(version, env) for _ in range(runs)))
    results.import_total, results.imports = import_costs(env)

    def trace(arguments: list[str]) -> Phases:
        return traced(arguments, env, root / "trace")

    def timed(arguments: list[str]) -> float:
        return run_cli([str(INSTAPODS), *arguments], env)

    for run in range(TRACE_RUNS):  # also the warm-up
        first, again = cli_pair(pods, site, f"trace-{run}", f"trace {run}", trace)
        results.traces.setdefault("first", []).append(first)
        results.traces.setdefault("redeploy", []).append(again)

    full = tar_gz(members)
    for run in range(runs):
        results.neighbours.update(other_servers(server.process.pid))
        try:
            first_s, again_s = cli_pair(pods, site, f"cli-{run}", f"cli {run}", timed)
        except CliFailed as exc:
            results.failures.append(str(exc))
        else:
            results.cli.setdefault("first", []).append(first_s)
            results.cli.setdefault("redeploy", []).append(again_s)

        name = f"api-{run}"
        pods.names.append(name)
        marker = f"api {run}"
        one = tar_gz({CHANGED: changed_page(members[CHANGED], marker)})
        for kind, archive, create in (("first", full, True), ("redeploy", one, False)):
            took, count = replay(server, name, archive, create)
            results.replay.setdefault(kind, []).append(took)
            results.replay_calls.setdefault(kind, []).append(count)
        check_page(server, name, f"/{CHANGED}", marker.encode())
        pods.remove(name)

        for kind in ("first", "redeploy"):
            results.bare.setdefault(kind, []).append(bare_calls(server, results.calls(kind)))
    results.neighbours.update(other_servers(server.process.pid))
    results.load_after = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    results.dropped = server.dropped
    return results


# -- the report -------------------------------------------------------------------------------

LABEL = 50
COLUMN = 34


def timing(samples: Iterable[float]) -> Timing | None:
    found = tuple(samples)
    return Timing(found) if found else None


def row(label: str, *cells: object) -> None:
    print(f"  {label:<{LABEL}}" + "".join(f"{cell!s:<{COLUMN}}" for cell in cells).rstrip())


def verdict(label: str, value: str, ok: bool) -> None:
    print(f"  {label:<{LABEL}}{value:<12}{'PASS' if ok else 'MISS'}")


def report_times(results: Results) -> None:
    kinds = ("first", "redeploy")
    print(f"{'':<{LABEL + 2}}{'first deploy':<{COLUMN}}one-file redeploy")

    def line(label: str, data: dict[str, list[float]], counts: dict[str, int] | None) -> None:
        cells = []
        for kind in kinds:
            measured = timing(data.get(kind, []))
            count = f"  {counts[kind]} calls" if counts else ""
            cells.append(f"{measured!s}{count}" if measured else "-")
        row(label, *cells)

    traced_calls = {kind: results.calls(kind) for kind in kinds}
    replay_calls = {k: round(statistics.median(v)) for k, v in results.replay_calls.items()}
    line("instapods deploy (the CLI, wall time)", results.cli, traced_calls)
    line("the same API calls in process (httpx)", results.replay, replay_calls)
    line("floor: as many GET /api/auth/user", results.bare, traced_calls)
    cli = {k: statistics.median(v) for k, v in results.cli.items()}
    api = {k: statistics.median(v) for k, v in results.replay.items()}
    row("the CLI's own share (deploy - in-process calls)",
        *(f"{(cli[k] - api[k]) * 1000:6.1f} ms" if k in cli else "-" for k in kinds))  # fmt: skip
    row("instapods version (the CLI's start-up)", results.version)


# Which side of a deploy each phase is on, for the summary under the breakdown.
SIDES = (
    ("waiting for the API and the app (the requests)",
     {"get_pod", "create", "polls", "manifest", "unpack", "reload", "answer", "other_requests"}),
    ("sleeping between polls", {"poll_sleep", "answer_sleep", "other_sleep"}),
    ("the CLI's own work (all the rest)", None),
)  # fmt: skip


def report_phases(results: Results) -> None:
    traces = results.traces
    kinds = ("first", "redeploy")
    width = LABEL + 20

    def median_ms(kind: str, keys: Iterable[str]) -> float:
        chosen = set(keys)
        return 1000 * statistics.median(
            sum(s for k, s in p.seconds.items() if k in chosen) for p in traces[kind]
        )

    title = f"where a deploy's time goes (traced CLI, median of {TRACE_RUNS}), ms (calls)"
    print(f"{title:<{width}}{'first':>8}{'':<8}{'redeploy':>8}")
    for key, label in PHASES:
        cells = []
        for kind in kinds:
            ms = median_ms(kind, [key])
            count = round(statistics.median(p.counts.get(key, 0) for p in traces[kind]))
            cells.append(f"{ms:8.1f}" + (f" ({count})".ljust(8) if key in COUNTED else " " * 8))
        if any(round(median_ms(kind, [key]), 1) for kind in kinds):
            print(f"  {label:<{width - 2}}" + "".join(cells).rstrip())
    totals = [statistics.median(p.total for p in traces[kind]) * 1000 for kind in kinds]
    print(f"  {'total (wall time of the traced runs)':<{width - 2}}"
          + "".join(f"{t:8.1f}{'':<8}" for t in totals).rstrip())  # fmt: skip
    every = {key for key, _ in PHASES}
    for label, keys in SIDES:
        if keys is None:
            keys = every - set().union(*(k for _, k in SIDES if k is not None))
        cells = [f"{median_ms(kind, keys):8.1f}{'':<8}" for kind in kinds]
        print(f"    {label:<{width - 4}}" + "".join(cells).rstrip())
    uploads = [statistics.median(p.upload_bytes for p in traces[kind]) / 1024 for kind in kinds]
    print(f"  (archives sent: {uploads[0]:.0f} KB and {uploads[1]:.1f} KB, multipart)")


def report_imports(results: Results) -> None:
    print(f"imports of instapods.cli.main (-X importtime, once): {results.import_total * 1000:.0f}"
          " ms; self time by package:")  # fmt: skip
    top = results.imports[:10]
    print("  " + ", ".join(f"{name} {seconds * 1000:.0f}" for name, seconds in top))


def report_targets(results: Results) -> None:
    print("targets (median)")
    for kind, label, target in (("first", "first deploy", TARGET_FIRST_S),
                                ("redeploy", "one-file redeploy", TARGET_REDEPLOY_S)):  # fmt: skip
        samples = results.cli.get(kind, [])
        if not samples:
            verdict(f"{label} < {target:.0f} s", "no run", False)
            continue
        median = statistics.median(samples)
        verdict(f"{label} < {target:.0f} s", f"{median:5.2f} s", median < target)


def report(results: Results) -> None:
    print(f"instapods deploy of a 200-file static site ({results.site_bytes / 1024:.0f} KB): "
          f"{results.runs} runs each, median (min-max)")  # fmt: skip
    print_machine(results.machine, results.load_after, results.neighbours)
    for part in (report_times, report_phases, report_imports):
        print()
        part(results)
    print_dropped(results.dropped)
    for failure in results.failures:
        print(f"FAILED: {failure}")
    print()
    report_targets(results)


# -- set-up and clean-up ------------------------------------------------------------------------


def check_host() -> None:
    if os.geteuid() != 0:
        sys.exit("run as root: pods need namespaces, cgroups and loop mounts")


def main(argv: list[str]) -> None:
    runs = int(argv[1]) if len(argv) > 1 else 7
    check_host()
    BASE.mkdir(mode=0o711, exist_ok=True)
    os.chmod(BASE, 0o711)  # noqa: S103 (pod users must reach their pods)
    root = BASE / secrets.token_hex(6)
    root.mkdir()
    os.chmod(root, 0o711)  # noqa: S103
    try:
        with running_server(root, 0) as server:
            pods = Pods(server)
            try:
                results = measure(server, pods, root, runs)
            finally:
                pods.remove_all()
    finally:
        pod_start.clean_up(root)
    report(results)


if __name__ == "__main__":
    main(sys.argv)
