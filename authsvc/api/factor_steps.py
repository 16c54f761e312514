"""What the second-factor endpoints share: the pending identification a step attaches to, the end
user's address for the abuse limits, and recording a step with its audit entry in one transaction."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from authsvc import error_codes
from authsvc.api.body import parse, read_body
from authsvc.api.routing import Param
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import Conflict, NotFound, ValidationFailed
from authsvc.store import identifications, steps
from authsvc.store.db import Insert, Tx

IDENT_ID = Param("identification_id", "path", "identification id", schema={"type": "string", "maxLength": 64})


class StepResult(BaseModel):
    identification_id: str
    step_id: str
    method: str
    outcome: str
    details: dict[str, Any]


async def read_optional(request: web.Request, model: type[Any]) -> Any:
    """A JSON body validated by ``model``; an empty body is the model's defaults."""
    if not request.body_exists:
        return model()
    return parse(model, await read_body(request))


def client_ip(given: str | None, request: web.Request) -> str:
    """The end user's address as the lender saw it (``client_ip``), else the caller's own."""
    if given is None:
        return request.remote or "-"
    try:
        return str(ipaddress.ip_address(given))
    except ValueError as exc:
        raise ValidationFailed("client_ip is not an IP address", code=error_codes.BAD_CLIENT_IP) from exc


async def pending(tx: Tx, lender_id: str, request: web.Request) -> identifications.Identification:
    """The identification named in the path: the lender's own, still pending and not expired."""
    ident_id = request.match_info["identification_id"]
    return still_pending(await identifications.get(tx, lender_id, ident_id[:64]))


def still_pending(ident: identifications.Identification | None) -> identifications.Identification:
    """``ident`` if it exists (404 else) and is still pending and unexpired (409 else)."""
    if ident is None:
        raise NotFound("no such identification", code=error_codes.IDENTIFICATION_NOT_FOUND)
    if ident.status != identifications.Status.PENDING or ident.expires_at <= datetime.now(UTC):
        raise Conflict("the identification is completed, failed or expired", code=error_codes.IDENTIFICATION_CLOSED)
    return ident


class StepRecorder:
    """The rows recording an identification step (the step and its audit entry) for either outcome, as
    `Records` for a method that writes them together with its own change; `result` answers the rows of
    the last call, the ones the method wrote. Details hold no personal data."""

    def __init__(self, keys: KeyStore, ident: identifications.Identification, method: str, details: Mapping[str, Any]):
        self.keys, self.ident, self.method, self.details = keys, ident, method, details
        self.step: steps.Step | None = None

    def __call__(self, passed: bool) -> list[Insert]:
        self.step, row = steps.row(self.ident.id, self.method, "passed" if passed else "failed", self.details)
        entry = audit.entry(
            self.keys,
            AuditEvent.IDENTIFICATION_STEP,
            lender_id=self.ident.lender_id,
            subject=self.ident.id,
            details={"method": self.method, "outcome": self.step.outcome, **self.details},
        )
        return [row, entry]

    def result(self) -> StepResult:
        if self.step is None:
            raise RuntimeError("no step was recorded")
        return StepResult(
            identification_id=self.ident.id,
            step_id=self.step.id,
            method=self.method,
            outcome=self.step.outcome,
            details=self.step.details,
        )


async def record(
    tx: Tx,
    keys: KeyStore,
    ident: identifications.Identification,
    method: str,
    passed: bool,
    details: Mapping[str, Any],
) -> StepResult:
    """The step and its audit entry, in the caller's transaction."""
    recorder = StepRecorder(keys, ident, method, details)
    await tx.write(recorder(passed))
    return recorder.result()


def json_answer(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)
