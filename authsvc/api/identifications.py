"""/v1/identifications: open an identification of a client for an operation under a regulatory profile, read
what it needs, has and lacks; /v1/profiles: the profiles, explained.

The steps (EDS, liveness, one-time codes, CDAO, telco, bureau, payout account) attach to it through
`authsvc.flows`, which completes or fails it by itself; a completed one carries a signed attestation and
is used once by the operation it was opened for (e.g. PATCH /v1/clients/{id} for `change_contact`, R-6.6).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from authsvc import error_codes
from authsvc.api.body import parse, read_body
from authsvc.api.factor_steps import DEVICE_SIGNALS, device_signals, json_answer
from authsvc.api.liveness import NeedOut, document_need
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import IDENT_ID, Operation, Operations, Param
from authsvc.api.state import FLOWS
from authsvc.flows.profiles import explain
from authsvc.flows.session import View
from authsvc.store import identifications


class IdentificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: Annotated[str, Field(min_length=1, max_length=64)]
    operation: identifications.Operation
    profile: Annotated[
        str | None,
        Field(None, pattern=r"^[a-z0-9][a-z0-9._-]{0,39}$", description="regulatory profile; default: the lender's"),
    ] = None


class StepOut(BaseModel):
    id: str
    method: str
    outcome: Literal["passed", "failed"]
    details: dict[str, Any]
    created_at: datetime


class ConditionTokenOut(BaseModel):
    token: str = Field(description="a step method, or a group of methods (any one of them)")
    methods: list[str]
    done: bool
    exhausted: bool


class AlternativeOut(BaseModel):
    tokens: list[ConditionTokenOut]
    met: bool
    possible: bool


class ConditionOut(BaseModel):
    requirement: str = Field(description="the requirement id (REGULATION.md)")
    label: str
    met: bool
    alternatives: list[AlternativeOut] = Field(description="the condition holds when every token of one passed")


class FailureOut(BaseModel):
    code: str
    reason: str


class IdentificationOut(BaseModel):
    id: str
    client_id: str
    operation: identifications.Operation
    profile: str
    status: identifications.Status
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    consumed_at: datetime | None
    ended_at: datetime | None
    conditions: list[ConditionOut] = Field(description="what the profile requires, each with what is done")
    next_methods: list[str] = Field(description="step methods that would still make progress (pending only)")
    failure: FailureOut | None = Field(description="why it failed or expired")
    attestation: str | None = Field(description="compact JWS over the result, once completed (/.well-known/jwks.json)")
    risk: list[str] = Field(description="grey-list hits and other signals to weigh (no values)")
    steps: list[StepOut] = Field(default_factory=list, description="steps taken so far, oldest first")
    needs: list[NeedOut] = Field(
        default_factory=list,
        description="inputs a next step needs that the client has not given: the identity document's image for "
        "the liveness step under a profile matching the live face to it (R-7.3b(i)) (pending only)",
    )


def identification_out(view: View, needs: list[NeedOut] | None = None) -> IdentificationOut:
    i, judgement = view.ident, view.judgement
    conditions = []
    for c in judgement.conditions:
        alternatives = [
            AlternativeOut(
                tokens=[
                    ConditionTokenOut(
                        token=t,
                        methods=sorted(view.profile.methods_of(t)),
                        done=t in a.done,
                        exhausted=t in a.exhausted,
                    )
                    for t in a.tokens
                ],
                met=not a.missing,
                possible=not a.exhausted,
            )
            for a in c.alternatives
        ]
        conditions.append(ConditionOut(requirement=c.requirement, label=c.label, met=c.met, alternatives=alternatives))
    failure = None
    if i.failure_code is not None:
        failure = FailureOut(code=i.failure_code, reason=i.failure_reason or "")
    pending = i.status == identifications.Status.PENDING
    return IdentificationOut(
        id=i.id,
        client_id=i.client_id,
        operation=i.operation,
        profile=i.profile,
        status=i.status,
        created_at=i.created_at,
        expires_at=i.expires_at,
        completed_at=i.completed_at,
        consumed_at=i.consumed_at,
        ended_at=i.ended_at,
        conditions=conditions,
        next_methods=list(judgement.next_methods) if pending else [],
        failure=failure,
        attestation=i.attestation,
        risk=list(i.risk),
        steps=[
            StepOut(id=t.id, method=t.method, outcome=t.outcome, details=t.details, created_at=t.created_at)
            for t in view.taken
        ],
        needs=needs or [],
    )


async def answer(app: web.Application, view: View) -> IdentificationOut:
    need = await document_need(app, view)
    return identification_out(view, [need] if need is not None else [])


async def open_identification(request: web.Request) -> web.Response:
    body: IdentificationIn = parse(IdentificationIn, await read_body(request))
    view = await request.app[FLOWS].open(
        current_lender(request).id,
        body.client_id,
        body.operation,
        profile=body.profile,
        device=device_signals(request),
    )
    return json_answer(await answer(request.app, view), 201)


async def get_identification(request: web.Request) -> web.Response:
    view = await request.app[FLOWS].view(current_lender(request).id, request.match_info["identification_id"])
    return json_answer(await answer(request.app, view))


class UseOut(BaseModel):
    identification_id: str
    client_id: str
    operation: identifications.Operation
    profile: str
    consumed_at: datetime
    attestation: str | None = Field(description="the signed result, to keep with the operation it authorised")


async def use_identification(request: web.Request) -> web.Response:
    i = await request.app[FLOWS].use(current_lender(request).id, request.match_info["identification_id"])
    assert i.consumed_at is not None
    out = UseOut(
        identification_id=i.id,
        client_id=i.client_id,
        operation=i.operation,
        profile=i.profile,
        consumed_at=i.consumed_at,
        attestation=i.attestation,
    )
    return json_answer(out)


class ProfileList(BaseModel):
    profiles: list[dict[str, Any]] = Field(description="name, title and what each extends")


async def list_profiles(request: web.Request) -> web.Response:
    flows = request.app[FLOWS]
    listed = [
        {"name": p.name, "title": p.title, "extends": p.extends, "default": p.name == flows.settings.default_profile}
        for p in flows.profiles.values()
    ]
    return json_answer(ProfileList(profiles=listed))


async def get_profile(request: web.Request) -> web.Response:
    profile = request.app[FLOWS].profile_named(request.match_info["name"][:40])
    return web.json_response(explain(profile))


def register(ops: Operations) -> None:
    ident = (IDENT_ID,)
    ops.add(
        Operation(
            "POST",
            "/v1/identifications",
            open_identification,
            "openIdentification",
            "Open an identification of a client for an operation, under a regulatory profile",
            body=IdentificationIn,
            responses={201: IdentificationOut, 404: None, 409: None},
            params=(DEVICE_SIGNALS,),
            idempotent=True,
            tags=("identifications",),
            errors=(
                error_codes.CLIENT_NOT_FOUND,
                error_codes.PROFILE_NOT_FOUND,
                error_codes.CLIENT_NOT_IDENTIFIED,
                error_codes.COOLING_OFF,
                error_codes.BAD_DEVICE_SIGNALS,
                error_codes.RECORD_TAMPERED,
            ),
        )
    )
    ops.add(
        Operation(
            "GET",
            "/v1/identifications/{identification_id}",
            get_identification,
            "getIdentification",
            "State of an identification: status, what its profile requires, done and missing, its attestation",
            responses={200: IdentificationOut, 404: None},
            params=ident,
            tags=("identifications",),
            errors=(error_codes.IDENTIFICATION_NOT_FOUND,),
        )
    )
    ops.add(
        Operation(
            "POST",
            "/v1/identifications/{identification_id}/use",
            use_identification,
            "useIdentification",
            "Use a completed login, loan_contract or payout identification once, for the operation it authorises",
            responses={200: UseOut, 404: None, 409: None},
            params=ident,
            tags=("identifications",),
            errors=(error_codes.IDENTIFICATION_NOT_FOUND, error_codes.IDENTIFICATION_NOT_USABLE),
        )
    )
    ops.add(
        Operation(
            "GET",
            "/v1/profiles",
            list_profiles,
            "listProfiles",
            "The regulatory profiles this service applies",
            responses={200: ProfileList},
            tags=("identifications",),
        )
    )
    ops.add(
        Operation(
            "GET",
            "/v1/profiles/{name}",
            get_profile,
            "getProfile",
            "A profile explained: per operation, the conditions with their requirement ids and the methods that meet them",
            responses={200: None, 404: None},
            params=(Param("name", "path", "profile name", schema={"type": "string", "maxLength": 40}),),
            tags=("identifications",),
            errors=(error_codes.PROFILE_NOT_FOUND,),
        )
    )
