"""The hosted onboarding page, the client's side of a flow link (`authsvc.api.links` issues them).

    GET  /hosted/l/{token}               first open binds a session cookie to this browser, then -> /hosted/flow
    GET  /hosted/flow, /hosted/static/*  the page and its modules (the web SDK among them), gzipped, with
                                         entity tags; the page names its modules by version (`hosted.assets`)
    /hosted/api/*                        the page's own endpoints (`authsvc.api.hosted_steps`): the link's
                                         session, never an API key

The URL token and the session are 256-bit secrets stored only as keyed hashes (`authsvc.store.flow_links`).
The cookie is HttpOnly, SameSite=Strict and Path=/hosted; every page POST also carries ``X-Hosted-Page``
(a header a cross-site form cannot send). The page can drive only its identification's steps, through the
same method objects the lender's API uses (R-7.1 EDS, R-7.3b liveness, R-7.3a one-time code), so every
rule of theirs (single-use challenges, R-12.3 reuse, abuse limits) holds here too.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Final

from aiohttp import web

from authsvc import error_codes
from authsvc.api.routing import Operation, Operations, Param
from authsvc.api.state import DB, KEYS, SETTINGS
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.error_codes import Code
from authsvc.hosted import new_secret
from authsvc.hosted.assets import Asset, build
from authsvc.store import flow_links
from authsvc.store.flow_links import Link

COOKIE: Final = "authsvc_hosted"
HEADER: Final = "X-Hosted-Page"
PAGE_HEADER: Final = Param(
    HEADER,
    "header",
    "1: the request comes from the hosted page's own script (a cross-site form cannot set a header)",
    schema={"type": "string", "enum": ["1"]},
)
STATIC: Final = Path(__file__).resolve().parent.parent / "hosted" / "static"
PAGE: Final = "index.html"  # served at /hosted/flow; the others under /hosted/static/
ASSETS: Final = ("app.js", "sdk.js", "i18n.js", "style.css")
IMMUTABLE: Final = "public, max-age=31536000, immutable"  # a versioned address: its content never changes
TAGS: Final = ("hosted page",)
COMMON_ERRORS = (error_codes.INTERNAL_ERROR, error_codes.DATABASE_UNAVAILABLE, error_codes.INVALID_CHARACTERS)


def live_session(link: Link) -> bool:
    return link.session_expires_at is not None and link.session_expires_at > datetime.now(UTC)


# --- opening the link -----------------------------------------------------------------------------


def _headers(request: web.Request) -> dict[str, str]:
    ncalayer = request.app[SETTINGS].hosted.ncalayer_url
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        f"media-src 'self' blob: mediastream:; connect-src 'self' {ncalayer}; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
        "Cache-Control": "no-store",
    }


_REFUSED = {
    "link_not_found": ("Сілтеме жарамсыз.", "Ссылка недействительна.", "This link is not valid."),
    "link_expired": ("Сілтеменің мерзімі өтті.", "Срок действия ссылки истёк.", "This link has expired."),
    "link_used": ("Бұл сілтеме бұрын ашылған.", "Эта ссылка уже была открыта.", "This link was already opened."),
}
_ASK = (
    "Несие берушіден жаңа сілтеме сұраңыз.",
    "Попросите у кредитора новую ссылку.",
    "Ask the lender for a new link.",
)


def _refused(request: web.Request, code: Code) -> web.Response:
    """An HTML page in the three languages (a person opened the link, not a program)."""
    lines = "".join(
        f'<p lang="{lang}"><strong>{html.escape(said)}</strong> {html.escape(ask)}</p>'
        for lang, said, ask in zip(("kk", "ru", "en"), _REFUSED[code], _ASK, strict=True)
    )
    page = (
        '<!doctype html><html lang="ru"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="stylesheet" href="{_assets()["style.css"].url}"><title>authsvc</title></head>'
        f'<body><main class="refused" data-code="{code}" role="alert">{lines}</main></body></html>'
    )
    return web.Response(text=page, status=code.status, content_type="text/html", headers=_headers(request))


def _cookie(request: web.Request, response: web.StreamResponse, session: str) -> None:
    hosted = request.app[SETTINGS].hosted
    response.set_cookie(
        COOKIE,
        session,
        max_age=hosted.session_ttl_s,
        path="/hosted",
        httponly=True,
        samesite="Strict",
        secure=hosted.cookie_secure,
    )


def _to_page(request: web.Request) -> web.Response:
    # Returned, not raised: the middleware answers raised HTTP exceptions as problems. The token leaves
    # the address bar (and any Referer) here.
    return web.Response(status=303, headers=_headers(request) | {"Location": "/hosted/flow"})


async def open_link(request: web.Request) -> web.StreamResponse:
    keys, hosted = request.app[KEYS], request.app[SETTINGS].hosted
    token = request.match_info["token"][:64]
    async with request.app[DB].transaction() as tx:
        link = await flow_links.by_token(tx, keys, token)
        if link is None:
            return _refused(request, error_codes.LINK_NOT_FOUND)
        if link.opened_at is not None:
            # The browser it was opened in may open it again; any other is refused.
            cookie = request.cookies.get(COOKIE, "")[:64]
            mine = await flow_links.by_session(tx, keys, cookie) if cookie else None
            if mine is not None and mine.id == link.id and live_session(mine):
                return _to_page(request)
            refusal = error_codes.LINK_USED
        elif link.expires_at <= datetime.now(UTC):
            refusal = error_codes.LINK_EXPIRED
        else:
            session = new_secret()
            if await flow_links.open_once(tx, keys, link.id, session, hosted.session_ttl_s):
                await audit.append(
                    tx,
                    keys,
                    AuditEvent.LINK_OPENED,
                    lender_id=link.lender_id,
                    subject=link.identification_id,
                    details={"link_id": link.id},
                )
                response = _to_page(request)
                _cookie(request, response, session)
                return response
            refusal = error_codes.LINK_USED
        await audit.append(
            tx,
            keys,
            AuditEvent.LINK_REFUSED,
            lender_id=link.lender_id,
            subject=link.identification_id,
            details={"link_id": link.id, "reason": str(refusal)},
        )
    return _refused(request, refusal)


@cache
def _assets() -> dict[str, Asset]:
    return build(STATIC)


def _gzip_accepted(request: web.Request) -> bool:
    """Whether Accept-Encoding takes gzip: named, or by ``*``, with a weight above 0."""
    weights: dict[str, float] = {}
    for part in request.headers.get("Accept-Encoding", "").split(","):
        coding, *params = (p.strip().lower() for p in part.split(";"))
        q = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            weights[coding] = float(q)
        except ValueError:
            weights[coding] = 0.0
    return weights.get("gzip", weights.get("*", 0.0)) > 0


def _serve(request: web.Request, asset: Asset, cache_control: str) -> web.Response:
    """``asset`` gzipped when the browser takes it, with its tag; 304 when the browser holds that tag."""
    gzipped = _gzip_accepted(request)
    etag = asset.etag(gzipped)
    headers = _headers(request) | {"Cache-Control": cache_control, "ETag": etag, "Vary": "Accept-Encoding"}
    held = request.headers.get("If-None-Match", "")
    if held.strip() == "*" or etag in {t.strip().removeprefix("W/") for t in held.split(",")}:
        return web.Response(status=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    body = asset.gzipped if gzipped else asset.body
    return web.Response(body=body, content_type=asset.content_type, charset="utf-8", headers=headers)


async def flow_page(request: web.Request) -> web.Response:
    # The page names its modules by version; it is itself revalidated on every open (a 304 when unchanged).
    return _serve(request, _assets()[PAGE], "no-cache")


async def static_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    asset = _assets()[name]
    # Only the address the page itself uses is kept for a year; an unversioned or older one is revalidated.
    return _serve(request, asset, IMMUTABLE if request.query.get("v") == asset.version else "no-cache")


def register(ops: Operations) -> None:
    _assets()  # built now: a missing file fails the start, not a client's first visit
    html_page = {"text/html": {"schema": {"type": "string"}, "example": '<!doctype html><html lang="ru">…</html>'}}
    ops.add(
        Operation(
            "GET",
            "/hosted/l/{token}",
            open_link,
            "openFlowLink",
            "Open a link: binds a session to this browser (first open only) and redirects to the page",
            params=(Param("token", "path", "the link's token", schema={"type": "string", "maxLength": 64}),),
            auth=False,
            tags=TAGS,
            raw_responses={
                303: {"description": "to /hosted/flow, with the session cookie"},
                404: {"description": "unknown link (HTML)", "content": html_page},
                409: {"description": "expired or used link (HTML)", "content": html_page},
            },
            errors=(error_codes.LINK_NOT_FOUND, error_codes.LINK_EXPIRED, error_codes.LINK_USED, *COMMON_ERRORS),
        )
    )
    ops.add(
        Operation(
            "GET",
            "/hosted/flow",
            flow_page,
            "hostedPage",
            "The hosted onboarding page",
            auth=False,
            tags=TAGS,
            raw_responses={
                200: {"description": "the page (gzipped when accepted)", "content": html_page},
                304: {"description": "unchanged since the ETag in If-None-Match"},
            },
        )
    )
    ops.add(
        Operation(
            "GET",
            "/hosted/static/{name}",
            static_asset,
            "hostedAsset",
            "The page's modules and style (sdk.js is the web SDK)",
            params=(
                Param("name", "path", "file name", schema={"type": "string", "enum": sorted(ASSETS)}),
                Param(
                    "v",
                    "query",
                    "the content version the page names it by (then cached for a year)",
                    schema={"type": "string", "maxLength": 64},
                    required=False,
                ),
            ),
            auth=False,
            tags=TAGS,
            raw_responses={
                200: {
                    "description": "JavaScript module or CSS (gzipped when accepted)",
                    "content": {
                        "text/javascript": {"schema": {"type": "string"}, "example": "export function start() { … }"},
                        "text/css": {"schema": {"type": "string"}, "example": "body { … }"},
                    },
                },
                304: {"description": "unchanged since the ETag in If-None-Match"},
            },
            errors=(error_codes.NOT_FOUND,),
        )
    )
