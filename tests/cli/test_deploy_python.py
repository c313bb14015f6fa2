"""`instapods deploy` of a Flask app (flask and gunicorn from PyPI): the preset comes from the
files, pip installs into the pod's venv, and the app answers through the edge."""

from __future__ import annotations

from pathlib import Path

from tests.cli.support import Cli, names, write_tree
from tests.e2e.support import Platform

FLASK_APP = """import flask

app = flask.Flask(__name__)


@app.get("/")
def index():
    return f"flask says {6 * 7}"


@app.get("/items/<int:item>")
def item(item):
    return flask.jsonify(id=item, via="flask")
"""


def test_deploy_a_flask_app(platform: Platform, cli: Cli, tmp_path: Path) -> None:
    app = write_tree(tmp_path / "flask", {
        "requirements.txt": "flask\ngunicorn\n",
        "app.py": FLASK_APP,
        "venv/bin/python": "#!/bin/sh\necho a local venv: never sent\n",
        "__pycache__/app.cpython-311.pyc": b"\x00\x01",
    })  # fmt: skip

    deployed = cli("deploy", "flask", "--local", app, "--json")
    assert deployed.code == 0, deployed
    body = deployed.json()
    assert body["url"] == f"http://{platform.host('flask')}"
    assert sorted(body["uploaded"]) == ["app.py", "requirements.txt"]
    assert body["status"] == 200
    assert body["reload"]["dependencies"]["tool"] == "pip"
    assert body["reload"]["dependencies"]["installed"] is True
    assert platform.pod("flask")["preset"] == "python"

    home = platform.visit("flask")
    assert (home.status_code, home.text) == (200, "flask says 42")
    assert home.headers["server"].startswith("gunicorn")
    assert platform.visit("flask", "/items/7").json() == {"id": 7, "via": "flask"}
    # The pod's own venv (made by the reload) is there; the local one was not sent.
    listed = cli("files", "ls", "flask", "--json")
    assert listed.code == 0, listed
    assert {"app.py", "requirements.txt", "venv"} <= names(listed.json())
    python = cli("exec", "flask", "--", "venv/bin/python -c 'import flask; print(flask.__name__)'")
    assert (python.code, python.stdout) == (0, "flask\n"), python
