"""Flow links, the lender's side: ``POST /v1/identifications/{id}/link`` (API key) -> {url, expires_at}, a
short-lived, single-use link to the hosted page (`authsvc.api.hosted_page`) for this identification, so no
API key ever reaches the client's browser.

The URL token is a 256-bit secret stored only as a keyed hash (`authsvc.store.flow_links`); the return URL
must start with one of the lender's allowed prefixes (``[hosted] return_urls``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from authsvc import error_codes
from authsvc.api.factor_steps import read_optional
from authsvc.api.hosted_page import TAGS
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import IDENT_ID, Operation, Operations
from authsvc.api.state import DB, FLOWS, KEYS, SETTINGS
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.hosted import check_return_url, new_secret
from authsvc.store import flow_links


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


def register(ops: Operations) -> None:
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
