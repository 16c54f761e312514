"""/v1/incidents: fraud, unauthorised access or alteration found for a client or a loan (R-15.1, R-108.2).

``POST /v1/incidents`` records one and answers its deadlines, counted in business days on the working-day
calendar (`configs/calendar/kz.toml`): inform the client and the regulator within one, take measures within
two. While it is open the loan's interest accrual and collection read as suspended (R-108.2) and the client's
phone and IIN are on the lender's grey list; the client gets an SMS and the Anti-fraud centre the export.
``POST /v1/incidents/{id}/actions`` records client_informed, regulator_informed, measures_taken, and close
(once all three are done). ``GET /v1/incidents?status=open|overdue|closed`` lists the lender's incidents.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal, get_args

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from authsvc import error_codes
from authsvc.api.body import parse, read_body
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import Operation, Operations, Param
from authsvc.api.state import INCIDENTS
from authsvc.errors import ValidationFailed
from authsvc.incidents.service import Incident

IncidentStatus = Literal["open", "overdue", "closed"]
STATUSES: tuple[str, ...] = get_args(IncidentStatus)


class IncidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: Annotated[str, Field(min_length=1, max_length=64)]
    contract_id: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="the loan contract registered here (POST /v1/contracts)"
    )
    loan_ref: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="the lender's own loan number, when the contract is not registered here"
    )
    kind: Literal["fraud", "unauthorised_access", "alteration"]
    confirmed_by_police: bool
    description: Annotated[str, Field(min_length=1, max_length=4000)]
    detected_at: datetime | None = Field(None, description="when it was found (default: now); with a time zone")


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["client_informed", "regulator_informed", "measures_taken", "close"]
    at: datetime | None = Field(None, description="when it was done (default: now); with a time zone")


class DeadlineOut(BaseModel):
    due_on: str = Field(description="the working day it falls on (local date)")
    due_at: datetime = Field(description="the instant that day ends (exclusive)")
    done_at: datetime | None
    overdue: bool = Field(description="not done and past due")
    late: bool = Field(description="done, but after the deadline")


class DeadlinesOut(BaseModel):
    client: DeadlineOut = Field(description="inform the client (R-15.1)")
    regulator: DeadlineOut = Field(description="inform the regulator (R-15.1)")
    measures: DeadlineOut = Field(description="remove causes and consequences (R-15.1)")


class LoanOut(BaseModel):
    contract_id: str | None
    loan_ref: str | None
    interest_accrual: Literal["suspended", "active"] = Field(description="R-108.2: suspended while open")
    collection: Literal["suspended", "active"] = Field(description="R-108.2: suspended while open")


class AfcOut(BaseModel):
    status: Literal["pending", "exported"]
    ref: str | None
    exported_at: datetime | None


class NotificationOut(BaseModel):
    sms_id: str | None
    status: str | None = Field(description="the SMS outbox's: queued, sending, sent, delivered, failed")


class IncidentOut(BaseModel):
    id: str
    client_id: str
    kind: str
    confirmed_by_police: bool
    description: str
    status: IncidentStatus
    detected_at: datetime
    deadlines: DeadlinesOut
    calendar_covered: bool = Field(description="false: a date fell outside the calendar file (weekends only)")
    loan: LoanOut | None
    grey_listed: bool = Field(description="the client's phone and IIN are on the lender's grey list")
    client_notification: NotificationOut
    afc: AfcOut
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class IncidentsOut(BaseModel):
    incidents: list[IncidentOut]


def render(incident: Incident, now: datetime | None = None) -> IncidentOut:
    row = incident.row
    at = now or datetime.now(UTC)
    items = {
        i.name: DeadlineOut(due_on=i.due_on, due_at=i.due_at, done_at=i.done_at, overdue=i.overdue(at), late=i.late)
        for i in incident.items
    }
    loan = None
    if row.contract_id is not None or row.loan_ref is not None:
        state: Literal["suspended", "active"] = "suspended" if row.loan_suspended else "active"
        loan = LoanOut(contract_id=row.contract_id, loan_ref=row.loan_ref, interest_accrual=state, collection=state)
    status: IncidentStatus = row.status  # type: ignore[assignment]
    return IncidentOut(
        id=row.id,
        client_id=row.client_id,
        kind=row.kind,
        confirmed_by_police=row.confirmed_by_police,
        description=incident.description,
        status=status,
        detected_at=row.detected_at,
        deadlines=DeadlinesOut(**items),
        calendar_covered=row.calendar_covered,
        loan=loan,
        grey_listed=incident.grey_listed,
        client_notification=NotificationOut(sms_id=row.sms_id, status=incident.sms_status),
        afc=AfcOut(status=row.afc_status, ref=row.afc_ref, exported_at=row.afc_exported_at),
        closed_at=row.closed_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)


def _zoned(value: datetime | None, name: str) -> None:
    if value is not None and value.tzinfo is None:
        raise ValidationFailed(f"{name} needs a time zone (Z or +05:00)", code=error_codes.INCIDENT_BAD_TIME)


async def create_incident(request: web.Request) -> web.Response:
    body: IncidentIn = parse(IncidentIn, await read_body(request))
    _zoned(body.detected_at, "detected_at")
    incident = await request.app[INCIDENTS].open(
        current_lender(request).id,
        client_id=body.client_id,
        kind=body.kind,
        confirmed_by_police=body.confirmed_by_police,
        description=body.description,
        contract_id=body.contract_id,
        loan_ref=body.loan_ref,
        detected_at=body.detected_at,
    )
    return _json(render(incident), 201)


async def get_incident(request: web.Request) -> web.Response:
    incident = await request.app[INCIDENTS].get(current_lender(request).id, request.match_info["incident_id"])
    return _json(render(incident))


async def list_incidents(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        raise ValidationFailed("status is open, overdue or closed", code=error_codes.VALIDATION_FAILED)
    found = await request.app[INCIDENTS].find(current_lender(request).id, status)
    return _json(IncidentsOut(incidents=[render(i) for i in found]))


async def act(request: web.Request) -> web.Response:
    body: ActionIn = parse(ActionIn, await read_body(request))
    _zoned(body.at, "at")
    incident = await request.app[INCIDENTS].act(
        current_lender(request).id, request.match_info["incident_id"], body.action, body.at
    )
    return _json(render(incident))


_ID = (Param("incident_id", "path", "incident id"),)


def register(ops: Operations) -> None:
    ops.add(
        Operation(
            "POST",
            "/v1/incidents",
            create_incident,
            "createIncident",
            "Record fraud, unauthorised access or alteration for a client or a loan; answers its deadlines",
            body=IncidentIn,
            responses={201: IncidentOut, 404: None},
            tags=("incidents",),
            errors=(
                error_codes.CLIENT_NOT_FOUND,
                error_codes.CONTRACT_NOT_FOUND,
                error_codes.INCIDENT_CONTRACT_MISMATCH,
                error_codes.INCIDENT_BAD_TIME,
                error_codes.RECORD_TAMPERED,
            ),
            beyond_schema=(error_codes.INCIDENT_BAD_TIME,),  # detected_at within ten years, not in the future
        )
    )
    ops.add(
        Operation(
            "GET",
            "/v1/incidents",
            list_incidents,
            "listIncidents",
            "The lender's incidents, newest first (at most 100), optionally of one status",
            responses={200: IncidentsOut},
            params=(
                Param(
                    "status",
                    "query",
                    "only incidents in this state",
                    required=False,
                    schema={"type": "string", "enum": list(STATUSES)},
                ),
            ),
            tags=("incidents",),
            errors=(error_codes.VALIDATION_FAILED, error_codes.RECORD_TAMPERED),
        )
    )
    ops.add(
        Operation(
            "GET",
            "/v1/incidents/{incident_id}",
            get_incident,
            "getIncident",
            "One incident: deadlines and what was done, loan suspension, SMS and AFC export state",
            responses={200: IncidentOut, 404: None},
            params=_ID,
            tags=("incidents",),
            errors=(error_codes.INCIDENT_NOT_FOUND, error_codes.RECORD_TAMPERED),
        )
    )
    ops.add(
        Operation(
            "POST",
            "/v1/incidents/{incident_id}/actions",
            act,
            "recordIncidentAction",
            "Record that the client or the regulator was informed, that measures were taken, or close it",
            body=ActionIn,
            responses={200: IncidentOut, 404: None, 409: None},
            params=_ID,
            tags=("incidents",),
            errors=(
                error_codes.INCIDENT_NOT_FOUND,
                error_codes.INCIDENT_CLOSED,
                error_codes.INCIDENT_ACTION_DONE,
                error_codes.INCIDENT_INCOMPLETE,
                error_codes.INCIDENT_BAD_TIME,
                error_codes.CONFLICT,
                error_codes.RECORD_TAMPERED,
            ),
            beyond_schema=(error_codes.INCIDENT_BAD_TIME,),
        )
    )
