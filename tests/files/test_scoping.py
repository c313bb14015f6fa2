"""Who may call which files route, and where a path can reach.

The table below is the permission contract of the Files API: every route under
/api/pods/{name}/files and /api/pods/{name}/folders has a row, or
`test_every_files_route_is_in_the_table` fails. An outsider (a signed-in user of another team)
gets the very 404 a pod that does not exist gives, on every route; viewers list, read and
download; members, admins and owners also change. A request that fails changes nothing in the
pod (its files, seen through its owner, and its events).

Hostile paths (generated with hypothesis) never reach outside the pod: every answer is a
documented status with an `{"error": …}` body, and the host's directories, the pod's own system
folders and a neighbouring pod are the same afterwards.
"""

from __future__ import annotations

import asyncio
import os
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from instapods.app import create_app
from instapods.config import Settings
from instapods.models import Role
from instapods.runtime.files import pod_path
from tests.files.support import APP, Part, events, multipart, ok, put, targz
from tests.fixtures.errors import answered_as_missing, error_of
from tests.fixtures.factories import Factory, UserHandle
from tests.fixtures.http import Client
from tests.fixtures.pods import running_worker, wait_for_status
from tests.pods.support import Body, create, running_pod, sh

Actor = Literal["outsider", "owner", "admin", "member", "viewer"]
ACTORS: tuple[Actor, ...] = ("outsider", "owner", "admin", "member", "viewer")
TEAM: tuple[Actor, ...] = ("owner", "admin", "member", "viewer")
CHANGERS: tuple[Actor, ...] = ("owner", "admin", "member")

POD = "/api/pods/{name}"
FILES = f"{POD}/files"
FOLDERS = f"{POD}/folders"
SHARED = "shared"
MISSING = "no-such-pod"
CHANGE_EVENTS = (
    "file_saved,file_uploaded,file_deleted,file_renamed,file_copied,folder_created,"
    "files_unpacked,file_downloaded"
)


@dataclass(frozen=True)
class Case:
    """One request and the status each caller gets: outsider, owner, admin, member, viewer.
    `{actor}` in a value is the caller's role, so that each caller changes files of its own."""

    method: str
    route: str
    what: str
    expect: tuple[int, int, int, int, int]
    params: dict[str, str] | None = None
    json: Body | None = None
    form: tuple[tuple[str, str | None, str], ...] | None = None  # multipart parts, as text

    def expected(self, actor: Actor) -> int:
        return self.expect[ACTORS.index(actor)]


#      outsider  owner  admin  member  viewer
READ = (404, 200, 200, 200, 200)
CHANGE = (404, 200, 200, 200, 403)
ARCHIVE = "\x00archive"  # a form part's content: the test's tar.gz

CASES: tuple[Case, ...] = (
    Case("GET", FILES, "list a folder", READ, params={"path": APP}),
    Case("GET", f"{FILES}/content", "read a file", READ, params={"path": f"{APP}/seed.txt"}),
    Case("PUT", f"{FILES}/content", "save a file", CHANGE,
         json={"path": f"{APP}/saved-{{actor}}.txt", "content": "by {actor}"}),
    Case("POST", f"{FILES}/upload", "upload a file", CHANGE,
         form=(("path", None, f"{APP}/up-{{actor}}"), ("file", "f.txt", "by {actor}"))),
    Case("GET", f"{FILES}/download", "download a file", READ, params={"path": f"{APP}/seed.txt"}),
    Case("DELETE", FILES, "delete a file", CHANGE, params={"path": f"{APP}/del-{{actor}}.txt"}),
    Case("POST", f"{FILES}/rename", "rename a file", CHANGE,
         json={"old_path": f"{APP}/ren-{{actor}}.txt", "new_path": f"{APP}/renamed-{{actor}}.txt"}),
    Case("POST", f"{FILES}/copy", "copy a file", CHANGE,
         json={"source_path": f"{APP}/seed.txt", "destination_path": f"{APP}/copy-{{actor}}.txt"}),
    Case("POST", FOLDERS, "make a folder", CHANGE, json={"path": f"{APP}/folder-{{actor}}"}),
    Case("GET", f"{FILES}/manifest", "list files with their hashes", READ, params={"path": APP}),
    Case("POST", f"{FILES}/unpack", "unpack an archive", CHANGE,
         form=(("path", None, f"{APP}/unpacked-{{actor}}"), ("archive", "a.tgz", ARCHIVE))),
)  # fmt: skip


def files_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every files route, from the routing tree and the OpenAPI document."""
    prefixes = (FILES, FOLDERS)
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        if path.startswith(prefixes):
            found.update((m, path) for m in (context.methods or {"ANY"}) if m != "HEAD")
    for path, operations in app.openapi()["paths"].items():
        if path.startswith(prefixes):
            found.update((m.upper(), path) for m in operations)
    return found


def test_every_files_route_is_in_the_table(tmp_path: Path) -> None:
    routes = files_routes(create_app(Settings(data_dir=tmp_path / "data")))
    assert ("GET", FILES) in routes  # the enumeration itself works
    assert ("POST", FOLDERS) in routes
    table = {(case.method, case.route) for case in CASES}
    assert routes - table == set(), "files routes with no row in the access table"
    assert table - routes == set(), "rows for routes that no longer exist"


ARCHIVE_BYTES = targz({"site/": None, "site/index.html": b"<p>hi</p>"})


async def send(client: Client, case: Case, name: str, actor: str) -> httpx.Response:
    def fill(value: str) -> str:
        return value.replace("{actor}", actor)

    url = case.route.format(name=name)
    params = {key: fill(value) for key, value in (case.params or {}).items()}
    if case.form is not None:
        parts: list[Part] = [
            (field, filename, ARCHIVE_BYTES if value == ARCHIVE else fill(value).encode())
            for field, filename, value in case.form
        ]
        body, headers = multipart(parts)
        return await client.request(case.method, url, content=body, headers=headers)
    json = {key: fill(value) for key, value in case.json.items()} if case.json else None
    return await client.request(case.method, url, params=params, json=json)


@dataclass
class World:
    """The five callers (the team's four roles and an outsider) and the team's running pod."""

    clients: dict[Actor, Client]
    users: dict[Actor, UserHandle]

    @property
    def owner(self) -> Client:
        return self.clients["owner"]

    async def state(self) -> tuple[str, int]:
        """What a failed request must leave as it was: every file of the pod (with its size and
        time), as its owner sees it, and the count of the pod's files events."""
        every = "find /home/instapod /var/www /tmp -printf '%p %s %T@\\n' | sort"
        tree = await sh(self.owner, SHARED, every)
        response = await self.owner.get(f"/api/pods/{SHARED}/events",
                                        params={"type": CHANGE_EVENTS, "limit": 1})  # fmt: skip
        return tree, int(ok(response)["total"])


async def world_of(app: FastAPI, client: Client, factory: Factory) -> World:
    users: dict[Actor, UserHandle] = {actor: await factory.user() for actor in ACTORS}
    roles = {Role.ADMIN: users["admin"], Role.MEMBER: users["member"], Role.VIEWER: users["viewer"]}
    team_id = await factory.team(users["owner"], members=roles)
    clients = {actor: client.as_user(user.token) for actor, user in users.items()}
    for actor in TEAM:
        switched = await clients[actor].post("/api/teams/switch", json={"team_id": team_id})
        assert switched.status_code == 200, switched.text
    async with running_worker(app):
        await create(clients["owner"], SHARED)
        pod = await wait_for_status(clients["owner"], SHARED, {"running", "error"})
        assert pod["status"] == "running", pod
    world = World(clients, users)
    await put(world.owner, SHARED, f"{APP}/seed.txt", "seed")
    names = " ".join(f"del-{actor}.txt ren-{actor}.txt" for actor in ACTORS)
    await sh(world.owner, SHARED, f"touch {names}")
    return world


async def check(world: World, case: Case, actor: Actor) -> list[str]:
    """Make the request as `actor`; return what went against the table."""
    expected = case.expected(actor)
    before = await world.state() if expected >= 400 else None
    response = await send(world.clients[actor], case, SHARED, actor)
    label = f"{case.method} {case.route} ({case.what}) as {actor}"
    if response.status_code != expected:
        return [f"{label}: expected {expected}, got {response.status_code} {response.text}"]
    if before is None:
        return []
    error_of(response.json())
    problems = []
    if await world.state() != before:
        problems.append(f"{label}: failed with {response.status_code} but changed something")
    if actor == "outsider":
        missing = await send(world.clients[actor], case, MISSING, actor)
        problems += answered_as_missing(label, response, missing)
    return problems


async def test_access_matrix(app: FastAPI, client: Client, factory: Factory) -> None:
    world = await world_of(app, client, factory)
    problems: list[str] = []
    for case in CASES:
        for actor in ACTORS:
            problems += await check(world, case, actor)
    assert problems == [], "\n" + "\n".join(problems)

    # What the allowed callers did happened, to the team's pod; the others' left nothing.
    listing = set((await sh(world.owner, SHARED, "ls -A")).split())
    for actor in ACTORS:
        made = {f"saved-{actor}.txt", f"up-{actor}", f"renamed-{actor}.txt",
                f"copy-{actor}.txt", f"folder-{actor}", f"unpacked-{actor}"}  # fmt: skip
        kept = {f"del-{actor}.txt", f"ren-{actor}.txt"}
        if actor in CHANGERS:
            assert made <= listing, actor
            assert not kept & listing, actor
        else:
            assert not made & listing, actor
            assert kept <= listing, actor
    contents = await sh(world.owner, SHARED, "cat saved-admin.txt up-member/f.txt "
                                              "unpacked-owner/site/index.html")  # fmt: skip
    assert contents == "by adminby member<p>hi</p>"
    # Each change is an event of the pod by the one who made it.
    found = await events(world.owner, SHARED, CHANGE_EVENTS)
    by_type: dict[str, set[str]] = {}
    for event in found:
        by_type.setdefault(str(event["type"]), set()).add(str(event["actor"]))
    changers = {world.users[actor].email for actor in CHANGERS}
    assert by_type == {
        "file_saved": {world.users["owner"].email} | changers,  # the seed, then each changer
        "file_uploaded": changers, "file_deleted": changers, "file_renamed": changers,
        "file_copied": changers, "folder_created": changers, "files_unpacked": changers,
        "file_downloaded": {world.users[actor].email for actor in TEAM},
    }  # fmt: skip


async def test_every_files_route_needs_credentials_and_a_provisioned_pod(
    app: FastAPI, client: Client, factory: Factory
) -> None:
    owner = await factory.user()
    api = client.as_user(owner.token)
    await create(api, "unborn")  # no job worker: it stays `creating`
    wrong: list[str] = []
    for token in (None, "ipt_not-a-real-token"):
        anonymous = client if token is None else client.as_user(token)
        for case in CASES:
            response = await send(anonymous, case, "unborn", "anonymous")
            if response.status_code != 401:
                wrong.append(f"{case.method} {case.route} ({token}): {response.status_code}")
            else:
                error_of(response.json())
    for case in CASES:
        response = await send(api, case, "unborn", "owner")
        if response.status_code != 409:
            wrong.append(f"{case.method} {case.route} (creating): {response.status_code}")
        else:
            assert "creating" in error_of(response.json())
    assert wrong == [], wrong
    assert (await api.get("/api/pods/unborn")).json()["status"] == "creating"


# -- hostile paths ----------------------------------------------------------------------------

PREFIXES = (
    "", "/", "//", ".", "..", "\\", "~", "/home/instapod", "/home/instapod/app",
    "/home/instapod/app/../..", "/home/instapod/../..", "/home/instapodX", "/home/instapod2",
    "/var/www", "/var/wwwx", "/var/www/../../etc", "/tmp", "/tmpx", "/tmp/..", "/etc", "/root",
    "/proc/self/root", "/proc/1/root/etc", "/proc/self/cwd", "/dev", "/sys", "/",
    "file:///etc", "http://x/", "C:\\", "\\\\server\\share", "/home/instapod/%2e%2e",
)  # fmt: skip
SEGMENTS = (
    "..", ".", "...", "%2e%2e", "%2e", "%2f", "..%2f..", "%00", "", "\x00", "\\", "..\\..",
    "etc", "passwd", "shadow", "instapod", "app", "root", "self", "proc", "*", "?", "$HOME",
    "~", " ", "é", "\u202e", "\u2024\u2024", "\uff0e\uff0e", "\uff45\uff54\uff43", "a" * 256,
    "b" * 5000, "-rf", ".bashrc", ".instapods", ".x.instapods-0",
)  # fmt: skip
SUFFIXES = ("", "/", "//", "/.", "/..", "\x00", "\\")
name_text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=12
)
# Names that are legal inside a root, however odd, and links of the target pod that lead out.
ROOTS = ("/home/instapod", "/home/instapod/app", "/var/www", "/tmp", "//tmp", "/home//instapod")
ODD_NAMES = (
    "...", "%2e%2e", "..%2f..", "\\", "..\\..", " ", "-rf", "*", "$HOME", "~", "é", "\u202e",
    "\uff0e\uff0e", "a" * 255, ".instapods", ".x.instapods-0", ".instapods-unpack-0", "CON",
)  # fmt: skip
LINKS = {"etc-link": "/etc", "root-link": "/", "proc-link": "/proc/self/root",
         "up-link": "/home/instapod/../../etc", "loop": "loop",
         "cwd-link": "/proc/self/cwd"}  # fmt: skip
OUTWARD = ("etc-link", "root-link", "proc-link", "up-link", "cwd-link")  # its cwd is /
RELINK = " && ".join(f"rm -rf {APP}/{n} && ln -s {to} {APP}/{n}" for n, to in LINKS.items())
odd_name = st.sampled_from(ODD_NAMES) | name_text.filter(
    lambda n: bool(n) and "/" not in n and "\x00" not in n and n not in (".", "..")
)
hostile_paths = st.one_of(
    st.builds(  # reaching out with "..", other roots, escapes, NUL…
        lambda prefix, names, suffix: prefix + "/".join(names) + suffix,
        st.sampled_from(PREFIXES).map(lambda p: p if p.endswith("/") or not p else p + "/"),
        st.lists(st.sampled_from(SEGMENTS) | name_text, max_size=5),
        st.sampled_from(SUFFIXES),
    ),
    st.builds(  # legal paths with odd names
        lambda root, names, suffix: "/".join([root, *names]) + suffix,
        st.sampled_from(ROOTS),
        st.lists(odd_name, min_size=1, max_size=4),
        st.sampled_from(("", "/", "//")),
    ),
    st.builds(  # through the pod's own links
        lambda link, names: "/".join([APP, link, *names]),
        st.sampled_from(sorted(LINKS)),
        st.lists(st.sampled_from(("passwd", "etc", "x", "", "shadow", "instapod")), max_size=3),
    ),
    st.sampled_from(PREFIXES),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40),
    st.text(st.sampled_from("./\\\x00%2e" + string.ascii_letters[:3]), max_size=30),
)
# Sent as they are (the client does not encode them again): escapes a server might decode twice,
# and bytes that are not UTF-8.
RAW_QUERIES = (
    "%2fetc%2fpasswd", "/home/instapod/%ff", "/home/instapod/%c0%ae%c0%ae/%c0%ae%c0%ae/etc",
    "/home/instapod/app/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/tmp/%252e%252e/etc", "%00",
    "/tmp/a%00b", "/tmp/%ed%a0%80", "/home/instapod/%2F..%2F..%2Fetc",
)  # fmt: skip
POD_ROOTS = ("/home/instapod", "/var/www", "/tmp")
EXAMPLES = 30  # on each database backend: 60 hostile paths a run, 300 requests
ANSWERS = {200, 400, 403, 404, 409, 413}
HOST_DIRS = [path for path in ("/", "/etc", "/root", "/home", "/var", "/var/www", "/usr", "/tmp",
                               os.getcwd()) if os.path.isdir(path)]  # fmt: skip


def examples(strategy: st.SearchStrategy[str], count: int) -> list[str]:
    """Values drawn by hypothesis (explicit list, not shrunk: each is sent over HTTP below)."""
    found: list[str] = []

    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(strategy)
    def collect(value: str) -> None:
        found.append(value)

    collect()
    return found


def host_view() -> dict[str, set[str]]:
    """The entries of a few host directories (the test's cwd among them)."""
    return {path: set(os.listdir(path)) for path in HOST_DIRS}


def reached(before: dict[str, set[str]], after: dict[str, set[str]], paths: list[str]) -> list[str]:
    """Entries of the host directories that came or went and that one of `paths` names (other
    programs on the host may change them too, but not with these names)."""
    changed = [
        f"{d}: {n}" for d in before for n in before[d] ^ after[d] if any(n in p for p in paths)
    ]
    if os.path.exists("/home/instapod"):
        changed.append("/home/instapod exists on the host")
    return changed


def inside_roots(path: str) -> bool:
    return any(path == root or path.startswith(root + "/") for root in POD_ROOTS)


async def hostile_requests(api: Client, pod: str, path: str) -> list[tuple[str, httpx.Response]]:
    """The path's reads at once, then its changes at once (the pod's files agents serve several
    requests together)."""
    base = f"/api/pods/{pod}"
    reads = await asyncio.gather(
        api.get(f"{base}/files", params={"path": path}),
        api.get(f"{base}/files/content", params={"path": path}),
    )
    changes = await asyncio.gather(
        api.put(f"{base}/files/content", json={"path": path, "content": "hostile"}),
        api.delete(f"{base}/files", params={"path": path}),
        api.post(f"{base}/folders", json={"path": path}),
    )
    whats = ("GET files", "GET content", "PUT content", "DELETE files", "POST folders")
    return list(zip(whats, [*reads, *changes], strict=True))


def judge(path: str, what: str, response: httpx.Response, normal: bool = True) -> list[str]:
    """What is wrong with the answer to a hostile path (`normal`: check that a success names
    the path's normal form)."""
    label = f"{what} {path!r}"
    if response.status_code not in ANSWERS:
        return [f"{label}: {response.status_code} {response.text[:300]}"]
    try:
        body = response.json()
    except ValueError:
        return [f"{label}: not JSON: {response.text[:300]}"]
    through_a_link = any(path.startswith(f"{APP}/{link}") for link in OUTWARD)
    if what in ("GET files", "GET content") and through_a_link and response.status_code == 200:
        # The link is there (made again just before): this read went out of the roots.
        return [f"{label}: read through a link out of the roots: {response.text[:300]}"]
    if response.status_code >= 400:
        try:
            error_of(body)
        except AssertionError:
            return [f"{label}: not an error body: {response.text[:300]}"]
        return []
    answered = str(body.get("path"))
    if not inside_roots(answered):
        return [f"{label}: answered for {answered!r}, outside the pod's roots"]
    if not normal:
        return []
    try:
        normal_form = pod_path(path)
    except ValueError:
        return [f"{label}: accepted a path pod_path refuses: {response.text[:300]}"]
    if answered != normal_form:
        return [f"{label}: answered for {answered!r}, not {normal_form!r}"]
    return []


async def test_hostile_paths_stay_inside_the_pod(api: Client, worker: None) -> None:
    await running_pod(api, "target")
    await running_pod(api, "bystander")
    await sh(api, "bystander", "echo mine > mine.txt")
    system = "ls -A / /etc /home /var /usr /root 2>&1 | md5sum"
    neighbour = "find /home/instapod /var/www /tmp -printf '%p %s %T@\\n' | sort"
    pod_system = await sh(api, "target", system)
    bystander = (await sh(api, "bystander", system), await sh(api, "bystander", neighbour))
    host = host_view()

    paths = examples(hostile_paths, EXAMPLES)
    problems: list[str] = []
    for path in paths:
        if any(path.startswith(f"{APP}/{link}") for link in LINKS):  # earlier requests may
            ok(await api.post("/api/pods/target/folders", json={"path": APP}))  # have removed
            await sh(api, "target", RELINK)  # the links (or the whole app folder)
        for what, response in await hostile_requests(api, "target", path):
            problems += judge(path, what, response)
    for raw in RAW_QUERIES:
        for method, route in (("GET", "files"), ("GET", "files/content"), ("DELETE", "files")):
            response = await api.request(method, f"/api/pods/target/{route}?path={raw}")
            problems += judge(f"raw {raw}", f"{method} {route}", response, normal=False)
    assert problems == [], "\n" + "\n".join(problems)

    assert reached(host, host_view(), paths) == []
    ok(await api.post("/api/pods/target/folders", json={"path": APP}))  # it may have gone
    assert await sh(api, "target", system) == pod_system
    assert (await sh(api, "bystander", system), await sh(api, "bystander", neighbour)) == bystander
    assert await sh(api, "bystander", "cat mine.txt") == "mine\n"
