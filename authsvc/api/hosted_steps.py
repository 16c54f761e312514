"""The hosted page's own endpoints (``/hosted/api/*``): the steps of its link's identification, driven with
the link's session cookie (never an API key) and the ``X-Hosted-Page`` header, through the same method
objects the lender's API uses (R-7.1 EDS, R-7.3b liveness with the identity document, R-7.3a one-time code),
so every rule of theirs (single-use challenges, R-12.3 reuse, abuse limits) holds here too.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from authsvc import error_codes
from authsvc.api import eds as eds_api
from authsvc.api import liveness as liveness_api
from authsvc.api import second_factors
from authsvc.api.body import parse, read_body
from authsvc.api.factor_steps import CODE_REFUSALS, OtpCode, StepResult, step_result
from authsvc.api.hosted_page import COMMON_ERRORS, COOKIE, HEADER, PAGE_HEADER, TAGS, live_session
from authsvc.api.middlewares import HOSTED_DOCUMENT_LIMITER
from authsvc.api.routing import Operation, Operations
from authsvc.api.state import CLIENT_REGISTRY, DB, EDS, FLOWS, KEYS, LIVENESS, SETTINGS
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.cabinet.faces import DOCUMENT_FIELD
from authsvc.cabinet.media import DOCUMENT_TYPES
from authsvc.error_codes import Code
from authsvc.errors import BadRequest, Conflict, NotFound, RateLimited, Unauthorized
from authsvc.flows.session import View
from authsvc.hosted import flash_timing, offered_steps
from authsvc.methods import eds
from authsvc.store import challenges, flow_links
from authsvc.store.flow_links import Link


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
    document_needed: bool = Field(
        description="the liveness step needs the identity document's image first (R-7.3b(i)): POST it to "
        "/hosted/api/document, then send it with the capture as id_document_image"
    )


class PageDocument(BaseModel):
    accepted: bool = Field(description="the portrait was found and can be matched: send the file with the capture")
    sha256: str


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


# --- the steps --------------------------------------------------------------------------------------


async def _session(request: web.Request, *, post: bool = True) -> Link:
    """The link whose session this browser holds (401 without one); page POSTs must carry the page header."""
    if post and request.headers.get(HEADER) != "1":
        raise BadRequest(f"send {HEADER}: 1 (the hosted page does)", code=error_codes.HOSTED_HEADER_MISSING)
    cookie = request.cookies.get(COOKIE, "")[:64]
    link = None
    if cookie:
        async with request.app[DB].autocommit() as tx:
            link = await flow_links.by_session(tx, request.app[KEYS], cookie)
    if link is None or not live_session(link):
        raise Unauthorized("open the page through its link", code=error_codes.HOSTED_SESSION_REQUIRED)
    return link


async def _offered(request: web.Request, link: Link) -> tuple[View, list[str], set[str]]:
    try:
        view = await request.app[FLOWS].view(link.lender_id, link.identification_id)
    except NotFound as exc:
        raise Unauthorized("open the page through its link", code=error_codes.HOSTED_SESSION_REQUIRED) from exc
    passed = {s.method for s in view.taken if s.outcome == "passed"}
    # The steps the identification's profile still needs, of those the page can drive.
    return view, offered_steps(view.judgement.next_methods, passed), passed


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
    view, offered, passed = await _offered(request, link)
    ident = view.ident
    shown = [m for m in ("liveness", "eds", "otp_sms") if m in offered or m in passed]
    needed = "liveness" in offered and await liveness_api.document_need(request.app, view) is not None
    out = PageState(
        locale=link.locale,
        status=ident.status.value,
        expires_at=ident.expires_at,
        steps=[StepState(method=m, done=m in passed) for m in shown],
        return_url=link.return_url,
        ncalayer_url=request.app[SETTINGS].hosted.ncalayer_url,
        document_needed=needed,
    )
    return _json(out)


async def page_document(request: web.Request) -> web.Response:
    """Check the identity document's image before the camera starts (a bad one is said at once, in the page's
    words); nothing is kept: the page sends the same file with the capture, which checks it again."""
    link = await _step(request, "liveness")
    # Counted before the file is read: a page (or a script holding its cookie) cannot make the service
    # decode images and PDFs without end.
    limiter = request.app[HOSTED_DOCUMENT_LIMITER]
    wait = limiter.hit(link.identification_id)
    if wait:
        raise RateLimited(
            f"more than {limiter.limit} document checks in {limiter.window_s} s",
            retry_after=wait,
            code=error_codes.DOCUMENT_CHECKS_LIMITED,
        )
    registry = request.app[CLIENT_REGISTRY]
    cap = registry.limits.scan_max_bytes
    data = await request.content.read(cap + 1)  # one byte over: the registry's own check names the size
    checked = await registry.check_document(data)
    await request.app[FLOWS].open_for(link.lender_id, link.identification_id)  # still open
    return _json(PageDocument(accepted=True, sha256=checked.media.sha256))


async def page_script(request: web.Request) -> web.Response:
    link = await _step(request, "liveness")
    ident = await request.app[FLOWS].open_for(link.lender_id, link.identification_id)
    challenge_id, script = await request.app[LIVENESS].issue(ident)
    return _json(PageScript(challenge_id=challenge_id, script=script), 201)


async def page_liveness(request: web.Request) -> web.Response:
    link = await _step(request, "liveness")
    settings = request.app[SETTINGS].liveness
    challenge_id, upload, extra = await liveness_api.read_capture(
        request, settings.upload_max_bytes, settings.max_frames, extra=("flash_times_ms", DOCUMENT_FIELD)
    )
    # The script as issued (not as the page echoes it): the painted times are judged against it.
    async with request.app[DB].autocommit() as tx:
        issued = await challenges.get(tx, challenge_id[:64])
    script = json.loads(issued.payload["script"]) if issued is not None and "script" in issued.payload else {}
    done, _checks = await liveness_api.submit_liveness(
        request.app, link.lender_id, link.identification_id, challenge_id, upload, document=extra.get(DOCUMENT_FIELD)
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
PAGE_UPLOAD = liveness_api.upload_form(
    flash_times_ms=_FLASH_TIMES, **{DOCUMENT_FIELD: liveness_api.UPLOAD_DOCUMENT_PART}
)
# One binary body whose kind is read from its bytes (JPEG, PNG or PDF: DOCUMENT_TYPES), so that a generated
# client can send it (openapi-python-client expresses octet-stream, not image/* or application/pdf bodies).
_DOCUMENT_BODY = {
    "application/octet-stream": {
        "schema": {
            "type": "string",
            "format": "binary",
            "description": "the image's bytes: " + ", ".join(sorted(DOCUMENT_TYPES)) + " (told apart by content)",
        }
    }
}
# What a page step the schema accepts can still be refused for: the signature's content, a wrong code.
_PAGE_REFUSALS = {"hostedEds": eds_api.CONTENT_REFUSALS, "hostedOtpVerify": CODE_REFUSALS}
_PAGE = (error_codes.HOSTED_HEADER_MISSING, error_codes.HOSTED_SESSION_REQUIRED, error_codes.STEP_NOT_OFFERED)


def register(ops: Operations) -> None:
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
                errors=(*_PAGE, *COMMON_ERRORS, *errors),
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
                *COMMON_ERRORS,
                *liveness_api.SUBMIT_ERRORS,
                error_codes.CHALLENGE_EXPIRED,
                *liveness_api.DOCUMENT_PART_ERRORS,  # a profile requiring the document (none on file), a bad one
            ),
            beyond_schema=liveness_api.CAPTURE_REFUSALS,
        )
    )
    ops.add(
        Operation(
            "POST",
            "/hosted/api/document",
            page_document,
            "hostedDocument",
            "Check the identity document's image (the body: a JPEG, PNG or one-page PDF) before the capture",
            responses={200: PageDocument},
            params=(PAGE_HEADER,),
            auth=False,
            tags=TAGS,
            request_content=_DOCUMENT_BODY,
            errors=(
                *_PAGE,
                *COMMON_ERRORS,
                error_codes.IDENTIFICATION_NOT_FOUND,
                error_codes.IDENTIFICATION_CLOSED,
                error_codes.DOCUMENT_CHECKS_LIMITED,
                *liveness_api.DOCUMENT_FILE_ERRORS,
            ),
            beyond_schema=tuple(c for c in liveness_api.DOCUMENT_FILE_ERRORS if c.status in (400, 422)),
        )
    )
