"""The FastAPI application: routers, error handling, and the platform's start and stop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from instapods import __version__
from instapods.auth.endpoints import router as auth_router
from instapods.catalog.endpoints import router as catalog_router
from instapods.config import Settings
from instapods.errors import install_error_handlers
from instapods.files.endpoints import router as files_router
from instapods.files.service import TEXT_LIMIT
from instapods.middleware import RequestContext
from instapods.platform import start_platform, stop_platform
from instapods.pods.endpoints import router as pods_router
from instapods.system import openapi
from instapods.system.endpoints import DOCS_ASSETS
from instapods.system.endpoints import router as system_router
from instapods.teams.endpoints import invitations_router
from instapods.teams.endpoints import router as teams_router

ROUTERS = (
    system_router,
    auth_router,
    teams_router,
    invitations_router,
    catalog_router,
    pods_router,
    files_router,
)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform = await start_platform(settings)
        app.state.platform = platform
        app.state.sessions = platform.sessions
        try:
            yield
        finally:
            await stop_platform(platform)

    app = FastAPI(
        title="instapods API",
        version=__version__,
        description='The InstaPods REST API, self-hosted. Errors are `{"error": "…"}`.',
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    openapi.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount(
        DOCS_ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets"
    )
    app.add_middleware(
        RequestContext,
        max_json=settings.max_json_body_bytes,
        max_body=settings.max_body_bytes,
        larger={
            ("PUT", "/files/content"): 2 * TEXT_LIMIT + 1024 * 1024,  # JSON-escaped text
            ("POST", "/files/unpack"): settings.max_archive_bytes + 1024 * 1024,
        },
    )
    return app
