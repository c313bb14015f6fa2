"""Health and API documentation."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from instapods import __version__, db
from instapods.kit.schema import Schema
from instapods.platform import PlatformDep

router = APIRouter(prefix="/api", tags=["system"])
DOCS_ASSETS = "/api/docs/assets"


class HealthOut(Schema):
    status: str
    version: str
    runtime: str
    database: str


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
async def health(platform: PlatformDep) -> JSONResponse:
    """200 when the database answers; 503 otherwise."""
    database_ok = await db.ping(platform.engine)
    body = HealthOut(
        status="ok" if database_ok else "unavailable",
        version=__version__,
        runtime="none",  # no pod runtime is wired in yet
        database=db.dialect_name(platform.engine) if database_ok else "unavailable",
    )
    return JSONResponse(body.model_dump(), status_code=200 if database_ok else 503)


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    """Swagger UI, served from this server (no CDN), reading /api/openapi.json."""
    return get_swagger_ui_html(
        openapi_url="/api/openapi.json",
        title="instapods API",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
    )
