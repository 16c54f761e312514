"""/docs: the API's reference page, Swagger UI over /openapi.json, served by the service itself.

Swagger UI's files come from the ``swagger-ui-bundle-v2`` package (Swagger UI 5, which reads OpenAPI 3.1),
installed with the service: nothing is loaded from a CDN, so the page works on a closed network and its
content security policy allows only this origin. The page and its start-up script are ours (no inline
script); the bundle's files are served from the package's directory, only the few the page loads.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Final

from aiohttp import web

from authsvc.api.routing import Operation, Operations, Param

# The bundle's files the page loads, with their media types.
ASSETS: Final = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
START: Final = "docs.js"  # ours: starts Swagger UI on /openapi.json
_PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>authsvc API</title>
<link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/swagger-ui-standalone-preset.js"></script>
<script src="/docs/static/docs.js"></script>
</body>
</html>
"""
_START_JS: Final = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout",
  validatorUrl: null,
  persistAuthorization: false,
  tryItOutEnabled: false,
});
"""
# Swagger UI sets style attributes (so 'unsafe-inline' for styles only) and draws its icons as data: URIs.
_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def bundle_dir() -> Path:
    """Swagger UI's directory inside the installed package (ImportError when it is not installed)."""
    path: Path = importlib.import_module("swagger_ui_bundle").swagger_ui_path
    return Path(str(path))


async def page(_request: web.Request) -> web.Response:
    return web.Response(text=_PAGE, content_type="text/html", charset="utf-8", headers=_HEADERS)


async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    headers = _HEADERS | {"Cache-Control": "public, max-age=86400"}
    if name == START:
        return web.Response(text=_START_JS, content_type="text/javascript", charset="utf-8", headers=headers)
    if name not in ASSETS:
        raise web.HTTPNotFound()
    return web.FileResponse(bundle_dir() / name, headers=headers | {"Content-Type": ASSETS[name]})


def register(ops: Operations) -> None:
    ops.add(
        Operation(
            "GET",
            "/docs",
            page,
            "docs",
            "This API's reference page (Swagger UI over /openapi.json, served from the service's own files)",
            auth=False,
            tags=("system",),
            raw_responses={
                200: {
                    "description": "the page",
                    "content": {"text/html": {"schema": {"type": "string"}, "example": _PAGE}},
                }
            },
        )
    )
    ops.add(
        Operation(
            "GET",
            "/docs/static/{name}",
            asset,
            "docsAsset",
            "The reference page's script, style and icon",
            params=(Param("name", "path", "file name", schema={"type": "string", "enum": sorted([*ASSETS, START])}),),
            auth=False,
            tags=("system",),
            raw_responses={
                200: {
                    "description": "JavaScript, CSS or PNG",
                    "content": {
                        "text/javascript": {"schema": {"type": "string"}, "example": _START_JS},
                        "text/css": {"schema": {"type": "string"}, "example": ".swagger-ui { … }"},
                        "image/png": {"schema": {"type": "string", "format": "binary"}},
                    },
                }
            },
        )
    )
