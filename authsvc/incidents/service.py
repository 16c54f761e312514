"""Recording incidents and following their deadlines (R-15.1, R-108.2).

`IncidentService.open` records the incident and, in the same transaction: the three deadlines (inform the
client and the regulator within one business day, take measures within two, counted on the working-day
calendar), the loan's interest accrual and collection marked suspended (R-108.2), the client's phone and
IIN on the lender's grey list, an SMS to the client (the outbox), and an audit entry. The export to the
Anti-fraud centre and the deadline warnings happen in the background (`IncidentWorker`), so a slow AFC never
delays the request. `act` records what the lender did; closing (all three done) lifts the suspension and
takes the identifiers off the grey list.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from authsvc import error_codes
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.config import IncidentSettings
from authsvc.crypto.envelope import RecordCipher, WrappedKey
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import Conflict, NotFound, ValidationFailed
from authsvc.incidents.calendar import WorkingCalendar
from authsvc.lists import service as lists
from authsvc.methods import contact, sms_queue
from authsvc.store import contracts as contract_store
from authsvc.store import incidents as store
from authsvc.store import outbox
from authsvc.store.db import Database, Tx

# The integrator's webhook outbox: (tx, lender_id, event, data), written in the caller's transaction.
Notify = Callable[[Tx, str, str, Mapping[str, Any]], Awaitable[None]]

KINDS: Final = ("fraud", "unauthorised_access", "alteration")
ITEMS: Final = ("client", "regulator", "measures")  # the three deadlines of
ACTIONS: Final = {"client_informed": "client", "regulator_informed": "regulator", "measures_taken": "measures"}
CLOSE: Final = "close"
DEADLINE_NEAR: Final = "incident.deadline_near"
OVERDUE: Final = "incident.overdue"
FIELD: Final = "incident"
CLOCK_SKEW: Final = timedelta(minutes=2)
MAX_AGE: Final = timedelta(days=3653)  # an incident found longer ago than this is a typo, not a case


def _done_column(item: str) -> str:
    return {"client": "client_informed_at", "regulator": "regulator_informed_at", "measures": "measures_taken_at"}[item]


@dataclass(frozen=True)
class Item:
    name: str  # client | regulator | measures
    due_on: str
    due_at: datetime
    done_at: datetime | None

    def overdue(self, now: datetime) -> bool:
        return self.done_at is None and now >= self.due_at

    @property
    def late(self) -> bool:
        return self.done_at is not None and self.done_at >= self.due_at


@dataclass(frozen=True)
class Incident:
    row: store.IncidentRow
    description: str
    items: tuple[Item, ...]
    sms_status: str | None

    @property
    def grey_listed(self) -> bool:
        return self.row.status != store.CLOSED


def items_of(row: store.IncidentRow) -> tuple[Item, ...]:
    return (
        Item("client", row.client_due_on, row.client_due_at, row.client_informed_at),
        Item("regulator", row.regulator_due_on, row.regulator_due_at, row.regulator_informed_at),
        Item("measures", row.measures_due_on, row.measures_due_at, row.measures_taken_at),
    )


def status_of(row: store.IncidentRow, now: datetime) -> str:
    if row.closed_at is not None:
        return store.CLOSED
    return store.OVERDUE if any(i.overdue(now) for i in items_of(row)) else store.OPEN


class IncidentService:
    def __init__(
        self,
        db: Database,
        keys: KeyStore,
        calendar: WorkingCalendar,
        settings: IncidentSettings,
        *,
        notify: Notify | None = None,
        outbox_bell: asyncio.Event | None = None,
    ) -> None:
        self.db = db
        self.keys = keys
        self.calendar = calendar
        self.settings = settings
        self.notify = notify
        self.export_bell = asyncio.Event()  # rung when an incident waits for its AFC export
        self._outbox_bell = outbox_bell

    async def _cipher(self, row: store.IncidentRow) -> RecordCipher:
        return await RecordCipher.aopen(self.keys, row.id, WrappedKey(row.kek_id, row.data_key))

    async def description(self, row: store.IncidentRow) -> str:
        sealed: dict[str, Any] = (await self._cipher(row)).unseal_json(FIELD, row.sealed)
        return str(sealed.get("description", ""))

    async def _view(self, tx: Tx, row: store.IncidentRow) -> Incident:
        sms = await outbox.state(tx, row.sms_id) if row.sms_id else None
        return Incident(row, await self.description(row), items_of(row), sms.status if sms else None)

    async def open(
        self,
        lender_id: str,
        *,
        client_id: str,
        kind: str,
        confirmed_by_police: bool,
        description: str,
        contract_id: str | None = None,
        loan_ref: str | None = None,
        detected_at: datetime | None = None,
    ) -> Incident:
        now = datetime.now(UTC)
        detected = now if detected_at is None else _utc(detected_at, "detected_at")
        if detected > now + CLOCK_SKEW:
            raise ValidationFailed("detected_at is in the future", code=error_codes.INCIDENT_BAD_TIME)
        if detected < now - MAX_AGE:
            raise ValidationFailed("detected_at is more than ten years ago", code=error_codes.INCIDENT_BAD_TIME)
        cal, s = self.calendar, self.settings
        due = {
            "client": cal.deadline(detected, s.client_days),
            "regulator": cal.deadline(detected, s.regulator_days),
            "measures": cal.deadline(detected, s.measures_days),
        }
        covered = cal.covered(cal.local_day(detected)) and all(cal.covered(d.due_on) for d in due.values())
        incident_id = str(uuid.uuid4())
        cipher, wrapped = await RecordCipher.anew(self.keys, incident_id)
        loan = contract_id is not None or loan_ref is not None
        async with self.db.transaction() as tx:
            person = await contact.load(tx, self.keys, lender_id, client_id)  # 404 client_not_found
            if contract_id is not None:
                contract = await contract_store.get(tx, lender_id, contract_id)
                if contract is None:
                    raise NotFound("no such contract", code=error_codes.CONTRACT_NOT_FOUND)
                if contract.client_id != client_id:
                    raise ValidationFailed(
                        "the contract belongs to another client", code=error_codes.INCIDENT_CONTRACT_MISMATCH
                    )
            lender_name = await store.lender_name(tx, lender_id)
            sms_id = await sms_queue.notify_incident_opened(
                tx,
                self.keys,
                lender_id=lender_id,
                client_id=client_id,
                lender_name=lender_name,
                loan=loan,
                message_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"incident:{incident_id}")),
            )
            row = store.IncidentRow(
                id=incident_id,
                lender_id=lender_id,
                client_id=client_id,
                contract_id=contract_id,
                loan_ref=loan_ref,
                kind=kind,
                confirmed_by_police=confirmed_by_police,
                status=store.OPEN,
                kek_id=wrapped.kek_id,
                data_key=wrapped.wrapped,
                sealed=cipher.seal_json(FIELD, {"description": description}),
                detected_at=detected,
                calendar_covered=covered,
                client_due_on=due["client"].due_on.isoformat(),
                client_due_at=due["client"].due_at,
                regulator_due_on=due["regulator"].due_on.isoformat(),
                regulator_due_at=due["regulator"].due_at,
                measures_due_on=due["measures"].due_on.isoformat(),
                measures_due_at=due["measures"].due_at,
                client_informed_at=None,
                regulator_informed_at=None,
                measures_taken_at=None,
                closed_at=None,
                loan_suspended=loan,
                sms_id=sms_id,
                afc_status=store.PENDING,
                afc_ref=None,
                afc_exported_at=None,
                notified="[]",
                version=1,
                created_at=now,
                updated_at=now,
            )
            row = row if status_of(row, now) == store.OPEN else _with_status(row, status_of(row, now))
            await store.insert_incident(tx, row)
            await lists.list_for_incident(
                tx,
                self.keys,
                lender_id,
                incident_id,
                lists.Identifiers(phone=person.phone, iin=person.iin),
                reason=f"open incident ({kind})",
            )
            await audit.append(
                tx,
                self.keys,
                AuditEvent.INCIDENT_OPENED,
                lender_id=lender_id,
                subject=incident_id,
                details={
                    "client_id": client_id,
                    "contract_id": contract_id,
                    "kind": kind,
                    "confirmed_by_police": confirmed_by_police,
                    "loan_suspended": loan,
                    "due": {k: v.due_on.isoformat() for k, v in due.items()},
                    "calendar_covered": covered,
                },
            )
            view = await self._view(tx, row)
        self.export_bell.set()
        if self._outbox_bell is not None:
            self._outbox_bell.set()
        return view

    async def get(self, lender_id: str, incident_id: str) -> Incident:
        async with self.db.autocommit() as tx:
            row = await store.get(tx, lender_id, incident_id)
            if row is None:
                raise NotFound("no such incident", code=error_codes.INCIDENT_NOT_FOUND)
            return await self._view(tx, row)

    async def find(self, lender_id: str, status: str | None, limit: int = 100) -> list[Incident]:
        async with self.db.autocommit() as tx:
            return [await self._view(tx, r) for r in await store.of_lender(tx, lender_id, status, limit)]

    async def act(self, lender_id: str, incident_id: str, action: str, at: datetime | None = None) -> Incident:
        """Record ``action`` (client_informed, regulator_informed, measures_taken, close) at ``at`` (now)."""
        now = datetime.now(UTC)
        when = now if at is None else _utc(at, "at")
        if when > now + CLOCK_SKEW:
            raise ValidationFailed("'at' is in the future", code=error_codes.INCIDENT_BAD_TIME)
        async with self.db.transaction() as tx:
            row = await store.get(tx, lender_id, incident_id, for_update=True)
            if row is None:
                raise NotFound("no such incident", code=error_codes.INCIDENT_NOT_FOUND)
            if row.status == store.CLOSED:
                raise Conflict("the incident is closed", code=error_codes.INCIDENT_CLOSED)
            if when < row.detected_at:
                raise ValidationFailed("'at' is before the incident was detected", code=error_codes.INCIDENT_BAD_TIME)
            values: dict[str, Any]
            if action == CLOSE:
                missing = [i.name for i in items_of(row) if i.done_at is None]
                if missing:
                    raise Conflict(
                        f"still to record: {', '.join(missing)}", code=error_codes.INCIDENT_INCOMPLETE, missing=missing
                    )
                values = {"closed_at": when, "status": store.CLOSED, "loan_suspended": False}
            else:
                column = _done_column(ACTIONS[action])
                if getattr(row, column) is not None:
                    raise Conflict(f"{action} was recorded before", code=error_codes.INCIDENT_ACTION_DONE)
                values = {column: when}
                probe = _replace(row, values)
                values["status"] = status_of(probe, now)
            new = await store.change(tx, row, **values)
            if new is None:
                raise Conflict("the incident changed meanwhile; read it and retry", code=error_codes.CONFLICT)
            if action == CLOSE:
                await lists.unlist_incident(tx, self.keys, lender_id, incident_id)
            late = action != CLOSE and when >= getattr(row, ACTIONS[action] + "_due_at")
            await audit.append(
                tx,
                self.keys,
                AuditEvent.INCIDENT_CLOSED if action == CLOSE else AuditEvent.INCIDENT_ACTION,
                lender_id=lender_id,
                subject=incident_id,
                details={"action": action, "at": when.isoformat(), "late": late, "status": new.status},
            )
            return await self._view(tx, new)

    # --- housekeeping ----------------------------------------------------------------------------------

    async def mark_deadlines(self, now: datetime | None = None, batch: int = 500) -> int:
        """Mark overdue items and warn of near deadlines, each once (audit entry + ``notify``); returns how
        many events were raised. Safe in several processes at once: a row changes by its version."""
        now = now or datetime.now(UTC)
        near = timedelta(seconds=self.settings.deadline_near_s)
        raised = 0
        async with self.db.autocommit() as tx:
            rows = await store.unfinished(tx, batch)
        for candidate in rows:
            if not _events(candidate, now, near) and status_of(candidate, now) == candidate.status:
                continue
            async with self.db.transaction() as tx:
                # Re-read under a row lock: an action or an export may have changed it since the scan.
                row = await store.get(tx, candidate.lender_id, candidate.id, for_update=True)
                if row is None or row.status == store.CLOSED:
                    continue
                events = _events(row, now, near)
                status = status_of(row, now)
                if not events and status == row.status:
                    continue
                marks: list[str] = json.loads(row.notified)
                marks += [f"{item.name}:{'overdue' if event == OVERDUE else 'near'}" for event, item in events]
                new = await store.change(tx, row, status=status, notified=json.dumps(marks))
                if new is None:
                    continue  # changed under us all the same: the next round looks again
                for event, item in events:
                    data = {
                        "incident_id": row.id,
                        "client_id": row.client_id,
                        "item": item.name,
                        "due_on": item.due_on,
                        "due_at": item.due_at.isoformat(),
                        "status": status,
                    }
                    await audit.append(
                        tx,
                        self.keys,
                        AuditEvent.INCIDENT_OVERDUE if event == OVERDUE else AuditEvent.INCIDENT_DEADLINE_NEAR,
                        lender_id=row.lender_id,
                        subject=row.id,
                        details=data,
                    )
                    if self.notify is not None:
                        await self.notify(tx, row.lender_id, event, data)
                    raised += 1
        return raised


def _utc(value: datetime, name: str) -> datetime:
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:  # year 1 at +05:00 has no UTC instant
        raise ValidationFailed(f"{name} is out of range", code=error_codes.INCIDENT_BAD_TIME) from exc


def _events(row: store.IncidentRow, now: datetime, near: timedelta) -> list[tuple[str, Item]]:
    """The deadline events ``row`` is due to raise at ``now``, each once: overdue, or near before that."""
    marks = set(json.loads(row.notified))
    events = []
    for item in items_of(row):
        if item.done_at is not None:
            continue
        if now >= item.due_at:
            if f"{item.name}:overdue" not in marks:
                events.append((OVERDUE, item))
        elif item.due_at - near <= now and f"{item.name}:near" not in marks:
            events.append((DEADLINE_NEAR, item))
    return events


def _replace(row: store.IncidentRow, values: Mapping[str, Any]) -> store.IncidentRow:
    return dataclasses.replace(row, **values)


def _with_status(row: store.IncidentRow, status: str) -> store.IncidentRow:
    return _replace(row, {"status": status})
