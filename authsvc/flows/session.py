"""The identification flow: one object owns an identification from opening to its end.

    open ──► pending ──(every condition of the profile met)──► completed ──(used once)──► consumed
                 │ └──(a decisive refusal, a refused device, attempts used up)──► failed
                 └──(past its expiry)──► expired

Every step is recorded here (`recorder`: the step row, its signals and its audit entry, written by the method
in the same statement as its own change), and after each one `settle` judges the steps against the profile
in a fresh read, so a step committed by another process is seen. The rows of a step are `flows.recorder`'s;
leaving `pending` (the conditional END with its audit entries, attestation and callback, of which one caller
wins) is `flows.ending`'s, so an end costs one round trip besides the read. A step that is the
identification's first (the one-time code's fast path) is judged alone instead, and the end it decides is
written in the step's own statement (`_lone_end`, `Chained`), only while it is still the only step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from authsvc import error_codes, metrics
from authsvc.attestation import Attestor
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.config import FlowSettings
from authsvc.contracts.service import Demand
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import Conflict, NotFound, ValidationFailed
from authsvc.flows.ending import Ending, Notify, count_end, ended
from authsvc.flows.judge import Failure, Judgement, Taken, judge
from authsvc.flows.profiles import Profile
from authsvc.flows.recorder import StepRecorder, StepWork, count_step
from authsvc.flows.signals import DeviceSignals, assess
from authsvc.lists import service as lists
from authsvc.lists.service import Identifiers
from authsvc.methods import contact, factor_bound
from authsvc.store import clients as client_store
from authsvc.store import identifications, steps
from authsvc.store.db import Chained, Database, Tx
from authsvc.store.identifications import Identification, Operation, Status

# Run in the completing transaction (with one registered, a completion is a transaction, not one statement).
OnCompleted = Callable[[Tx, Identification, Sequence[steps.Step]], Awaitable[None]]


@dataclass(frozen=True)
class View:
    """An identification as the lender reads it: its record, its steps and the profile's judgement."""

    ident: Identification
    profile: Profile
    taken: list[steps.Step]
    judgement: Judgement


@dataclass(frozen=True)
class StepOutcome:
    step: steps.Step
    view: View


@dataclass
class Flows:
    db: Database
    keys: KeyStore
    settings: FlowSettings
    profiles: Mapping[str, Profile]
    attestor: Attestor | None = None
    notify: Notify | None = None
    on_completed: list[OnCompleted] = field(default_factory=list)
    # Per profile, what signing a contract needs under it (its loan_contract `required`), worked out once.
    _demands: dict[str, Demand] = field(init=False, repr=False, default_factory=dict)
    ending: Ending = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.ending = Ending(self.keys, self.attestor, self.settings.attestation_issuer, self.notify)
        for name, profile in self.profiles.items():
            need = profile.rule(Operation.LOAN_CONTRACT.value).required
            if need is not None:
                accepted = frozenset(n for n in self.profiles if name in _lineage(self.profiles, n))
                self._demands[name] = Demand(name, accepted, need.requirement, need.label)

    # --- choosing a profile, opening ---------------------------------------------------------------

    def profile_named(self, name: str) -> Profile:
        profile = self.profiles.get(name)
        if profile is None:
            raise NotFound(
                f"no profile {name!r}; known: {', '.join(sorted(self.profiles))}", code=error_codes.PROFILE_NOT_FOUND
            )
        return profile

    def choose(self, lender_id: str, operation: Operation, asked: str | None) -> Profile:
        """The request's profile, else the lender's for the operation, else the lender's default, else ours."""
        if asked is not None:
            return self.profile_named(asked)
        mine = self.settings.lender_profiles.get(lender_id, {})
        return self.profile_named(mine.get(operation.value) or mine.get("*") or self.settings.default_profile)

    async def open(
        self,
        lender_id: str,
        client_id: str,
        operation: Operation,
        *,
        profile: str | None = None,
        device: DeviceSignals | None = None,
    ) -> View:
        """A new pending identification (or an already failed one, when a black list names the client)."""
        chosen = self.choose(lender_id, operation, profile)
        rule = chosen.rule(operation.value)
        now = datetime.now(UTC)
        async with self.db.autocommit() as tx:
            client = await client_store.get(tx, lender_id, client_id)
            if client is None:
                raise NotFound("no such client", code=error_codes.CLIENT_NOT_FOUND)
            if rule.requires_registration and client.identified_at is None:
                raise Conflict(
                    f"the client's registration is not completed: under {chosen.name} a {operation.value} needs a "
                    "completed registration identification first (R-6.4)",
                    code=error_codes.CLIENT_NOT_IDENTIFIED,
                )
            if rule.cooling_off == "next_day" and self.settings.cooling_off:
                await self._cooling_off(tx, lender_id, client_id, chosen, now)
            # R-NB.8: the national and the lender's own grey and black lists, on every identification.
            person = await contact.of_row(self.keys, client)
            black, grey = await self._listed(
                tx,
                lender_id,
                Identifiers(
                    phone=person.phone,
                    iin=person.iin,
                    iban=person.iban,
                    device_id=device.device_id if device is not None else None,
                ),
            )
            ident, row = identifications.new(lender_id, client_id, operation, chosen.ttl_s, chosen.name, tuple(grey))
            entry = await audit.aentry(
                self.keys,
                AuditEvent.IDENTIFICATION_OPENED,
                lender_id=lender_id,
                subject=ident.id,
                details={"client_id": client_id, "operation": operation.value, "profile": chosen.name, "risk": grey},
            )
            if not black:  # the identification and its audit entry: one statement
                await tx.write([row, entry])
        opened = metrics.IDENTIFICATIONS_OPENED.labels(operation.value, metrics.name(chosen.name))
        if not black:
            opened.inc()
            return self._view(ident, [])
        # Black-listed: opened and failed at once, in one transaction.
        failure = Failure("black_listed", f"on a black list: {', '.join(black)}", "R-NB.8")
        async with self.db.transaction() as tx:
            await tx.write([row, entry])
            ended = await self.ending.end(tx, ident, Status.FAILED, [], failure)
        opened.inc()
        return self._view(count_end(ended) or ident, [])

    async def _listed(self, tx: Tx, lender_id: str, identifiers: Identifiers) -> tuple[list[str], list[str]]:
        """The black and grey hits as "kind:scope" names (no values, so they can be shown and logged)."""
        found = await lists.hits(tx, self.keys, identifiers, lender_id=lender_id)
        names = {
            which: sorted({f"{h.kind}:{h.scope}" for h in found if h.list == which}) for which in ("black", "grey")
        }
        return names["black"], names["grey"]

    async def _cooling_off(self, tx: Tx, lender_id: str, client_id: str, profile: Profile, now: datetime) -> None:
        """R-NB.7: a payout is approved no earlier than the day after the contract (in ``settings.timezone``)."""
        contract = await identifications.latest_completed(tx, lender_id, client_id, Operation.LOAN_CONTRACT)
        if contract is None or contract.completed_at is None:
            raise Conflict(
                f"under {profile.name} a payout follows a completed loan_contract identification of this client "
                "(the cooling-off period counts from it, R-NB.7)",
                code=error_codes.COOLING_OFF,
            )
        zone = ZoneInfo(self.settings.timezone)
        signed_day = contract.completed_at.astimezone(zone).date()
        if now.astimezone(zone).date() <= signed_day:
            not_before = datetime.combine(signed_day + timedelta(days=1), datetime.min.time(), zone)
            raise Conflict(
                f"cooling-off period (R-NB.7): the payout can be approved from {not_before.isoformat()}",
                code=error_codes.COOLING_OFF,
                not_before=not_before.isoformat(),
            )

    def contract_demand(self, lender_id: str) -> Demand | None:
        """What signing a contract of ``lender_id`` needs under its loan_contract profile (None: no
        identification; R-10.1 lets the signature itself be the EDS or the code)."""
        return self._demands.get(self.choose(lender_id, Operation.LOAN_CONTRACT, None).name)

    # --- reading ------------------------------------------------------------------------------------

    async def view(self, lender_id: str, ident_id: str) -> View:
        async with self.db.autocommit() as tx:
            ident = await identifications.get(tx, lender_id, ident_id[:64])
            if ident is None:
                raise NotFound("no such identification", code=error_codes.IDENTIFICATION_NOT_FOUND)
            taken = await steps.of(tx, ident.id)
        if ident.status == Status.PENDING and ident.expires_at <= datetime.now(UTC):
            ident = await self.expire(ident) or ident
        return self._view(ident, taken)

    def profile_of(self, ident: Identification) -> Profile:
        """The identification's profile (the default one if its profile is no longer configured)."""
        return self.profiles.get(ident.profile) or self.profile_named(self.settings.default_profile)

    def _view(self, ident: Identification, taken: list[steps.Step]) -> View:
        profile = self.profile_of(ident)
        judgement = judge(profile, profile.rule(ident.operation.value), _facts(taken))
        return View(ident, profile, taken, judgement)

    # --- steps -------------------------------------------------------------------------------------

    async def open_for(self, lender_id: str, ident_id: str) -> Identification:
        """The identification, still open, for work that precedes a step (a challenge, a script, a code)."""
        async with self.db.autocommit() as tx:
            ident = await identifications.get(tx, lender_id, ident_id[:64])
        if ident is None:
            raise NotFound("no such identification", code=error_codes.IDENTIFICATION_NOT_FOUND)
        return await self._still_open(ident)

    async def _still_open(self, ident: Identification) -> Identification:
        if ident.status == Status.PENDING and ident.expires_at <= datetime.now(UTC):
            ident = await self.expire(ident) or ident
        return closed_check(ident)

    async def step(
        self,
        lender_id: str,
        ident_id: str,
        method: str,
        work: StepWork,
        device: DeviceSignals | None = None,
        *,
        found: Identification | None = None,
        first_step: bool = False,
    ) -> StepOutcome:
        """One step: the identification still open, the device acceptable under the profile, the method's
        try (``work``) recorded, then the identification judged. The one way a step is taken. ``found``: the
        identification as the caller already read it (the one-time code's fast path reads it with the code);
        ``first_step``: that read found no step yet, so the step is judged alone and the end it decides is
        written with it (`_lone_end`), without reading the steps back."""
        if found is None or found.id != ident_id[:64] or found.lender_id != lender_id:
            ident = await self.open_for(lender_id, ident_id)
        else:
            ident = await self._still_open(found)
        refused = self.check_device(ident, device)
        if device is not None and device.device_id is not None:
            async with self.db.autocommit() as tx:
                black, _grey = await self._listed(tx, lender_id, Identifiers(device_id=device.device_id))
            if black:
                refused = (*refused, "black_listed")
        if refused:
            await self.refuse_device(ident, method, refused, device)
            raise ValidationFailed(
                f"refused on the app's device signals ({', '.join(refused)}) under {ident.profile} (R-NB.5)",
                code=error_codes.DEVICE_REFUSED,
            )
        recorder = self.recorder(ident, method, None, device)
        lone: list[View] = []  # the judgement of the step alone, when it decides the identification
        if first_step:
            recorder.end_for = lambda step: self._lone_end(ident, step, lone)
        try:
            attempt = await work(ident, recorder)
        except Exception as exc:
            if recorder.step is not None:  # the method recorded its refusal before raising
                if recorder.step.outcome == "failed":
                    count_step(recorder.step, exc)
                await self.settle(ident)
            raise
        if not attempt.written:
            async with self.db.transaction() as tx:
                await self.guard(tx, lender_id, ident.id)
                await tx.write(await recorder(attempt.passed, attempt.details))
        count_step(recorder.recorded(), attempt.error)
        decided = count_end(ended(recorder.chained)) if recorder.chained is not None else None
        if decided is not None:  # the step's own write ended it: nothing to read back
            view = View(decided, lone[-1].profile, lone[-1].taken, lone[-1].judgement)
        else:
            view = await self.settle(ident)
        if attempt.error is not None:
            raise attempt.error
        return StepOutcome(recorder.recorded(), view)

    async def guard(self, tx: Tx, lender_id: str, ident_id: str) -> Identification:
        """The identification named: the lender's own (404 else) and still open (409 else, saying why)."""
        ident = await identifications.get(tx, lender_id, ident_id[:64])
        if ident is None:
            raise NotFound("no such identification", code=error_codes.IDENTIFICATION_NOT_FOUND)
        return closed_check(ident)

    def check_device(self, ident: Identification, device: DeviceSignals | None) -> tuple[str, ...]:
        """The profile's refused signals present in ``device``; 422 when the profile needs signals not sent."""
        profile = self.profile_of(ident)
        verdict = assess(profile, ident.operation.value, device)
        if verdict.missing is not None:
            raise ValidationFailed(verdict.missing, code=error_codes.DEVICE_SIGNALS_REQUIRED)
        return verdict.refused

    def recorder(
        self,
        ident: Identification,
        method: str,
        details: Mapping[str, Any] | None = None,
        device: DeviceSignals | None = None,
    ) -> StepRecorder:
        return StepRecorder(self.keys, ident, method, details, device)

    async def record(
        self,
        ident: Identification,
        method: str,
        passed: bool,
        details: Mapping[str, Any],
        device: DeviceSignals | None = None,
    ) -> steps.Step:
        """Record a step in its own transaction (for methods whose change is elsewhere, e.g. an outside party)."""
        recorder = self.recorder(ident, method, details, device)
        async with self.db.transaction() as tx:
            await self.guard(tx, ident.lender_id, ident.id)
            await tx.write(await recorder(passed))
        count_step(recorder.recorded())
        return recorder.recorded()

    async def refuse_device(
        self, ident: Identification, method: str, refused: Sequence[str], device: DeviceSignals | None
    ) -> View:
        """A step refused on the device's signals: recorded, and the identification fails (R-NB.5)."""
        reasons = [f"device_{name}" for name in refused]
        await self.record(ident, method, False, {"reasons": reasons}, device)
        failure = Failure(
            "device_refused", f"the device was refused ({', '.join(refused)}) under {ident.profile}", "R-NB.5"
        )
        ended = None
        async with self.db.autocommit() as tx:
            current = await identifications.get(tx, ident.lender_id, ident.id)
            if current is not None and current.status == Status.PENDING:
                ended = await self.ending.end(tx, current, Status.FAILED, await steps.of(tx, ident.id), failure)
        count_end(ended)
        return await self.view(ident.lender_id, ident.id)

    async def settle(self, ident: Identification) -> View:
        """Judge the committed steps of ``ident`` (as read before the step) and end it when the profile says
        so; idempotent. Reading the steps after the step's commit sees every process's steps. On one
        connection: the read, and the end when it is one statement (`Ending.end`)."""
        ended: Identification | None = None
        async with self.db.autocommit() as tx:
            taken, suspended = await steps.settling(tx, ident.id, ident.client_id)
            view = self._view(ident, taken)
            verdict = view.judgement.verdict
            # A completion of a stronger kind (EDS, biometrics) reinstates the client's suspended factors
            # (issue 16): with them, and with `on_completed` hooks, it is one transaction instead.
            reinstate = verdict == "completed" and suspended and factor_bound.reinstates(_passed(taken))
            alone = verdict == "failed" or (verdict == "completed" and not reinstate and not self.on_completed)
            if alone:
                status = Status.COMPLETED if verdict == "completed" else Status.FAILED
                ended = await self.ending.end(tx, ident, status, taken, view.judgement.failure)
        if verdict != "pending":
            ended = count_end(ended if alone else await self._complete(ident, taken, reinstate))
            if ended is None:  # another call ended it first: read what it decided
                return await self.view(ident.lender_id, ident.id)
            return View(ended, view.profile, taken, view.judgement)
        if ident.expires_at <= datetime.now(UTC):
            ended = await self.expire(ident)
            if ended is not None:
                return View(ended, view.profile, taken, view.judgement)
        return view

    async def _lone_end(self, ident: Identification, step: steps.Step, judged: list[View]) -> Chained | None:
        """The end ``step`` decides when it is the identification's only one, to write with the step (the
        one-time code's fast path: a login completes with its code, in the code's write). None when it decides
        nothing alone, or when the end must be a transaction of its own (reinstating factors, `on_completed`
        hooks): then `settle` judges after the write. The end is written only while no other step exists
        (`identifications.END_ALONE`), else `settle` reads and judges every step."""
        view = self._view(ident, [step])
        verdict = view.judgement.verdict
        if verdict == "pending" or (
            verdict == "completed" and (self.on_completed or factor_bound.reinstates(_passed([step])))
        ):
            return None
        judged.append(view)
        status = Status.COMPLETED if verdict == "completed" else Status.FAILED
        return await self.ending.chained(ident, status, [step], view.judgement.failure, alone=step.id)

    async def _complete(
        self, ident: Identification, taken: Sequence[steps.Step], reinstate: bool
    ) -> Identification | None:
        """Complete ``ident`` (`Ending.end`) in one transaction with the work that must commit with it: the
        client's suspended factors reinstated, the ``on_completed`` hooks."""
        async with self.db.transaction() as tx:
            ended = await self.ending.end(tx, ident, Status.COMPLETED, taken, None)
            if ended is None:
                return None
            if reinstate:
                await factor_bound.reinstate_after_identification(
                    tx, self.keys, ident.client_id, _passed(taken), identification_id=ident.id
                )
            for hook in self.on_completed:
                await hook(tx, ended, taken)
            return ended

    # --- ending -------------------------------------------------------------------------------------

    async def expire(self, ident: Identification) -> Identification | None:
        """End a pending identification past its expiry (from a read, a step or the sweep)."""
        async with self.db.autocommit() as tx:
            ended = await self.ending.end(
                tx, ident, Status.EXPIRED, [], Failure("expired", "the identification expired")
            )
        return count_end(ended)

    async def expire_due(self, limit: int = 200) -> int:
        """The housekeeping sweep: end every identification past its expiry, so its callback goes out."""
        async with self.db.autocommit() as tx:
            due = await identifications.due_to_expire(tx, datetime.now(UTC), limit)
        ended = 0
        for ident in due:
            ended += await self.expire(ident) is not None
        return ended

    # --- using a completed one ----------------------------------------------------------------------

    async def use(self, lender_id: str, ident_id: str) -> Identification:
        """The lender's own operation (a login session, a contract, a payout) uses a completed identification
        once (R-12.3); 409 when it is not completed, too old, or used before."""
        async with self.db.transaction() as tx:
            ident = await identifications.get(tx, lender_id, ident_id[:64])
            if ident is None:
                raise NotFound("no such identification", code=error_codes.IDENTIFICATION_NOT_FOUND)
            if ident.operation in SELF_USED:
                raise Conflict(
                    f"a {ident.operation.value} identification is not used here: {SELF_USED[ident.operation]}",
                    code=error_codes.IDENTIFICATION_NOT_USABLE,
                )
            used = await self.consume(
                tx,
                lender_id=lender_id,
                client_id=ident.client_id,
                ident_id=ident.id,
                operation=ident.operation,
                max_age_s=self.settings.use_within_s,
            )
            if not used:
                state = "used" if ident.consumed_at is not None else ident.status.value
                raise Conflict(
                    f"the identification cannot be used: it is {state}"
                    + (" or completed too long ago" if state == "completed" else ""),
                    code=error_codes.IDENTIFICATION_NOT_USABLE,
                    state=state,
                )
            after = await identifications.get(tx, lender_id, ident.id)
        assert after is not None
        return after

    async def consume(
        self, tx: Tx, *, lender_id: str, client_id: str, ident_id: str, operation: Operation, max_age_s: int
    ) -> bool:
        """Use a completed identification once for the operation it was opened for (R-12.3), audited."""
        used = await identifications.consume(
            tx,
            lender_id=lender_id,
            client_id=client_id,
            ident_id=ident_id[:64],
            operation=operation,
            max_age_s=max_age_s,
        )
        if used:
            await audit.append(
                tx,
                self.keys,
                AuditEvent.IDENTIFICATION_CONSUMED,
                lender_id=lender_id,
                subject=ident_id,
                details={"operation": operation.value},
            )
        return used


SELF_USED = {
    Operation.REGISTRATION: "it completed the registration itself (R-6.4)",
    Operation.CHANGE_CONTACT: "PATCH /v1/clients/{id} uses it (R-6.6)",
    Operation.FACTOR_RESET: "POST /v1/clients/{id}/totp/reset uses it",
}


def closed_check(ident: Identification) -> Identification:
    """``ident`` while it is open; else 409 saying whether it completed, failed or expired."""
    if ident.is_open(datetime.now(UTC)):
        return ident
    state = "expired" if ident.status == Status.PENDING else ident.status.value
    raise Conflict(
        f"the identification is {state}: open a new one", code=error_codes.IDENTIFICATION_CLOSED, state=state
    )


def _lineage(profiles: Mapping[str, Profile], name: str) -> set[str]:
    """``name`` and every profile it extends (loading refused cycles)."""
    found: set[str] = set()
    at: str | None = name
    while at is not None and at not in found:
        found.add(at)
        at = profiles[at].extends if at in profiles else None
    return found


def _passed(taken: Sequence[steps.Step]) -> set[str]:
    return {t.method for t in taken if t.outcome == "passed"}


def _facts(taken: Sequence[steps.Step]) -> list[Taken]:
    return [Taken(t.method, t.outcome == "passed", tuple(t.details.get("reasons") or ())) for t in taken]
