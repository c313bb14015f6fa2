"""Helpers for the authentication tests: HTTP calls, cookies, mail and direct database reads."""

from __future__ import annotations

import email.policy
import re
import socket
import threading
from email.message import EmailMessage
from http.cookies import Morsel, SimpleCookie
from typing import Any, TypeVar
from urllib.parse import unquote

import httpx
from fastapi import FastAPI
from sqlalchemy import Executable, func, select
from sqlalchemy.orm import InstrumentedAttribute

from instapods.auth.dependencies import COOKIE
from instapods.config import Settings
from instapods.models import Base
from instapods.platform import Platform
from tests.fixtures.factories import PASSWORD
from tests.fixtures.http import Client

ModelT = TypeVar("ModelT", bound=Base)

ORIGIN = "http://localhost:8080"  # the `settings` fixture's public URL, and the clients' base URL
_LINK = re.compile(r"(https?://\S+/(?:verify-email|reset-password)\?token=([^\s&]+))")


async def register(
    client: Client, email: str, password: str = PASSWORD, **extra: Any
) -> httpx.Response:
    body = {"email": email, "password": password, **extra}
    return await client.post("/api/auth/register", json=body)


async def login(client: Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


def session_cookie(response: httpx.Response) -> Morsel[str]:
    """The `instapod_session` cookie as the response set it, with its attributes."""
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    assert COOKIE in jar, f"no {COOKIE} cookie in {response.headers.get_list('set-cookie')}"
    return jar[COOKIE]


def with_changes(settings: Settings, **changes: Any) -> Settings:
    """A copy of `settings` with some fields changed, validated like the environment would be."""
    return Settings.model_validate({**settings.model_dump(), **changes})


def platform_of(app: FastAPI) -> Platform:
    platform: Platform = app.state.platform
    return platform


async def rows(app: FastAPI, model: type[ModelT], *where: Any) -> list[ModelT]:
    async with platform_of(app).sessions() as session:
        return list(await session.scalars(select(model).where(*where)))


async def count(app: FastAPI, column: InstrumentedAttribute[Any], *where: Any) -> int:
    async with platform_of(app).sessions() as session:
        return int(await session.scalar(select(func.count(column)).where(*where)) or 0)


async def execute(app: FastAPI, statement: Executable) -> None:
    async with platform_of(app).sessions() as session, session.begin():
        await session.execute(statement)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (at the moment of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.port = 0
        self._lock = threading.Lock()  # the SMTP server runs in a thread of its own
        self._messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self._messages.append(message)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def link_in(message: EmailMessage) -> tuple[str, str]:
    """The link a mail carries and the token in it."""
    match = _LINK.search(body_of(message))
    assert match, f"no link in:\n{body_of(message)}"
    return match.group(1), unquote(match.group(2))
