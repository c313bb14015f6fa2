"""The CLI's side of the API: where it is, who we are, and one HTTP client that turns every
failure into a `CliError` with the exit code that says what kind of failure it was.

Only httpx and the standard library: the client never imports server code.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

DEFAULT_API = "http://localhost:8080"
CONFIG_NAME = "config.json"
TIMEOUT = httpx.Timeout(60.0, connect=10.0)

# Exit codes (documented in docs/cli.md).
EXIT_API = 1  # the API answered with an error
EXIT_USAGE = 2  # the command line is wrong (click uses 2 too)
EXIT_CONNECTION = 3  # the API could not be reached
EXIT_AUTH = 4  # not signed in, or the token is no longer valid


class CliError(Exception):
    """One line for stderr, and the exit code."""

    def __init__(self, message: str, code: int = EXIT_API, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status  # the HTTP status of an API error


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "instapods"


def read_config() -> dict[str, Any]:
    path = config_dir() / CONFIG_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise CliError(f"cannot read {path}: {error}", EXIT_USAGE) from None
    return data if isinstance(data, dict) else {}


def write_config(data: Mapping[str, Any]) -> Path:
    """Write the config file whole (a temporary file renamed over it), readable by us only."""
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / CONFIG_NAME
    temporary = directory / f".{CONFIG_NAME}.{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(dict(data), handle, indent=2)
            handle.write("\n")
        os.chmod(temporary, 0o600)
        temporary.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return path


@dataclass
class Target:
    """Which API, with which token (flags, then environment, then the config file)."""

    api: str
    token: str | None

    @classmethod
    def resolve(cls, api: str | None, token: str | None) -> Target:
        config = read_config()
        chosen = api or os.environ.get("INSTAPODS_API") or config.get("api") or DEFAULT_API
        chosen = str(chosen).rstrip("/")
        if chosen.endswith("/api"):
            chosen = chosen[: -len("/api")]
        parts = urlsplit(chosen)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CliError(f"--api must be an http(s) URL, not {chosen!r}", EXIT_USAGE)
        tokens = config.get("tokens")
        tokens = tokens if isinstance(tokens, dict) else {}
        found = token or os.environ.get("INSTAPODS_TOKEN") or tokens.get(chosen)
        return cls(chosen, str(found) if found else None)


def remember_token(api: str, token: str | None) -> Path:
    """Store (or, with None, forget) the token of one API: a token is only ever sent to the
    API it was made by."""
    config = read_config()
    tokens = dict(config.get("tokens") or {})
    if token is None:
        tokens.pop(api, None)
    else:
        tokens[api] = token
    return write_config({**config, "api": api, "tokens": tokens})


class Api:
    """A synchronous client of the API. Requests the edge dropped unanswered (a connection
    closed before any response, as during a configuration reload) are sent once more."""

    def __init__(self, target: Target) -> None:
        self.target = target
        headers = {"User-Agent": "instapods-cli"}
        if target.token:
            headers["Authorization"] = f"Bearer {target.token}"
        self.http = client(base_url=target.api, headers=headers, timeout=TIMEOUT)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(3):
            try:
                response = self.http.request(method, path, **kwargs)
            except (httpx.RemoteProtocolError, httpx.ReadError) as error:
                if attempt == 2 or not _replayable(kwargs):
                    raise CliError(f"the API at {self.target.api} closed the connection: "
                                   f"{error}", EXIT_CONNECTION) from None  # fmt: skip
                time.sleep(0.2 * (attempt + 1))
                continue
            except httpx.TimeoutException:
                raise CliError(f"the API at {self.target.api} did not answer in time",
                               EXIT_CONNECTION) from None  # fmt: skip
            except httpx.TransportError as error:
                raise CliError(f"cannot reach the API at {self.target.api}: {error}",
                               EXIT_CONNECTION) from None  # fmt: skip
            return _checked(response)
        raise AssertionError("unreachable")

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs).json()

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs).json()

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs).json()

    @contextlib.contextmanager
    def stream(self, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        try:
            with self.http.stream("GET", path, **kwargs) as response:
                if response.is_error:
                    response.read()
                yield _checked(response)
        except httpx.TransportError as error:
            raise CliError(f"cannot reach the API at {self.target.api}: {error}",
                           EXIT_CONNECTION) from None  # fmt: skip


def client(base_url: str = "", **options: Any) -> httpx.Client:
    """An httpx client; certificates are loaded only for https (they cost ~35 ms)."""
    secure = urlsplit(base_url).scheme == "https"
    return httpx.Client(base_url=base_url, verify=secure, **options)


def _replayable(kwargs: Mapping[str, Any]) -> bool:
    """A body that can be sent again (not a file or a generator already read)."""
    files = kwargs.get("files")
    content = kwargs.get("content")
    return files is None and (content is None or isinstance(content, bytes | str))


def _checked(response: httpx.Response) -> httpx.Response:
    if not response.is_error:
        return response
    try:
        body = response.json()
        message = str(body.get("error") or body)
        details = body.get("details") or []
    except ValueError:
        message, details = response.text.strip()[:300] or response.reason_phrase, []
    if details and isinstance(details, list) and len(details) > 1:
        message += ": " + "; ".join(
            f"{d.get('field')}: {d.get('message')}" for d in details if isinstance(d, dict)
        )
    code = EXIT_AUTH if response.status_code == 401 else EXIT_API
    if response.status_code == 401 and response.request.url.path != "/api/auth/login":
        message += " (sign in with `instapods auth login`)"
    raise CliError(f"{message} ({response.status_code})", code, response.status_code)
