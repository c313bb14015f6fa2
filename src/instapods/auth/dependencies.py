"""Who is calling: a bearer token or the session cookie, with a CSRF check for the cookie."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response

from instapods.auth import service
from instapods.auth.service import ClientInfo, Session
from instapods.db import SessionDep
from instapods.errors import Forbidden, Unauthorized
from instapods.models import User
from instapods.platform import PlatformDep
from instapods.ratelimits import request_ip

COOKIE = "instapod_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(request: Request, public_url: str) -> set[str]:
    """The server's own origins: its public URL and the host the request was sent to."""
    origins = {_origin(public_url), _origin(str(request.base_url))}
    return {o for o in origins if o}


def check_origin(request: Request, public_url: str) -> None:
    """Refuse a cookie-authenticated unsafe request that another site could have forged."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed or _origin(claimed) not in allowed_origins(request, public_url):
        raise Forbidden("Cross-site request refused: the Origin header does not match this server")


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'")
    return value.strip()


async def current_session(request: Request, session: SessionDep, platform: PlatformDep) -> Session:
    secret = bearer(request)
    if secret is None:
        secret = request.cookies.get(COOKIE)
        if not secret:
            raise Unauthorized()
        if request.method not in SAFE_METHODS:
            check_origin(request, platform.public_url)
    return await service.authenticate(session, secret)


async def current_user(current: Annotated[Session, Depends(current_session)]) -> User:
    return current.user


def client_info(request: Request) -> ClientInfo:
    return ClientInfo(ip=request_ip(request), user_agent=request.headers.get("user-agent"))


def set_session_cookie(
    response: Response, request: Request, token: str, platform_url: str, max_age_days: int
) -> None:
    secure = request.url.scheme == "https" or platform_url.startswith("https://")
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age_days * 86400,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")


CurrentSession = Annotated[Session, Depends(current_session)]
CurrentUser = Annotated[User, Depends(current_user)]
ClientDep = Annotated[ClientInfo, Depends(client_info)]
