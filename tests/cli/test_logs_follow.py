"""`logs -f` against a scripted API: each poll gets the next window of lines, so what the CLI
must print is known exactly (with a real pod, timing decides where the polls fall).

The log API's timestamps are to the second, and a busy app writes the same line many times a
second: lines alike in every field are not duplicates, only the overlap of two windows is.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.cli.support import Cli
from tests.e2e.support import eventually

Line = dict[str, str]
LOGS = "/api/pods/web/logs"


def line(second: int, message: str) -> Line:
    return {"timestamp": f"2026-01-01T10:00:{second:02d}Z", "service": "app",
            "stream": "stdout", "message": message}  # fmt: skip


@contextmanager
def scripted_api(windows: list[list[Line]]) -> Iterator[tuple[str, list[str]]]:
    """An API whose GET /api/pods/web/logs answers `windows` in turn, then the last one again
    and again; yields its URL and the paths asked for, as they come."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # (the name http.server calls)
            asked.append(self.path)
            polls = sum(path.startswith(LOGS) for path in asked)
            if self.path.startswith(LOGS):
                self.answer(200, {"pod": "web", "lines": windows[min(polls, len(windows)) - 1]})
            else:
                self.answer(404, {"error": "Pod not found"})

        def answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # not on the test's stderr

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def follow(tmp_path: Path, windows: list[list[Line]]) -> list[Line]:
    """What `instapods logs web -f --json` prints while the API answers `windows` (and the
    last one once more), until Ctrl-C."""
    with scripted_api(windows) as (url, asked):
        cli = Cli(home=tmp_path / "home", api=url, token="ipt_scripted")
        with cli.background("logs", "web", "-f", "--json") as running:
            eventually(lambda: sum(p.startswith(LOGS) for p in asked), lambda n: n > len(windows),
                       30, "the polls of logs -f")  # fmt: skip
            running.process.send_signal(signal.SIGINT)
            assert running.process.wait(timeout=5) == 0, running.stderr
            running.join()
            assert running.stderr == "", running.stderr
    assert asked[0] == f"{LOGS}?lines=100"  # the first poll: the last lines asked for
    return [json.loads(printed) for printed in running.lines]


def test_follow_prints_each_line_of_a_sliding_window_once(tmp_path: Path) -> None:
    a, b, c, d = (line(1, "a"), line(1, "b"), line(2, "c"), line(3, "d"))
    assert follow(tmp_path, [[a, b], [a, b, c], [b, c, d]]) == [a, b, c, d]


def test_follow_prints_lines_that_repeat_within_a_second(tmp_path: Path) -> None:
    beat = line(1, "beat")
    assert follow(tmp_path, [[beat], [beat, beat, beat]]) == [beat, beat, beat]
