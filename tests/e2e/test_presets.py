"""Every preset end to end, through the edge: a pod created with the API shows its starter
page; then a real app (pulling a real dependency from the registry where the preset has one)
is written into it, reloaded, and served.

The app files are written with `POST /api/pods/{name}/exec` (a heredoc in `bash -lc`): the
files API (`PUT /api/pods/{name}/files/content`) does not exist yet.
"""

from __future__ import annotations

from tests.e2e.support import Platform

EXPRESS_PACKAGE = """{
  "name": "e2e-express",
  "private": true,
  "main": "server.js",
  "dependencies": { "express": "^4.21.0" }
}"""

EXPRESS_SERVER = """const express = require('express');
const version = require('express/package.json').version;
const app = express();
app.get('/', (req, res) => res.send(`Hello from Express ${version}: ${6 * 7}`));
app.get('/items/:id', (req, res) => res.json({ id: req.params.id, via: 'express' }));
app.listen(Number(process.env.PORT), '0.0.0.0', () => console.log('express listening'));"""

FLASK_APP = """import flask
from importlib.metadata import version

app = flask.Flask(__name__)


@app.get("/")
def index():
    return f"Hello from Flask {version('flask')}: {6 * 7}"


@app.get("/items/<int:item>")
def item(item):
    return flask.jsonify(id=item, via="flask")"""


def test_static_site(platform: Platform) -> None:
    platform.running_pod("site", "static")
    starter = platform.wait_page("site", "site is live")
    assert "starter page of your Static site pod" in starter

    platform.write_files("site", {
        "index.html": "<!doctype html><title>Home</title><h1>Welcome home</h1>",
        "about.html": "<!doctype html><title>About</title><h1>About us</h1>",
        "css/site.css": "h1 { color: teal; }",
    })  # fmt: skip
    reloaded = platform.reload("site")
    assert reloaded.status_code == 200, reloaded.text
    assert reloaded.json()["services"] == ["nginx"]
    assert reloaded.json()["dependencies"]["tool"] is None

    home = platform.visit("site")
    assert home.status_code == 200
    assert "Welcome home" in home.text
    assert home.headers["content-type"].startswith("text/html")
    about = platform.visit("site", "/about.html")
    assert about.status_code == 200
    assert "About us" in about.text
    css = platform.visit("site", "/css/site.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")

    missing = platform.visit("site", "/no-such-page.html")
    assert missing.status_code == 404
    assert missing.headers["server"] == "nginx"  # the pod's nginx, not the edge's own 404
    assert "Nothing here" not in missing.text

    preset = platform.api("GET", "/api/pods/site/preset").json()
    assert preset["web_server"] == "nginx"
    assert preset["webroot"] == "/home/instapod/app"
    assert preset["start_command"] is None


def test_php_app(platform: Platform) -> None:
    platform.running_pod("php", "php")
    starter = platform.wait_page("php", "php is live")
    assert "PHP 8." in starter

    platform.write_files("php", {
        "index.php": "<?php echo 6*7;",
        "info.php": "<?php header('Content-Type: text/plain'); echo 'sum=' . array_sum([1, 2, 3]);",
    })  # fmt: skip
    reloaded = platform.reload("php")
    assert reloaded.status_code == 200, reloaded.text
    assert sorted(reloaded.json()["services"]) == ["nginx", "php-fpm"]

    answer = platform.visit("php")
    assert answer.status_code == 200
    assert answer.text == "42"
    assert platform.visit("php", "/info.php").text == "sum=6"
    assert platform.visit("php", "/some/route").text == "42"  # routed to index.php

    # A `public/` folder (Laravel's layout) becomes the webroot at the next reload.
    platform.write_files("php", {"public/index.php": "<?php echo 'public ' . (6*7);"})
    assert platform.reload("php").status_code == 200
    assert platform.visit("php").text == "public 42"
    outside = platform.visit("php", "/info.php")  # outside the webroot now
    assert outside.status_code == 404
    assert "sum=" not in outside.text
    assert "<?php" not in outside.text
    preset = platform.api("GET", "/api/pods/php/preset").json()
    assert preset["webroot"] == "/home/instapod/app/public"


def test_express_app(platform: Platform) -> None:
    platform.running_pod("node", "nodejs")
    starter = platform.wait_page("node", "node is live")
    assert "starter page of your Node.js pod" in starter

    platform.write_files("node", {"package.json": EXPRESS_PACKAGE, "server.js": EXPRESS_SERVER})
    reloaded = platform.reload("node")
    assert reloaded.status_code == 200, reloaded.text
    body = reloaded.json()
    assert body["status"] == "reloaded"
    assert body["services"] == ["app"]
    assert body["dependencies"]["tool"] == "npm"
    assert body["dependencies"]["installed"] is True
    assert "added" in body["dependencies"]["output_tail"]

    answer = platform.visit("node")
    assert answer.status_code == 200
    assert answer.text.startswith("Hello from Express 4.")
    assert answer.text.endswith(": 42")
    assert answer.headers["x-powered-by"] == "Express"
    item = platform.visit("node", "/items/7")
    assert item.json() == {"id": "7", "via": "express"}

    preset = platform.api("GET", "/api/pods/node/preset").json()
    assert preset["start_command"] == "/usr/bin/node server.js"
    assert preset["dependency_tool"] == "npm"
    listed = platform.exec("node", "ls node_modules/express/package.json && npm ls express")
    assert "express@4." in listed["stdout"]
    logs = platform.api("GET", "/api/pods/node/logs", params={"service": "app"}).json()
    assert "express listening" in [line["message"] for line in logs["lines"]]


def test_flask_app_under_gunicorn(platform: Platform) -> None:
    platform.running_pod("flask", "python")
    starter = platform.wait_page("flask", "flask is live")
    assert "starter page of your Python pod" in starter

    platform.write_files("flask", {"requirements.txt": "flask\ngunicorn", "app.py": FLASK_APP})
    reloaded = platform.reload("flask")
    assert reloaded.status_code == 200, reloaded.text
    body = reloaded.json()
    assert body["services"] == ["app"]
    assert body["dependencies"]["tool"] == "pip"
    assert body["dependencies"]["installed"] is True
    assert "Successfully installed" in body["dependencies"]["output_tail"]

    preset = platform.api("GET", "/api/pods/flask/preset").json()
    assert "gunicorn" in preset["start_command"]
    assert preset["start_command"].endswith("app:app")
    assert preset["dependency_tool"] == "pip"

    answer = platform.visit("flask")
    assert answer.status_code == 200
    assert answer.text.startswith("Hello from Flask ")
    assert answer.text.endswith(": 42")
    assert answer.headers["server"].startswith("gunicorn")
    assert platform.visit("flask", "/items/7").json() == {"id": 7, "via": "flask"}
    assert platform.visit("flask", "/nope").status_code == 404  # Flask's own 404


def test_a_stopped_pod_and_an_unknown_host(platform: Platform) -> None:
    platform.running_pod("paused", "static")
    platform.wait_page("paused", "paused is live")

    stopped = platform.api("POST", "/api/pods/paused/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "stopped"
    page = platform.visit("paused")
    assert page.status_code == 503
    assert "paused is not running" in page.text
    assert "<strong>stopped</strong>" in page.text

    started = platform.api("POST", "/api/pods/paused/start")
    assert started.status_code == 200, started.text
    platform.wait_page("paused", "paused is live")

    unknown = platform.visit("no-such-pod")
    assert unknown.status_code == 404
    assert "Nothing here" in unknown.text
