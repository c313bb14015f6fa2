"""`instapods server`: one process that starts its components in order and stops them in reverse.

The API server listens on a private Unix socket; the edge (Caddy) owns the public port and
proxies to it. The SSH gateway and the workers join the same list. Each component starts
(raising if it cannot) and stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
from collections.abc import Iterator
from typing import Protocol

import uvicorn

from instapods.app import create_app
from instapods.config import Settings
from instapods.edge.paths import EdgePaths, listen_private
from instapods.edge.routes import PodRoute
from instapods.edge.server import EdgeServer
from instapods.platform import Platform
from instapods.worker.component import JobWorker

log = logging.getLogger("instapods")


class Component(Protocol):
    name: str

    async def start(self) -> None:
        """Start and return once the component is serving; raise if it cannot."""

    async def stop(self) -> None:
        """Stop gracefully; safe to call on a component that failed to start."""

    async def wait(self) -> None:
        """Return when the component stops on its own (which stops the whole server)."""


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the supervisor owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiServer:
    """The control plane's HTTP API, served by uvicorn inside this event loop.

    It listens on DATA_DIR/run/api.sock (mode 0600), which only the edge connects to.
    """

    name = "api"

    def __init__(self, settings: Settings) -> None:
        self.paths = EdgePaths.in_data_dir(settings.data_dir)
        self.socket: socket.socket | None = None
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app,
            log_level=settings.log_level,
            lifespan="on",
            proxy_headers=False,
            server_header=False,
        )
        self.server = _Uvicorn(config)
        self.task: asyncio.Task[None] | None = None

    async def _serve(self, sock: socket.socket) -> None:
        try:
            await self.server.serve(sockets=[sock])
        except SystemExit as exc:  # uvicorn exits when its start-up fails; let the supervisor stop
            raise RuntimeError(f"the API server could not start (exit code {exc.code})") from None

    async def start(self) -> None:
        self.paths.make_dirs()
        self.socket = listen_private(self.paths.api_socket)
        self.task = asyncio.create_task(self._serve(self.socket))
        while not self.server.started:
            if self.task.done():
                self._close_socket()
                await self.task  # re-raise why it could not start
                raise RuntimeError("the API server stopped during start-up")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task
        self._close_socket()

    def _close_socket(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.paths.api_socket.unlink(missing_ok=True)
            self.socket = None

    async def wait(self) -> None:
        if self.task is not None:
            await asyncio.shield(self.task)

    def platform(self) -> Platform:
        """The platform the app's lifespan built (once started), for components that share it."""
        platform: Platform = self.app.state.platform
        return platform


async def serve(components: list[Component]) -> int:
    """Run the components until a signal or until one of them stops; return an exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    started: list[Component] = []
    code = 0
    try:
        for component in components:
            await component.start()
            started.append(component)
            log.info("%s started", component.name)
        # What start-up made lives as long as the server: keep it out of every later garbage
        # collection (a full one over it took 50-90 ms, in the middle of some request).
        gc.collect()
        gc.freeze()
        waiters = [asyncio.create_task(c.wait()) for c in started]
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *waiters], return_when=asyncio.FIRST_COMPLETED)
        if stopper not in done:
            log.error("a component stopped on its own; shutting down")
            code = 1
        for task in [stopper, *waiters]:
            task.cancel()
    except Exception:
        log.exception("start-up failed")
        code = 1
    finally:
        for component in reversed(started):
            await component.stop()
            log.info("%s stopped", component.name)
    return code


async def _pod_routes(api: ApiServer) -> list[PodRoute]:
    from instapods.pods.tasks import routes

    return [
        PodRoute(name, upstream, state) for name, upstream, state in await routes(api.platform())
    ]


def run_server(settings: Settings) -> int:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per call to Caddy's API
    api = ApiServer(settings)
    workers = JobWorker(settings, platform=api.platform)
    edge = EdgeServer(settings, platform=api.platform, initial_routes=lambda: _pod_routes(api))
    return asyncio.run(serve([api, edge, workers]))
