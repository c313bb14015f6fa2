"""The rate-limit dependency: `Depends(rate_limited("login"))` on an endpoint."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from instapods.errors import RateLimited
from instapods.kit.clientip import client_ip
from instapods.platform import Platform, get_platform


def request_ip(request: Request) -> str:
    platform = get_platform(request)
    # No client: the request came in on the API's Unix socket, so from our edge (Caddy), which
    # replaces a client's X-Forwarded-For with the address it sees (see kit/clientip.py).
    peer = request.client.host if request.client else None
    # Every line, in order: a proxy may add a line of its own after the client's (RFC 9110 5.3).
    forwarded = ",".join(request.headers.getlist("x-forwarded-for")) or None
    return client_ip(peer, forwarded, platform.settings.trusted_proxies)


def limit_key(ip: str) -> str:
    """The bucket of an address: IPv6 clients are limited per /64, the block one host gets."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return ip


def rate_limited(name: str) -> Callable[[Request, Response], Awaitable[None]]:
    """Count this request against the named limit for the client's IP; 429 once it is spent."""

    async def dependency(request: Request, response: Response) -> None:
        platform: Platform = get_platform(request)
        verdict = await platform.limiter.hit(name, limit_key(request_ip(request)))
        headers = {
            "X-RateLimit-Limit": str(verdict.limit),
            "X-RateLimit-Remaining": str(verdict.remaining),
        }
        request.state.rate_limit_headers = headers  # errors carry them too
        if not verdict.allowed:
            headers["Retry-After"] = str(verdict.retry_after)
            raise RateLimited(headers=headers)
        response.headers.update(headers)

    return dependency
