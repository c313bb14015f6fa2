"""Client commands: account, teams, pods, logs, exec, env, catalog, open."""

from __future__ import annotations

import getpass
import json
import shlex
import sys
import time
import webbrowser
from collections import Counter
from typing import Annotated, Any

import typer

from instapods.cli.client import EXIT_USAGE, Api, CliError, Target, remember_token
from instapods.cli.context import err, note, out, progress, show, state, table

auth_app = typer.Typer(
    rich_markup_mode=None,
    help="Sign in and out.\n\nExample: instapods auth login --email me@example.com",
    no_args_is_help=True,
)
pods_app = typer.Typer(
    rich_markup_mode=None,
    help="Create, inspect and manage pods.\n\nExample: instapods pods create hello --wait",
    no_args_is_help=True,
)
env_app = typer.Typer(
    rich_markup_mode=None,
    help="A pod's environment variables.\n\nExample: instapods env set hello NODE_ENV=production",
    no_args_is_help=True,
)
teams_app = typer.Typer(
    rich_markup_mode=None,
    help="Your teams, and which one commands act on.\n\nExample: instapods teams use acme",
    no_args_is_help=True,
)

PodName = Annotated[str, typer.Argument(help="The pod's name", metavar="NAME")]
WAIT_TIMEOUT = 300.0
FOLLOW_WINDOW = 1000  # lines asked for on each poll of `logs -f`


def api() -> Api:
    return state.api()


# -- auth -------------------------------------------------------------------------------------


@auth_app.command("login")
def login(
    email: Annotated[str | None, typer.Option(help="Your email (asked when missing)")] = None,
    with_token: Annotated[
        str | None, typer.Option("--with-token", help="Store this API token instead")
    ] = None,
) -> None:
    """Sign in with your email and password (or store a token) and remember it in
    ~/.config/instapods/config.json (readable by you only).

    Example: instapods auth login --email me@example.com

    Example: instapods --token ipt_... auth login
    """
    target = state.target()
    token = with_token or state.token
    if token is None:
        email = email or ask("Email: ")
        password = ask("Password: ", secret=True)
        session = Api(Target(target.api, None))
        try:
            token = session.post("/api/auth/login", json={"email": email, "password": password})[
                "token"
            ]
        finally:
            session.close()
    checked = Api(Target(target.api, token))
    try:
        user = checked.get("/api/auth/user")
    finally:
        checked.close()
    path = remember_token(target.api, token)
    show({"user": user, "api": target.api, "config": str(path)},
         lambda: out.print(f"Signed in to {target.api} as {user['email']}"))  # fmt: skip


def ask(prompt: str, secret: bool = False) -> str:
    """A line from the user: the prompt on stderr (stdout stays the command's), the answer
    from the terminal (not echoed when secret) or, without one, from stdin."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt, stream=sys.stderr) if secret else input_line(prompt)
    sys.stderr.write(prompt + "\n")  # no terminal echoes the answer: end the line here
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if not answer:
        raise CliError(f"no answer to {prompt.strip(': ')!r} on stdin", EXIT_USAGE)
    return answer.rstrip("\r\n")


def input_line(prompt: str) -> str:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return sys.stdin.readline().rstrip("\r\n")


@auth_app.command("logout")
def logout() -> None:
    """Sign out: revoke the token on the server and forget it here.

    Example: instapods auth logout
    """
    target = state.target()
    if target.token:
        try:
            api().post("/api/auth/logout")
        except CliError as error:
            note(f"the server did not revoke the token: {error.message}")
    remember_token(target.api, None)
    show({"status": "logged_out"}, lambda: out.print("Signed out"))


def whoami() -> None:
    """Who you are signed in as, on which API, acting in which team.

    Example: instapods whoami
    """
    user = api().get("/api/auth/user")
    teams = api().get("/api/teams")["teams"]
    team = next((t for t in teams if t.get("current")), None)
    data = {"user": user, "team": team, "api": state.target().api}
    show(data, lambda: out.print(
        f"{user['email']} on {state.target().api}"
        + (f", team {team['name']} ({team['role']})" if team else "")
    ))  # fmt: skip


# -- teams ------------------------------------------------------------------------------------


@teams_app.command("list")
def teams_list() -> None:
    """Your teams; the current one is marked with *.

    Example: instapods teams list
    """
    teams = api().get("/api/teams")["teams"]
    show({"teams": teams}, lambda: table(
        ["", "NAME", "ROLE", "MEMBERS", "ID"],
        [["*" if t["current"] else "", t["name"], t["role"], t["member_count"], t["id"]]
         for t in teams],
    ))  # fmt: skip


@teams_app.command("use")
def teams_use(
    team: Annotated[str, typer.Argument(help="The team's name or id", metavar="TEAM")],
) -> None:
    """Act in another team from now on (for this account, everywhere).

    Example: instapods teams use acme
    """
    teams = api().get("/api/teams")["teams"]
    matches = [t for t in teams if team in (t["id"], t["name"])]
    if not matches:
        raise CliError(f"you are in no team {team!r} (see `instapods teams list`)")
    if len(matches) > 1:
        raise CliError(f"several teams are called {team!r}; use its id", EXIT_USAGE)
    chosen = matches[0]
    result = api().post("/api/teams/switch", json={"team_id": chosen["id"]})
    show(result, lambda: out.print(f"Now acting in team {chosen['name']}"))


# -- pods -------------------------------------------------------------------------------------


def pod_summary(pod: dict[str, Any]) -> None:
    res = pod.get("resources") or {}
    ssh = pod.get("ssh") or {}
    rows = [
        ("Name", pod["name"]),
        (
            "Status",
            pod["status"] + (f" ({pod['status_message']})" if pod.get("status_message") else ""),
        ),
        ("Preset", pod["preset"]),
        (
            "Plan",
            f"{pod['plan_slug']} ({res.get('cpu')} vCPU, {res.get('memory_mb')} MB, "
            f"{res.get('disk_gb')} GB)",
        ),
        ("Domain", pod["domain"]),
        ("Region", pod.get("region")),
        ("SSH", f"ssh -p {ssh['port']} {ssh['username']}@{ssh['host']}" if ssh else None),
        ("Created", pod.get("created_at")),
    ]
    for key, value in rows:
        if value:
            out.print(f"{key + ':':9} {value}")


@pods_app.command("list")
def pods_list(
    limit: Annotated[int, typer.Option(help="At most this many (1-100)")] = 100,
) -> None:
    """The current team's pods.

    Example: instapods pods list
    """
    page = api().get("/api/pods", params={"limit": limit})
    show(
        page,
        lambda: (
            table(
                ["NAME", "STATUS", "PRESET", "PLAN", "DOMAIN"],
                [
                    [p["name"], p["status"], p["preset"], p["plan_slug"], p["domain"]]
                    for p in page["pods"]
                ],
            )
            if page["pods"]
            else note("No pods yet: instapods deploy NAME, or instapods pods create")
        ),
    )


@pods_app.command("get")
def pods_get(name: PodName) -> None:
    """One pod: status, preset, plan, domain.

    Example: instapods pods get hello
    """
    pod = api().get(f"/api/pods/{name}")
    show(pod, lambda: pod_summary(pod))


def wait_running(name: str, timeout: float = WAIT_TIMEOUT) -> dict[str, Any]:
    """Poll the pod until it is no longer being created; an error status is a CliError."""
    deadline = time.monotonic() + timeout
    pause = 0.05  # a pod usually runs a fraction of a second after it was asked for
    with progress(f"Waiting for {name}"):
        while True:
            pod: dict[str, Any] = api().get(f"/api/pods/{name}")
            if pod["status"] not in ("creating",):
                break
            if time.monotonic() > deadline:
                raise CliError(f"pod {name} is still {pod['status']} after {timeout:.0f} s")
            time.sleep(pause)
            pause = min(pause * 1.5, 1.0)
    if pod["status"] == "error":
        raise CliError(f"pod {name} could not be created: {pod.get('status_message')}")
    return pod


@pods_app.command("create")
def pods_create(
    name: PodName,
    preset: Annotated[str, typer.Option(help="static, php, nodejs or python")] = "static",
    plan: Annotated[str | None, typer.Option(help="Plan slug (see `instapods plans`)")] = None,
    region: Annotated[str | None, typer.Option(help="Region slug")] = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Wait until it runs")] = False,
) -> None:
    """Create a pod (it is provisioned in the background; --wait waits for it).

    Example: instapods pods create hello --preset nodejs --plan build --wait
    """
    body: dict[str, Any] = {"name": name, "preset": preset}
    if plan:
        body["plan_slug"] = plan
    if region:
        body["region"] = region
    pod = api().post("/api/pods", json=body)
    if wait:
        pod = wait_running(name)
    show(pod, lambda: pod_summary(pod))


def _lifecycle(action: str, doing: str, past: str) -> None:
    def command(name: PodName) -> None:
        with progress(f"{doing} {name}"):
            pod = api().post(f"/api/pods/{name}/{action}", timeout=600)
        show(pod, lambda: out.print(f"Pod {name} {past} ({pod['status']})"))

    command.__doc__ = f"{action.capitalize()} a pod.\n\n    Example: instapods pods {action} hello"
    pods_app.command(action)(command)


_lifecycle("start", "Starting", "started")
_lifecycle("stop", "Stopping", "stopped")
_lifecycle("restart", "Restarting", "restarted")


@pods_app.command("reload")
def pods_reload(name: PodName) -> None:
    """Install dependencies and switch to the new version once it starts (the old one keeps
    serving if the install or the new version fails).

    Example: instapods pods reload hello
    """
    result = reload(name)
    show(result, lambda: out.print(f"Reloaded {name}: {', '.join(result['services'])}"))


def reload(name: str) -> dict[str, Any]:
    """POST reload; a failure prints the tool's (or the app's) output before the error."""
    with progress(f"Installing dependencies and reloading {name}"):
        try:
            result: dict[str, Any] = api().post(f"/api/pods/{name}/reload", timeout=900)
        except CliError as error:
            first, _, rest = error.message.partition("\n")
            if rest:  # the tool's output: printed as it is, then the one-line error
                suffix = f" ({error.status})"
                err.print(rest.removesuffix(suffix).rstrip(), markup=False)
                error.message = first.rstrip(": ") + suffix
            raise
    return result


@pods_app.command("delete")
def pods_delete(
    name: PodName,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
) -> None:
    """Delete a pod with its files (the name stays reserved for 7 days).

    Example: instapods pods delete hello --yes
    """
    if not yes and sys.stdin.isatty() and not typer.confirm(f"Delete pod {name}?", err=True):
        raise typer.Exit(1)
    result = api().delete(f"/api/pods/{name}")
    show(result, lambda: out.print(f"Deleted {name}"))


@pods_app.command("resize")
def pods_resize(
    name: PodName, plan: Annotated[str, typer.Option(help="The new plan's slug")]
) -> None:
    """Move a pod to another plan (CPU, memory and disk).

    Example: instapods pods resize hello --plan build
    """
    pod = api().post(f"/api/pods/{name}/resize", json={"plan_slug": plan}, timeout=600)
    show(pod, lambda: pod_summary(pod))


@pods_app.command("clone")
def pods_clone(
    name: PodName,
    new_name: Annotated[str, typer.Argument(help="The new pod's name", metavar="NEW_NAME")],
    plan: Annotated[str | None, typer.Option(help="Plan of the copy")] = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Wait until it runs")] = False,
) -> None:
    """A new pod with this pod's files, env vars, cron jobs and workers.

    Example: instapods pods clone hello hello-staging --wait
    """
    body: dict[str, Any] = {"name": new_name}
    if plan:
        body["plan_slug"] = plan
    pod = api().post(f"/api/pods/{name}/clone", json=body)
    if wait:
        pod = wait_running(new_name)
    show(pod, lambda: pod_summary(pod))


# -- logs, exec, env, open ----------------------------------------------------------------


def logs(
    name: PodName,
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many lines")] = 100,
    service: Annotated[str | None, typer.Option("-s", "--service", help="Only this one")] = None,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Keep printing new lines")] = False,
) -> None:
    """The last lines of a pod's services (app, nginx, php-fpm, cron, worker-…).

    Example: instapods logs hello -n 50 -s app -f
    """
    params: dict[str, Any] = {"lines": lines}
    if service:
        params["service"] = service
    seen: Counter[tuple[str, str, str]] = Counter()
    first = True
    try:
        while True:
            found = api().get(f"/api/pods/{name}/logs", params=params)["lines"]
            _print_lines(found if first else _fresh(found, seen))
            seen = Counter(_key(line) for line in found)  # what the next poll may repeat
            if not follow:
                return
            first = False
            params["lines"] = FOLLOW_WINDOW
            time.sleep(1.0)
    except KeyboardInterrupt:
        return  # Ctrl-C ends a follow; nothing else to say


def _fresh(found: list[dict[str, Any]], seen: Counter[tuple[str, str, str]]) -> list[Any]:
    """The lines of `found` beyond those the previous window held (counted, so a line that
    repeats within a second is printed as often as it was logged)."""
    left = Counter(seen)
    fresh = []
    for line in found:
        key = _key(line)
        if left[key] > 0:
            left[key] -= 1
        else:
            fresh.append(line)
    return fresh


def _key(line: dict[str, Any]) -> tuple[str, str, str]:
    return line["timestamp"], line["service"], line["message"]


def _print_lines(lines: list[dict[str, Any]]) -> None:
    for line in lines:
        if state.json:
            sys.stdout.write(json.dumps(line) + "\n")
        else:
            out.print(f"[dim]{line['timestamp']} {line['service']}[/dim] ", end="")
            out.print(line["message"], markup=False)
    sys.stdout.flush()


def exec_command(
    name: PodName,
    command: Annotated[
        list[str], typer.Argument(help="The command (after --); one argument is run as is")
    ],
    timeout: Annotated[float, typer.Option(help="Seconds before it is stopped")] = 60,
) -> None:
    """Run a command in the pod (bash -lc, as instapod in /home/instapod/app); its output and
    exit code are passed through.

    Example: instapods exec hello -- ls -la

    Example: instapods exec hello -- "npm run migrate && echo done"
    """
    line = command[0] if len(command) == 1 else shlex.join(command)
    result = api().post(
        f"/api/pods/{name}/exec",
        json={"command": line, "timeout_seconds": timeout},
        timeout=timeout + 60,
    )
    if state.json:
        show(result, lambda: None)
    else:
        sys.stdout.write(result["stdout"])
        sys.stdout.flush()
        sys.stderr.write(result["stderr"])
        if result.get("timed_out"):
            err.print(f"timed out after {timeout:g} s")
    raise typer.Exit(int(result["exit_code"]))


@env_app.command("list")
def env_list(name: PodName) -> None:
    """A pod's environment variables.

    Example: instapods env list hello
    """
    env = api().get(f"/api/pods/{name}/env")["env_vars"]

    def human() -> None:
        for key, value in sorted(env.items()):
            out.print(f"{key}={value}", markup=False)

    show({"env_vars": env}, human)


@env_app.command("set")
def env_set(
    name: PodName,
    pairs: Annotated[list[str], typer.Argument(help="KEY=VALUE pairs", metavar="KEY=VALUE...")],
) -> None:
    """Set variables (the others stay); they apply at the next reload or restart.

    Example: instapods env set hello NODE_ENV=production API_KEY=abc
    """
    updates = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"{pair!r} is not KEY=VALUE", EXIT_USAGE)
        updates[key] = value
    _put_env(name, lambda env: {**env, **updates})


@env_app.command("unset")
def env_unset(
    name: PodName, keys: Annotated[list[str], typer.Argument(help="Names", metavar="KEY...")]
) -> None:
    """Remove variables; applies at the next reload or restart.

    Example: instapods env unset hello API_KEY
    """
    _put_env(name, lambda env: {k: v for k, v in env.items() if k not in keys})


def _put_env(name: str, change: Any) -> None:
    env = api().get(f"/api/pods/{name}/env")["env_vars"]
    result = api().put(f"/api/pods/{name}/env", json={"env_vars": change(env)})
    show(result, lambda: out.print(
        f"Saved {len(result['env_vars'])} variables on {name}; "
        f"apply them with `instapods pods reload {name}`"
    ))  # fmt: skip


def open_pod(
    name: PodName,
    browser: Annotated[bool, typer.Option(help="Open it in a browser")] = True,
) -> None:
    """Open a pod's URL in the browser (and print it).

    Example: instapods open hello
    """
    pod = api().get(f"/api/pods/{name}")
    show({"url": pod["domain"]}, lambda: out.print(pod["domain"]))
    if browser and not state.json and sys.stdout.isatty():
        webbrowser.open(pod["domain"])


# -- catalog ----------------------------------------------------------------------------------


def presets() -> None:
    """The presets pods are made from.

    Example: instapods presets
    """
    found = api().get("/api/presets")["presets"]
    show({"presets": found}, lambda: table(
        ["SLUG", "NAME", "RUNTIME", "PORT", "DETECTED FROM"],
        [[p["slug"], p["name"], p.get("runtime") or "-", p["app_port"],
          ", ".join(p.get("detect_files") or [])] for p in found],
    ))  # fmt: skip


def plans() -> None:
    """The plans: CPU, memory, disk and price.

    Example: instapods plans
    """
    found = api().get("/api/plans")["plans"]
    show({"plans": found}, lambda: table(
        ["SLUG", "NAME", "CPU", "MEMORY", "DISK", "PRICE/MO"],
        [[p["slug"], p["name"], p.get("cpu"), f"{p.get('memory_mb')} MB", f"{p.get('disk_gb')} GB",
          _price(p)] for p in found],
    ))  # fmt: skip


def _price(plan: dict[str, Any]) -> str:
    currency = str(plan.get("currency", "")).upper()
    amount = f"{plan['price_cents'] / 100:g}"
    return f"${amount}" if currency == "USD" else f"{amount} {currency}".strip()


def regions() -> None:
    """The regions pods can be created in.

    Example: instapods regions
    """
    found = api().get("/api/regions")["regions"]
    show({"regions": found}, lambda: table(
        ["SLUG", "NAME"], [[r.get("slug"), r.get("name")] for r in found]
    ))  # fmt: skip
