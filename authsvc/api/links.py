"""Flow links and the hosted onboarding page.

    POST /v1/identifications/{id}/link   (lender, API key) -> {url, expires_at}: a short-lived, single-use link
    GET  /hosted/l/{token}               first open binds a session cookie to this browser, then -> /hosted/flow
    GET  /hosted/flow, /hosted/static/*  the page and its modules (the web SDK among them), gzipped, with
                                         entity tags; the page names its modules by version (`hosted.assets`)
    /hosted/api/*                        the page's own endpoints: the link's session, never an API key

The URL token and the session are 256-bit secrets stored only as keyed hashes (`authsvc.store.flow_links`).
The cookie is HttpOnly, SameSite=Strict and Path=/hosted; every page POST also carries ``X-Hosted-Page``
(a header a cross-site form cannot send). The page can drive only its identification's steps, through the
same method objects the lender's API uses (R-7.1 EDS, R-7.3b liveness, R-7.3a one-time code), so every
rule of theirs (single-use challenges, R-12.3 reuse, abuse limits) holds here too.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from authsvc import error_codes
from authsvc.api import eds as eds_api
from authsvc.api import liveness as liveness_api
from authsvc.api import second_factors
from authsvc.api.body import parse, read_body
from authsvc.api.factor_steps import CODE_REFUSALS, OtpCode, StepResult, read_optional, step_result
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import IDENT_ID, Operation, Operations, Param
from authsvc.api.state import DB, EDS, FLOWS, KEYS, LIVENESS, SETTINGS
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.error_codes import Code
from authsvc.errors import BadRequest, Conflict, NotFound, Unauthorized
from authsvc.hosted import check_return_url, flash_timing, new_secret, offered_steps
from authsvc.hosted.assets import Asset, build
from authsvc.methods import eds
from authsvc.store import challenges, flow_links, identifications
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


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    return_url: Annotated[str, Field(min_length=1, max_length=2048)] | None = Field(
        None, description="where the page sends the client when done; must start with a prefix of [hosted] return_urls"
    )
    locale: Literal["kk", "ru", "en"] = Field("ru", description="the page's first language (the client can switch)")


class LinkOut(BaseModel):
    link_id: str
    url: str = Field(description="open it in the client's browser; it works once, until expires_at")
    expires_at: datetime


class StepState(BaseModel):
    method: str
    done: bool


class PageState(BaseModel):
    locale: str
    status: str
    expires_at: datetime
    steps: list[StepState] = Field(description="the steps the page offers, in order, and whether each passed")
    return_url: str | None
    ncalayer_url: str


class PageScript(BaseModel):
    challenge_id: str
    script: dict[str, Any]


class PageLiveness(BaseModel):
    step_id: str
    passed: bool
    reasons: list[str]
    flash_timing: dict[str, Any] = Field(description="the page's painted flash times against the script's")


class PageChallenge(BaseModel):
    challenge_id: str
    data: str = Field(description="base64 of the bytes to sign through NCALayer")


class PageEdsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cms: eds_api.B64
    data: Annotated[str, Field(min_length=1, max_length=1024)] | None = None


class PageEds(BaseModel):
    step_id: str
    outcome: Literal["passed", "failed"]
    reasons: list[str]


class PageOtpSent(BaseModel):
    phone: str
    expires_at: datetime
    resend_after: datetime


class PageOtpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: OtpCode


# --- the lender's side ----------------------------------------------------------------------------


async def create_link(request: web.Request) -> web.Response:
    lender = current_lender(request)
    body: LinkIn = await read_optional(request, LinkIn)
    hosted = request.app[SETTINGS].hosted
    return_url = check_return_url(body.return_url, hosted.return_urls.get(lender.id, []))
    token = new_secret()
    ident = await request.app[FLOWS].open_for(lender.id, request.match_info["identification_id"])
    async with request.app[DB].transaction() as tx:
        link = await flow_links.issue(
            tx,
            request.app[KEYS],
            identification_id=ident.id,
            lender_id=lender.id,
            token=token,
            ttl_s=hosted.link_ttl_s,
            return_url=return_url,
            locale=body.locale,
        )
        await audit.append(
            tx,
            request.app[KEYS],
            AuditEvent.LINK_ISSUED,
            lender_id=lender.id,
            subject=ident.id,
            details={"link_id": link.id, "return_url": return_url is not None},
        )
    url = f"{hosted.public_url.rstrip('/')}/hosted/l/{token}"
    out = LinkOut(link_id=link.id, url=url, expires_at=link.expires_at)
    return web.json_response(text=out.model_dump_json(), status=201)


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
            if mine is not None and mine.id == link.id and _live(mine):
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


# --- the page's endpoints ---------------------------------------------------------------------------


def _live(link: Link) -> bool:
    return link.session_expires_at is not None and link.session_expires_at > datetime.now(UTC)


async def _session(request: web.Request, *, post: bool = True) -> Link:
    """The link whose session this browser holds (401 without one); page POSTs must carry the page header."""
    if post and request.headers.get(HEADER) != "1":
        raise BadRequest(f"send {HEADER}: 1 (the hosted page does)", code=error_codes.HOSTED_HEADER_MISSING)
    cookie = request.cookies.get(COOKIE, "")[:64]
    link = None
    if cookie:
        async with request.app[DB].autocommit() as tx:
            link = await flow_links.by_session(tx, request.app[KEYS], cookie)
    if link is None or not _live(link):
        raise Unauthorized("open the page through its link", code=error_codes.HOSTED_SESSION_REQUIRED)
    return link


async def _offered(request: web.Request, link: Link) -> tuple[identifications.Identification, list[str], set[str]]:
    try:
        view = await request.app[FLOWS].view(link.lender_id, link.identification_id)
    except NotFound as exc:
        raise Unauthorized("open the page through its link", code=error_codes.HOSTED_SESSION_REQUIRED) from exc
    passed = {s.method for s in view.taken if s.outcome == "passed"}
    # The steps the identification's profile still needs, of those the page can drive.
    return view.ident, offered_steps(view.judgement.next_methods, passed), passed


async def _step(request: web.Request, method: str) -> Link:
    link = await _session(request)
    _, offered, _ = await _offered(request, link)
    if method not in offered:
        raise Conflict(f"this page does not offer the {method} step now", code=error_codes.STEP_NOT_OFFERED)
    return link


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status, headers={"Cache-Control": "no-store"})


async def page_state(request: web.Request) -> web.Response:
    link = await _session(request, post=False)
    ident, offered, passed = await _offered(request, link)
    shown = [m for m in ("liveness", "eds", "otp_sms") if m in offered or m in passed]
    out = PageState(
        locale=link.locale,
        status=ident.status.value,
        expires_at=ident.expires_at,
        steps=[StepState(method=m, done=m in passed) for m in shown],
        return_url=link.return_url,
        ncalayer_url=request.app[SETTINGS].hosted.ncalayer_url,
    )
    return _json(out)


async def page_script(request: web.Request) -> web.Response:
    link = await _step(request, "liveness")
    ident = await request.app[FLOWS].open_for(link.lender_id, link.identification_id)
    challenge_id, script = await request.app[LIVENESS].issue(ident)
    return _json(PageScript(challenge_id=challenge_id, script=script), 201)


async def page_liveness(request: web.Request) -> web.Response:
    link = await _step(request, "liveness")
    settings = request.app[SETTINGS].liveness
    challenge_id, upload, extra = await liveness_api.read_capture(
        request, settings.upload_max_bytes, settings.max_frames, extra=("flash_times_ms",)
    )
    # The script as issued (not as the page echoes it): the painted times are judged against it.
    async with request.app[DB].autocommit() as tx:
        issued = await challenges.get(tx, challenge_id[:64])
    script = json.loads(issued.payload["script"]) if issued is not None and "script" in issued.payload else {}
    done, _checks = await liveness_api.submit_liveness(
        request.app, link.lender_id, link.identification_id, challenge_id, upload
    )
    reasons = list(done.step.details.get("reasons", []))
    timing = flash_timing(script, extra.get("flash_times_ms"))
    async with request.app[DB].transaction() as tx:
        await audit.append(
            tx,
            request.app[KEYS],
            AuditEvent.CAPTURE_TIMING,
            lender_id=link.lender_id,
            subject=link.identification_id,
            details={"step_id": done.step.id, "frames": len(upload) if isinstance(upload, list) else None} | timing,
        )
    out = PageLiveness(step_id=done.step.id, passed=done.step.outcome == "passed", reasons=reasons, flash_timing=timing)
    return _json(out)


async def page_challenge(request: web.Request) -> web.Response:
    link = await _step(request, "eds")
    ident = await request.app[FLOWS].open_for(link.lender_id, link.identification_id)
    issued = await request.app[EDS].issue_challenge(ident)
    return _json(PageChallenge(challenge_id=issued.id, data=eds.encode(issued.data)), 201)


async def page_eds(request: web.Request) -> web.Response:
    link = await _step(request, "eds")
    body: PageEdsIn = parse(PageEdsIn, await read_body(request))
    done = await eds_api.submit_eds(request.app, link.lender_id, link.identification_id, body.cms, body.data)
    reasons = list(done.step.details.get("reasons", []))
    return _json(PageEds(step_id=done.step.id, outcome=done.step.outcome, reasons=reasons))


async def page_otp(request: web.Request) -> web.Response:
    link = await _step(request, "otp_sms")
    sent = await second_factors.send_otp(
        request.app, link.lender_id, link.identification_id, "sms", request.remote or "-"
    )
    return _json(PageOtpSent(phone=sent.phone, expires_at=sent.expires_at, resend_after=sent.resend_after), 202)


async def page_otp_verify(request: web.Request) -> web.Response:
    link = await _step(request, "otp_sms")
    body: PageOtpIn = parse(PageOtpIn, await read_body(request))
    done = await second_factors.verify_otp(
        request.app, link.lender_id, link.identification_id, "sms", body.code, request.remote or "-"
    )
    return _json(step_result(done))


_FLASH_TIMES = {
    "type": "string",
    "description": "JSON list: when the page painted each of the script's flashes (ms from the start)",
}
PAGE_UPLOAD = liveness_api.upload_form(flash_times_ms=_FLASH_TIMES)
# What a page step the schema accepts can still be refused for: the signature's content, a wrong code.
_PAGE_REFUSALS = {"hostedEds": eds_api.CONTENT_REFUSALS, "hostedOtpVerify": CODE_REFUSALS}
_PAGE = (error_codes.HOSTED_HEADER_MISSING, error_codes.HOSTED_SESSION_REQUIRED, error_codes.STEP_NOT_OFFERED)
_COMMON = (error_codes.INTERNAL_ERROR, error_codes.DATABASE_UNAVAILABLE, error_codes.INVALID_CHARACTERS)


def register(ops: Operations) -> None:
    _assets()  # built now: a missing file fails the start, not a client's first visit
    ops.add(
        Operation(
            "POST",
            "/v1/identifications/{identification_id}/link",
            create_link,
            "createFlowLink",
            "A short-lived, single-use link to the hosted page for this identification (no API key in the browser)",
            body=LinkIn,
            responses={201: LinkOut, 404: None, 409: None},
            params=(IDENT_ID,),
            tags=TAGS,
            errors=(
                error_codes.IDENTIFICATION_NOT_FOUND,
                error_codes.IDENTIFICATION_CLOSED,
                error_codes.RETURN_URL_NOT_ALLOWED,
            ),
            beyond_schema=(error_codes.RETURN_URL_NOT_ALLOWED,),  # the prefixes are the deployment's setting
        )
    )
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
            errors=(error_codes.LINK_NOT_FOUND, error_codes.LINK_EXPIRED, error_codes.LINK_USED, *_COMMON),
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
    page_ops: list[tuple[str, str, Any, str, str, Any, dict[int, Any], tuple[Code, ...]]] = [
        ("GET", "/hosted/api/state", page_state, "hostedState", "Steps the page offers", None, {200: PageState}, ()),
        (
            "POST",
            "/hosted/api/liveness/script",
            page_script,
            "hostedLivenessScript",
            "A liveness script for the page's identification",
            None,
            {201: PageScript},
            (error_codes.IDENTIFICATION_NOT_FOUND, error_codes.IDENTIFICATION_CLOSED),
        ),
        (
            "POST",
            "/hosted/api/eds/challenge",
            page_challenge,
            "hostedEdsChallenge",
            "The challenge to sign through NCALayer",
            None,
            {201: PageChallenge},
            (error_codes.IDENTIFICATION_NOT_FOUND, error_codes.IDENTIFICATION_CLOSED),
        ),
        (
            "POST",
            "/hosted/api/eds",
            page_eds,
            "hostedEds",
            "Submit the CMS",
            PageEdsIn,
            {200: PageEds},
            eds_api.SUBMIT_ERRORS,
        ),
        (
            "POST",
            "/hosted/api/otp",
            page_otp,
            "hostedOtpSend",
            "Send a one-time code by SMS",
            None,
            {202: PageOtpSent},
            second_factors.SEND_ERRORS,
        ),
        (
            "POST",
            "/hosted/api/otp/verify",
            page_otp_verify,
            "hostedOtpVerify",
            "Check the code",
            PageOtpIn,
            {200: StepResult},
            second_factors.VERIFY_ERRORS,
        ),
    ]
    for method, path, handler, op_id, summary, body, responses, errors in page_ops:
        ops.add(
            Operation(
                method,
                path,
                handler,
                op_id,
                summary,
                body=body,
                responses=responses,
                params=(PAGE_HEADER,) if method == "POST" else (),
                auth=False,
                tags=TAGS,
                errors=(*_PAGE, *_COMMON, *errors),
                beyond_schema=_PAGE_REFUSALS.get(op_id, ()),
            )
        )
    ops.add(
        Operation(
            "POST",
            "/hosted/api/liveness",
            page_liveness,
            "hostedLiveness",
            "Upload the capture (timed frames, plus flash_times_ms: when the page painted each flash)",
            responses={200: PageLiveness},
            params=(PAGE_HEADER,),
            auth=False,
            tags=TAGS,
            request_content=PAGE_UPLOAD,
            errors=(
                *_PAGE,
                *_COMMON,
                *liveness_api.SUBMIT_ERRORS,
                error_codes.CHALLENGE_EXPIRED,
                error_codes.IDENTITY_DOCUMENT_REQUIRED,  # a profile requiring the document (none on file)
            ),
            beyond_schema=liveness_api.CAPTURE_REFUSALS,
        )
    )
