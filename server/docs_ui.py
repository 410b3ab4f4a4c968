"""/docs from the package, not from a CDN: Swagger UI's files come with the server
(the ``swagger-ui-bundle-v2`` distribution, Apache-2.0 like Swagger UI itself), so the page
works offline and in an air-gapped cluster. FastAPI's CDN-loaded /docs and /redoc are removed.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"
_CDN_ROUTES = ("/docs", "/docs/oauth2-redirect", "/redoc")


def install(app: FastAPI) -> None:
    """Serve /docs (Swagger UI on /openapi.json) with its assets under /docs/assets."""
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in _CDN_ROUTES]
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_path), name="swagger-ui-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request):
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(openapi_url=root + (app.openapi_url or "/openapi.json"),
                                   title=f"{app.title} - Swagger UI",
                                   swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png")
