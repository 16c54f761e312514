"""/v1/identifications: open an identification for a client and an operation, and read its state.

The methods (EDS, liveness, OTP, CDAO, telco) attach their steps to it and the flows issue composes them
under regulatory profiles; completing it is `authsvc.store.identifications.mark_completed`, consuming it is
the operation it authorises (e.g. PATCH /v1/clients/{id} for `change_contact`, R-6.6).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from authsvc import error_codes
from authsvc.api.body import parse, read_body
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import Operation, Operations, Param
from authsvc.api.state import DB, KEYS
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.errors import NotFound
from authsvc.store import clients as client_store
from authsvc.store import identifications, steps

IDENTIFICATION_TTL_S = 15 * 60


class IdentificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: Annotated[str, Field(min_length=1, max_length=64)]
    operation: identifications.Operation


class StepOut(BaseModel):
    id: str
    method: str
    outcome: Literal["passed", "failed"]
    details: dict[str, Any]
    created_at: datetime


class IdentificationOut(BaseModel):
    id: str
    client_id: str
    operation: identifications.Operation
    status: identifications.Status
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    consumed_at: datetime | None
    steps: list[StepOut] = Field(default_factory=list, description="steps taken so far, oldest first")


def _out(i: identifications.Identification, taken: list[steps.Step] | None = None) -> IdentificationOut:
    return IdentificationOut(
        steps=[
            StepOut(id=t.id, method=t.method, outcome=t.outcome, details=t.details, created_at=t.created_at)
            for t in taken or []
        ],
        id=i.id,
        client_id=i.client_id,
        operation=i.operation,
        status=i.status,
        created_at=i.created_at,
        expires_at=i.expires_at,
        completed_at=i.completed_at,
        consumed_at=i.consumed_at,
    )


async def open_identification(request: web.Request) -> web.Response:
    lender = current_lender(request)
    body: IdentificationIn = parse(IdentificationIn, await read_body(request))
    async with request.app[DB].transaction() as tx:
        if await client_store.get(tx, lender.id, body.client_id) is None:
            raise NotFound("no such client", code=error_codes.CLIENT_NOT_FOUND)
        ident = await identifications.open_(tx, lender.id, body.client_id, body.operation, IDENTIFICATION_TTL_S)
        await audit.append(
            tx,
            request.app[KEYS],
            AuditEvent.IDENTIFICATION_OPENED,
            lender_id=lender.id,
            subject=ident.id,
            details={"client_id": body.client_id, "operation": body.operation.value},
        )
    return web.json_response(text=_out(ident).model_dump_json(), status=201)


async def get_identification(request: web.Request) -> web.Response:
    ident_id = request.match_info["identification_id"]
    async with request.app[DB].autocommit() as tx:
        ident = await identifications.get(tx, current_lender(request).id, ident_id[:64])
        if ident is None:
            raise NotFound("no such identification", code=error_codes.IDENTIFICATION_NOT_FOUND)
        taken = await steps.of(tx, ident.id)
    return web.json_response(text=_out(ident, taken).model_dump_json())


def register(ops: Operations) -> None:
    ops.add(
        Operation(
            "POST",
            "/v1/identifications",
            open_identification,
            "openIdentification",
            "Open an identification of a client for an operation",
            body=IdentificationIn,
            responses={201: IdentificationOut, 404: None},
            tags=("identifications",),
            errors=(error_codes.CLIENT_NOT_FOUND,),
        )
    )
    ops.add(
        Operation(
            "GET",
            "/v1/identifications/{identification_id}",
            get_identification,
            "getIdentification",
            "State of an identification",
            responses={200: IdentificationOut, 404: None},
            params=(Param("identification_id", "path", "identification id"),),
            tags=("identifications",),
            errors=(error_codes.IDENTIFICATION_NOT_FOUND,),
        )
    )
