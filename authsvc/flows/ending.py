"""Leaving ``pending``: the one statement that ends an identification, and what it records.

Leaving `pending` is a conditional update (`store.identifications.END`): when two processes end the same
identification at once exactly one wins, and only the winner writes the audit entry, the attestation and the
lender's callback — one statement with the END (`Tx.write`'s ``then``), so an end costs one round trip.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from authsvc import metrics
from authsvc.attestation import Attestor
from authsvc.attestation.claims import AttestedStep, identification_claims
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.crypto.keystore import KeyStore
from authsvc.flows.judge import Failure
from authsvc.store import clients as client_store
from authsvc.store import identifications, steps
from authsvc.store.db import Chained, Tx
from authsvc.store.identifications import Identification, Operation, Status
from authsvc.webhooks.outbox import Queued

ENDED = {
    Status.COMPLETED: AuditEvent.IDENTIFICATION_COMPLETED,
    Status.FAILED: AuditEvent.IDENTIFICATION_FAILED,
    Status.EXPIRED: AuditEvent.IDENTIFICATION_EXPIRED,
}


# (lender_id, event, data): the lender's callback, queued by the statement that ends the identification.
Notify = Callable[[str, str, Mapping[str, Any]], Queued]


@dataclass(frozen=True)
class Ending:
    """Ends identifications: the attestation signed for a completion, the END with its audit entries and the
    lender's callback written together."""

    keys: KeyStore
    attestor: Attestor | None
    issuer: str  # the attestation's ``iss``
    notify: Notify | None

    async def end(
        self,
        tx: Tx,
        ident: Identification,
        status: Status,
        taken: Sequence[steps.Step],
        failure: Failure | None,
        *,
        alone: str | None = None,
    ) -> Identification | None:
        """Leave ``pending`` in ONE statement (`Tx.write`): the conditional END, its audit entry and the
        lender's callback; for a completed registration also its one use, the client marked identified and
        that audit entry (R-6.4). None, and nothing written, when another call ended it first. ``alone``: the
        id of the one step ``taken`` holds, judged without reading the steps back — then also None, nothing
        written, when the identification has any other step (`identifications.END_ALONE`)."""
        change = await self.chained(ident, status, taken, failure, alone=alone)
        row = await tx.write(change.rows, first=change.guard, only_if=True, then=change.then, **change.params)
        return None if row is None else identifications.from_row(row)

    async def chained(
        self,
        ident: Identification,
        status: Status,
        taken: Sequence[steps.Step],
        failure: Failure | None,
        *,
        alone: str | None = None,
    ) -> Chained:
        """`end`'s change, not yet written: for a `Tx.write` of its own, or to go with the write of the step that
        decides it (`Chained`: the step and the end in one statement). Its ``row`` is the ended identification's
        (`ended`)."""
        now = datetime.now(UTC)
        token = None
        if status == Status.COMPLETED and self.attestor is not None:
            # Before the write: a token that cannot sign (HSM out) leaves the identification pending.
            token = await self.attestor.aissue(attestation_claims(self.issuer, ident, taken, now))
        code = failure.code if failure is not None and status != Status.COMPLETED else None
        reason = failure.reason if failure is not None and status != Status.COMPLETED else None
        details: dict[str, Any] = {"operation": ident.operation.value, "profile": ident.profile, "status": status.value}
        if code is not None:
            details["failure"] = code
        if token is not None:
            details["attestation_sha256"] = hashlib.sha256(token.encode()).hexdigest()
        rows = [
            await audit.aentry(self.keys, ENDED[status], lender_id=ident.lender_id, subject=ident.id, details=details)
        ]
        registered = status == Status.COMPLETED and ident.operation == Operation.REGISTRATION
        params = identifications.end_params(
            ident.id, status, at=now, failure_code=code, failure_reason=reason, attestation=token, consumed=registered
        )
        then = []
        if registered:
            # the registration identification completes the registration itself, and is used by it.
            then.append(client_store.MARK_IDENTIFIED)
            params["client_id"] = ident.client_id
            rows.append(
                await audit.aentry(
                    self.keys,
                    AuditEvent.CLIENT_IDENTIFIED,
                    lender_id=ident.lender_id,
                    subject=ident.client_id,
                    details={"identification_id": ident.id, "profile": ident.profile},
                )
            )
        if self.notify is not None:
            data: dict[str, Any] = {
                "identification_id": ident.id,
                "client_id": ident.client_id,
                "operation": ident.operation.value,
                "profile": ident.profile,
                "status": status.value,
            }
            if token is not None:
                data["attestation"] = token
            if code is not None:
                data["failure"] = {"code": code, "reason": reason}
            callback = self.notify(ident.lender_id, f"identification.{status.value}", data)
            then.append(callback.statement)
            params |= _disjoint(params, callback.params)
        first = identifications.END
        if alone is not None:
            first, params["own_step"] = identifications.END_ALONE, alone
        return Chained(first, rows, then, params)


def ended(change: Chained) -> Identification | None:
    """The identification a written `Ending.chained` change ended (None: it ended nothing)."""
    return None if change.row is None else identifications.from_row(change.row)


def count_end(ended: Identification | None) -> Identification | None:
    """Count an identification ended by a committed transaction (None: another call ended it)."""
    if ended is not None:
        metrics.IDENTIFICATIONS_ENDED.labels(
            ended.operation.value, metrics.name(ended.profile), ended.status.value
        ).inc()
    return ended


def _disjoint(params: Mapping[str, Any], more: Mapping[str, Any]) -> Mapping[str, Any]:
    """``more``, checked to share no name with ``params`` (one statement's parameters share one namespace)."""
    shared = params.keys() & more.keys()
    if shared:
        raise RuntimeError(f"parameters named twice in one statement: {sorted(shared)}")
    return more


def _evidence(details: Mapping[str, Any]) -> list[str]:
    """The evidence hashes a step kept (CMS, capture, image…), and a hash of all its details."""
    found = [str(v) for k, v in sorted(details.items()) if k.endswith("sha256") and isinstance(v, str)]
    found.append(hashlib.sha256(json.dumps(details, sort_keys=True, default=str).encode()).hexdigest())
    return found


def attestation_claims(
    issuer: str, ident: Identification, taken: Sequence[steps.Step], now: datetime
) -> dict[str, Any]:
    """What the signed result says: who, for whom, what for, under which rules, and each step's evidence."""
    return identification_claims(
        issuer=issuer,
        client_id=ident.client_id,
        lender_id=ident.lender_id,
        operation=ident.operation.value,
        profile=ident.profile,
        identification_id=ident.id,
        steps=[AttestedStep(t.method, t.created_at, t.outcome, _evidence(t.details)) for t in taken],
        issued_at=now,
        jti=ident.id,
    )
