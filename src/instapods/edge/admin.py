"""A thin client of Caddy's admin API, over its Unix socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

# Caddy accepts an empty Host, 127.0.0.1 or ::1 on a Unix socket admin endpoint.
_BASE_URL = "http://127.0.0.1"


class EdgeError(Exception):
    """Caddy could not be reached, or refused a change (its own message is included)."""


class CaddyAdmin:
    def __init__(self, socket: Path, timeout: float = 10.0) -> None:
        self.socket = socket
        self._client = httpx.AsyncClient(
            # No kept-alive connections: a `/load` may restart the admin server under them.
            transport=httpx.AsyncHTTPTransport(
                uds=str(socket), limits=httpx.Limits(max_keepalive_connections=0)
            ),
            base_url=_BASE_URL,
            timeout=timeout,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def alive(self, timeout: float = 2.0) -> bool:
        """Whether a Caddy answers on the socket."""
        try:
            response = await self._client.get("/config/", timeout=timeout)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def load(self, config: dict[str, Any]) -> None:
        """Replace the whole configuration (Caddy rolls back if the new one fails)."""
        await self._call("POST", "/load", config)

    async def get(self, path: str) -> Any:
        """The configuration at `path`, e.g. `config/apps` or `id/NAME`."""
        response = await self._call("GET", f"/{path}")
        assert response is not None
        return response.json()

    async def replace(self, object_id: str, value: dict[str, Any]) -> bool:
        """Replace the object with this `@id`; False when there is none."""
        return await self._call("PATCH", f"/id/{object_id}", value, missing_ok=True) is not None

    async def append(self, object_id: str, field: str, value: dict[str, Any]) -> None:
        """Append `value` to the array `field` of the object with this `@id`."""
        await self._call("POST", f"/id/{object_id}/{field}", value)

    async def delete(self, object_id: str) -> bool:
        """Delete the object with this `@id`; False when there was none."""
        return await self._call("DELETE", f"/id/{object_id}", missing_ok=True) is not None

    async def stop(self) -> None:
        """Ask Caddy to shut down gracefully and exit."""
        await self._call("POST", "/stop")

    async def _call(
        self, method: str, path: str, body: Any = None, *, missing_ok: bool = False
    ) -> httpx.Response | None:
        try:
            response = await self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise EdgeError(f"Caddy's admin API at {self.socket} did not answer: {exc}") from exc
        if response.status_code == 404 and missing_ok:
            return None
        if response.is_error:
            raise EdgeError(f"Caddy refused {method} {path}: {_reason(response)}")
        return response


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    return str(error or response.text.strip() or response.status_code)
