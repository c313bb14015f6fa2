"""API latency against a bare endpoint, in one process.

Prints the median time of: a bare Starlette JSON endpoint (the floor), `GET /api/plans` (no
auth, no database), and `GET /api/auth/user` with a bearer token (one indexed token lookup),
all through the same in-process ASGI transport, on SQLite. Run: .venv/bin/python bench/api.py
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from instapods.app import create_app
from instapods.config import Settings

ROUNDS = 500


async def _median_ms(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> float:
    for _ in range(20):  # warm up
        await client.get(path, headers=headers)
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        response = await client.get(path, headers=headers)
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
    return statistics.median(samples) * 1000


def _bare() -> Starlette:
    async def plans(request: Request) -> JSONResponse:
        return JSONResponse({"plans": []})

    return Starlette(routes=[Route("/plans", plans)])


async def main() -> None:
    pods = Path("/tmp/instapods-bench") / uuid.uuid4().hex[:12]  # noqa: S108 (pod users reach it)
    pods.parent.mkdir(mode=0o711, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp), pods_dir=pods, rate_limits={"register": "1000/minute"}
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
                body = {"email": "bench@example.com", "password": "benchmark-password"}
                token = (await c.post("/api/auth/register", json=body)).json()["token"]
                catalog = await _median_ms(c, "/api/plans", {})
                authed = await _median_ms(c, "/api/auth/user", {"Authorization": f"Bearer {token}"})
        bare_transport = httpx.ASGITransport(app=_bare())
        async with httpx.AsyncClient(transport=bare_transport, base_url="http://localhost") as c:
            bare = await _median_ms(c, "/plans", {})
    shutil.rmtree(pods, ignore_errors=True)
    print(f"bare endpoint          {bare:7.3f} ms  (floor)")
    print(f"GET /api/plans         {catalog:7.3f} ms  {catalog / bare:5.1f}x")
    print(f"GET /api/auth/user     {authed:7.3f} ms  {authed / bare:5.1f}x  (token lookup, SQLite)")


if __name__ == "__main__":
    asyncio.run(main())
