"""What runs in a pod of each preset: its services, how dependencies install, its starter app.

`Facts` is what `podside.PROBE` found in the app folder; `plan_services` turns a preset and
the facts into the runtime's service definitions. Detection follows the presets table of the
API: nodejs runs `npm start`, else `main`, else index.js/server.js/app.js; python runs
gunicorn or uvicorn when listed (app:app, wsgi, asgi, main:app), else `python app.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from instapods.catalog.presets import BY_SLUG, Preset
from instapods.catalog.runtimes import Runtime
from instapods.errors import BadRequest
from instapods.runtime.base import ServiceSpec

APP = "/home/instapod/app"
VENV = f"{APP}/venv"
CONF = "/etc/instapods"
NGINX = "/usr/sbin/nginx"


@dataclass(frozen=True)
class Facts:
    files: tuple[str, ...] = ()
    public: bool = False
    package: Mapping[str, Any] | None = None
    requirements: tuple[str, ...] | None = None
    modules: Mapping[str, list[str]] = field(default_factory=dict)
    venv: bool = False
    links: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_probe(cls, data: Mapping[str, Any]) -> Facts:
        requirements = data.get("requirements")
        return cls(
            files=tuple(data.get("files", ())),
            public=bool(data.get("public")),
            package=data.get("package"),
            requirements=tuple(requirements) if requirements is not None else None,
            modules=dict(data.get("modules", {})),
            venv=bool(data.get("venv")),
            links=dict(data.get("links", {})),
        )


@dataclass(frozen=True)
class Plan:
    """The detected shape of an app: what `GET /api/pods/{name}/preset` reports."""

    services: tuple[ServiceSpec, ...]
    start_command: str | None
    webroot: str | None
    dependency_tool: str | None


def nginx_conf(webroot: str, php: bool) -> str:
    php_location = (
        "    location ~ \\.php$ {\n"
        "      try_files $uri =404;\n"
        "      include /etc/nginx/fastcgi_params;\n"
        "      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;\n"
        "      fastcgi_pass 127.0.0.1:9000;\n"
        "    }\n"
    )
    fallback = "/index.php?$query_string" if php else "=404"
    index = "index.php index.html index.htm" if php else "index.html index.htm"
    return (
        "worker_processes 1;\n"
        "error_log stderr warn;\n"
        "pid /tmp/.instapods-nginx.pid;\n"
        "events { worker_connections 512; }\n"
        "http {\n"
        "  include /etc/nginx/mime.types;\n"
        "  default_type application/octet-stream;\n"
        "  access_log /dev/stdout;\n"
        "  sendfile on;\n"
        "  server_tokens off;\n"
        "  client_max_body_size 64m;\n"
        "  client_body_temp_path /tmp/.nginx-body;\n"
        "  proxy_temp_path /tmp/.nginx-proxy;\n"
        "  fastcgi_temp_path /tmp/.nginx-fastcgi;\n"
        "  uwsgi_temp_path /tmp/.nginx-uwsgi;\n"
        "  scgi_temp_path /tmp/.nginx-scgi;\n"
        "  server {\n"
        "    listen 80 default_server;\n"
        f"    root {webroot};\n"
        f"    index {index};\n"
        f"    location / {{ try_files $uri $uri/ {fallback}; }}\n"
        + (php_location if php else "")
        + "  }\n}\n"
    )


PHP_FPM_CONF = """[global]
error_log = /proc/self/fd/2
daemonize = no

[www]
listen = 127.0.0.1:9000
pm = ondemand
pm.max_children = 8
pm.process_idle_timeout = 30s
clear_env = no
catch_workers_output = yes
decorate_workers_output = no
"""


def _nginx(webroot: str, php: bool) -> ServiceSpec:
    return ServiceSpec(
        "nginx",
        (NGINX, "-e", "stderr", "-c", f"{CONF}/nginx.conf", "-g", "daemon off;"),
        port=80,
        files={f"{CONF}/nginx.conf": nginx_conf(webroot, php)},
    )


def _node(facts: Facts) -> tuple[str, ...]:
    package = facts.package or {}
    if package.get("invalid"):
        raise BadRequest("package.json is not valid JSON")
    if package.get("start"):
        return ("/usr/bin/npm", "start")
    main = package.get("main")
    if main:
        return ("/usr/bin/node", str(main))
    for name in ("index.js", "server.js", "app.js"):
        if name in facts.files:
            return ("/usr/bin/node", name)
    raise BadRequest(
        "No entry point: add a start script or main to package.json, or an index.js, "
        "server.js or app.js"
    )


def _wsgi_target(facts: Facts, order: tuple[str, ...]) -> str | None:
    for module in order:
        names = facts.modules.get(module, [])
        if names:
            return f"{module.removesuffix('.py')}:{names[0]}"
    return None


def _python(facts: Facts, port: int) -> tuple[str, ...]:
    python = f"{VENV}/bin/python" if facts.venv else "/usr/bin/python3"
    requirements = set(facts.requirements or ())
    if "gunicorn" in requirements:
        target = _wsgi_target(facts, ("wsgi.py", "app.py", "main.py"))
        if target:
            return (python, "-m", "gunicorn", "--bind", f"0.0.0.0:{port}", target)
    if "uvicorn" in requirements:
        target = _wsgi_target(facts, ("asgi.py", "main.py", "app.py"))
        if target:
            bind = "0.0.0.0"  # noqa: S104 (all of the pod's addresses, inside the pod)
            return (python, "-m", "uvicorn", "--host", bind, "--port", str(port), target)
    for name in ("app.py", "main.py", "server.py"):
        if name in facts.files:
            return (python, name)
    raise BadRequest("No entry point: add an app.py (or main.py), or list gunicorn or uvicorn")


def plan_services(
    slug: str,
    facts: Facts,
    runtimes: Mapping[str, Runtime],
    env: Mapping[str, str],
    workers: list[dict[str, str]],
) -> Plan:
    preset = BY_SLUG[slug]
    port = preset.app_port
    app_env = {**env, "PORT": str(port)}
    if slug == "static":
        services = [_nginx(APP, php=False)]
        command, webroot, tool = None, APP, None
    elif slug == "php":
        webroot = f"{APP}/public" if facts.public else APP
        fpm = runtimes["php"].programs[runtimes["php"].versions[0]]
        services = [
            ServiceSpec(
                "php-fpm",
                (fpm, "-F", "-y", f"{CONF}/php-fpm.conf"),
                env=app_env,
                port=9000,  # on the pod's loopback; nginx needs it before it may count as up
                files={f"{CONF}/php-fpm.conf": PHP_FPM_CONF},
            ),
            _nginx(webroot, php=True),
        ]
        command, tool = None, "composer" if "composer.json" in facts.files else None
    else:
        argv = _node(facts) if slug == "nodejs" else _python(facts, port)
        services = [ServiceSpec("app", argv, env=app_env, port=port)]
        command, webroot = " ".join(argv), None
        tool = preset.dependency_tool if preset.dependency_file in facts.files else None
    for worker in workers:
        services.append(ServiceSpec(f"worker-{worker['name']}", ("/bin/bash", "-lc",
                                    worker["command"]), env=app_env))  # fmt: skip
    return Plan(tuple(services), command, webroot, tool)


def starter_files(preset: Preset, pod_name: str) -> dict[str, bytes]:
    """The app a new pod shows until its owner deploys theirs."""
    title = f"{pod_name} is live"
    html = (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>This is the starter page of your {preset.name} pod. "
        "Deploy your app with <code>instapods deploy</code>.</p></body></html>\n"
    )
    if preset.slug == "static":
        return {f"{APP}/index.html": html.encode()}
    if preset.slug == "php":
        return {
            f"{APP}/index.php": f'<?php echo "<h1>{title}</h1><p>PHP " . PHP_VERSION;\n'.encode()
        }
    if preset.slug == "nodejs":
        server = (
            "const http = require('http');\n"
            "const port = process.env.PORT || 3000;\n"
            f"const page = {html!r};\n"
            "http.createServer((req, res) => {\n"
            "  res.writeHead(200, {'Content-Type': 'text/html; charset=utf-8'});\n"
            "  res.end(page);\n"
            "}).listen(port, '0.0.0.0');\n"
        )
        package = '{\n  "name": "app",\n  "private": true,\n  "main": "index.js"\n}\n'
        return {f"{APP}/index.js": server.encode(), f"{APP}/package.json": package.encode()}
    app = (
        "import os\n"
        "from http.server import BaseHTTPRequestHandler, HTTPServer\n\n"
        f"PAGE = {html.encode()!r}\n\n\n"
        "class Handler(BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200)\n"
        "        self.send_header('Content-Type', 'text/html; charset=utf-8')\n"
        "        self.end_headers()\n"
        "        self.wfile.write(PAGE)\n\n\n"
        "HTTPServer(('0.0.0.0', int(os.environ.get('PORT', '8000'))), Handler).serve_forever()\n"
    )
    return {f"{APP}/app.py": app.encode()}
