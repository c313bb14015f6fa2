"""`instapods deploy` of a Node.js app (one small dependency from npm) and of a PHP app (no
Composer): the preset comes from the files, the app answers through the edge, and a redeploy
keeps what the pod installed (node_modules) while sending only the changed file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.support import APP, Cli, names, write_tree
from tests.e2e.support import Platform

NODE_PACKAGE = {
    "name": "cli-sample",
    "private": True,
    "scripts": {"start": "node server.js"},
    "dependencies": {"ms": "2.1.3"},
}
NODE_SERVER = """const http = require('http');
const ms = require('ms');
http.createServer((req, res) => {
  res.setHeader('Content-Type', 'text/plain');
  res.end(`GREETING from node: ${ms('2 days')} ms at ${req.url}`);
}).listen(Number(process.env.PORT || 3000), '0.0.0.0', () => console.log('sample listening'));
"""
PHP_INDEX = """<?php
require __DIR__ . '/lib/sum.php';
header('Content-Type: text/plain');
echo 'php says ' . sum([20, 22]) . ' at ' . $_SERVER['REQUEST_URI'];
"""
PHP_LIB = "<?php\nfunction sum(array $xs): int { return array_sum($xs); }\n"


def test_deploy_a_nodejs_app_then_a_php_app(platform: Platform, cli: Cli, tmp_path: Path) -> None:
    node = write_tree(tmp_path / "node", {
        "package.json": json.dumps(NODE_PACKAGE, indent=2),
        "server.js": NODE_SERVER.replace("GREETING", "hello"),
        "node_modules/ms/index.js": "module.exports = () => 'a local copy: never sent'",
        "node_modules/ms/package.json": '{"name": "ms", "version": "0.0.0"}',
        ".env": "PORT=1\n",
    })  # fmt: skip
    url = f"http://{platform.host('node')}"

    first = cli("deploy", "node", "--local", node)
    assert first.code == 0, first
    assert first.stdout == f"Live at {url}\n", first
    assert "Created pod node (nodejs)" in first.stderr, first
    assert platform.pod("node")["preset"] == "nodejs"
    answer = platform.visit("node", "/items/7")
    assert (answer.status_code, answer.text) == (200, "hello from node: 172800000 ms at /items/7")
    # npm installed the real package in the pod; the local copy never travelled.
    installed = cli("files", "cat", "node", "node_modules/ms/package.json", "--json")
    assert installed.code == 0, installed
    assert json.loads(installed.json()["content"])["version"] == "2.1.3"
    assert ".env" not in names(cli("files", "ls", "node", "--json").json())

    # One file changed: it travels alone, and the pod's node_modules stays.
    write_tree(node, {"server.js": NODE_SERVER.replace("GREETING", "hi again")})
    second = cli("deploy", "node", "--local", node, "--json")
    assert second.code == 0, second
    body = second.json()
    assert (body["uploaded"], body["deleted"], body["unchanged"]) == (["server.js"], [], 1)
    assert body["reload"]["dependencies"]["tool"] == "npm"
    assert platform.visit("node").text == "hi again from node: 172800000 ms at /"
    assert "ms" in names(cli("files", "ls", "node", f"{APP}/node_modules", "--json").json())

    # A dependency npm cannot install: its output, one error line, exit 1; the old one serves.
    broken = {**NODE_PACKAGE, "dependencies": {"instapods-cli-test-no-such-package": "1.0.0"}}
    write_tree(node, {"package.json": json.dumps(broken)})
    failed = cli("deploy", "node", "--local", node)
    assert failed.code == 1, failed
    assert failed.stdout == "", failed
    assert "npm error 404" in failed.stderr, failed
    assert failed.stderr.splitlines()[-1].startswith("error: npm install failed"), failed
    assert platform.visit("node").text == "hi again from node: 172800000 ms at /"

    # PHP: detected from *.php, no composer.json (so no registry).
    php = write_tree(tmp_path / "php", {"index.php": PHP_INDEX, "lib/sum.php": PHP_LIB})
    deployed = cli("deploy", "shop", "--local", php, "--json")
    assert deployed.code == 0, deployed
    body = deployed.json()
    assert body["url"] == f"http://{platform.host('shop')}"
    assert sorted(body["uploaded"]) == ["index.php", "lib/sum.php"]
    assert sorted(body["reload"]["services"]) == ["nginx", "php-fpm"]
    assert platform.pod("shop")["preset"] == "php"
    assert platform.visit("shop", "/cart").text == "php says 42 at /cart"
