"""Sending the SMS outbox (and verification calls, R-NB.4) in the background, and the client notifications that go through it.

`SmsWorker` runs as a task in every process that runs the jobs (its own cleanup_ctx in `authsvc.app`):
it claims due messages (`authsvc.store.outbox.claim`, safe across processes), sends them concurrently
through `SmsClient` (gateway failover inside), and records the outcome. A slow or broken gateway thus
delays only the message, never the request that queued it. A message whose every gateway failed is
retried with backoff; a code past its lifetime is dropped. A clean stop hands unsent claims back at once. Delivery receipts arrive at
``POST /callbacks/sms`` (`apply_receipt`); a failed delivery is tried once more through another gateway.

Notifications (R-NB.7: the client learns a loan application was made in their name; R-23.2: the money
arrived) are `notify_application_received` and `notify_loan_arrived`, queued in the caller's
transaction.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from authsvc import metrics
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import ConfigError, UpstreamUnavailable
from authsvc.methods import contact
from authsvc.methods.factors import Factors
from authsvc.parties.jsonapi import UpstreamRejected
from authsvc.parties.sms import DeliveryStatus
from authsvc.store import outbox, telco_cache, throttle
from authsvc.store.db import Database, Tx
from authsvc.store.leases import ClaimWorker

log = logging.getLogger("authsvc.sms")
MAX_ATTEMPTS = 5
LEASE_S = 60.0
OUTBOX_KEEP_DAYS = 7  # delivery history kept for support questions; the sealed texts go with it


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300, 2 ** max(0, attempts - 1)))


class SmsWorker(ClaimWorker[outbox.Claimed]):
    def __init__(self, db: Database, keys: KeyStore, factors: Factors) -> None:
        super().__init__(
            log,
            name="sms-outbox",
            what="SMS outbox",
            send_failed="SMS send failed unexpectedly",
            bell=factors.outbox_bell,
        )
        self._db = db
        self._keys = keys
        self._factors = factors

    def _poll_s(self) -> float:
        return self._factors.settings.sms_poll_s

    async def _release(self, unsent: list[outbox.Claimed]) -> None:
        async with self._db.transaction() as tx:
            await outbox.release(tx, unsent)

    async def _claim(self, limit: int) -> list[outbox.Claimed]:
        async with self._db.transaction() as tx:
            return await outbox.claim(tx, self._keys, limit=limit, lease_s=LEASE_S)

    async def purge(self) -> None:
        """Forget what no longer matters: old throttle windows, expired operator answers, old messages."""
        async with self._db.transaction() as tx:
            await throttle.purge(tx, older_than_s=2 * max(self._factors.settings.send_window_s, 3600))
            await telco_cache.purge(tx)
            await outbox.purge(tx, older_than=timedelta(days=OUTBOX_KEEP_DAYS))

    async def _call(self, message: outbox.Claimed) -> None:
        """A verification call that reads the code out (R-NB.4); the client types it into the app."""
        call = await self._factors.voice.speak_code(message.to, message.text, client_ref=message.id)
        async with self._db.transaction() as tx:
            if call.status == "unreachable":
                await outbox.finish(tx, message.id, status=outbox.FAILED, error="unreachable")
            else:
                await outbox.finish(
                    tx, message.id, status=outbox.SENT, gateway="voice", gateway_message_id=call.call_id
                )
        _count(message, "failed" if call.status == "unreachable" else "sent")

    async def _send(self, message: outbox.Claimed) -> None:
        now = datetime.now(UTC)
        if message.not_after is not None and message.not_after <= now:
            async with self._db.transaction() as tx:
                await outbox.finish(tx, message.id, status=outbox.FAILED, error="expired")
            _count(message, "expired")
            return
        skip = [message.skip_gateway] if message.skip_gateway else []
        try:
            if message.kind == outbox.VOICE_CODE:
                await self._call(message)
                return
            sent = await self._factors.sms.send(message.to, message.text, client_ref=message.id, skip=skip)
        except (UpstreamRejected, ConfigError) as exc:
            # The gateway refused this message (bad number), or no gateway is left to try: final.
            async with self._db.transaction() as tx:
                await outbox.finish(tx, message.id, status=outbox.FAILED, error=exc.code)
            _count(message, "failed")
            return
        except UpstreamUnavailable as exc:
            final = message.attempts >= MAX_ATTEMPTS
            async with self._db.transaction() as tx:
                await outbox.finish(
                    tx,
                    message.id,
                    status=outbox.FAILED if final else outbox.QUEUED,
                    error=exc.code,
                    retry_at=None if final else now + backoff(message.attempts),
                )
            log.warning("SMS not sent", extra={"outbox_id": message.id, "error": exc.code, "final": final})
            _count(message, "failed" if final else "retried")
            return
        async with self._db.autocommit() as tx:
            await outbox.finish(
                tx, message.id, status=outbox.SENT, gateway=sent.gateway, gateway_message_id=sent.message_id
            )
        _count(message, "sent")


def _count(message: outbox.Claimed, outcome: str) -> None:
    metrics.OUTBOX_SENDS.labels(metrics.name(message.kind), outcome).inc()


async def apply_receipt(db: Database, factors: Factors, body: bytes, signature: str | None) -> bool:
    """A gateway's delivery receipt (signature checked by `SmsClient.parse_receipt`); True if it matched."""
    status: DeliveryStatus = factors.sms.parse_receipt(body, signature)
    if not status.final:
        return False
    async with db.transaction() as tx:
        matched = await outbox.receipt(
            tx,
            status.message_id,
            delivered=status.status == "delivered",
            error=status.error,
            tries=2 if factors.settings.sms_b_url else 1,
        )
    if matched and status.status != "delivered":
        factors.outbox_bell.set()
    return matched


# --- notifications (R-NB.7, R-23.2) ---------------------------------------------------------------------


async def _notify(
    tx: Tx, keys: KeyStore, kind: str, lender_id: str, client_id: str, text: str, message_id: str | None
) -> str | None:
    person = await contact.load(tx, keys, lender_id, client_id)
    if message_id is None:
        return await outbox.enqueue(tx, keys, kind, person.phone, text)
    return message_id if await outbox.enqueue_once(tx, keys, message_id, kind, person.phone, text) else None


async def notify_application_received(
    tx: Tx,
    keys: KeyStore,
    *,
    lender_id: str,
    client_id: str,
    lender_name: str,
    amount: int,
    message_id: str | None = None,
) -> str | None:
    """Tell the client a loan application in their name reached ``lender_name`` (R-NB.7), in the
    caller's transaction. Returns the outbox id, or None when ``message_id`` (a key derived from the
    application, so a retried report notifies once) was queued before."""
    text = (
        f"{lender_name}: получена заявка на заём {amount} тг от вашего имени. Если это не вы, позвоните в организацию."
    )
    return await _notify(tx, keys, "notify_application", lender_id, client_id, text, message_id)


async def record_application(
    tx: Tx,
    keys: KeyStore,
    *,
    lender_id: str,
    lender_name: str,
    client_id: str,
    application_id: str,
    amount: int,
    refusal_on_file: bool,
) -> tuple[str, bool]:
    """A loan application reported to the bureau: the client told by SMS, once per application however often
    the report is retried (R-NB.7), and the report audited. Returns (notification id, queued now)."""
    note_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"authsvc:application:{lender_id}:{application_id}"))
    queued = await notify_application_received(
        tx, keys, lender_id=lender_id, client_id=client_id, lender_name=lender_name, amount=amount, message_id=note_id
    )
    await audit.append(
        tx,
        keys,
        AuditEvent.BUREAU_APPLICATION_REPORTED,
        lender_id=lender_id,
        subject=client_id,
        details={"application_id": application_id, "refusal_on_file": refusal_on_file},
    )
    return note_id, queued is not None


async def notify_loan_arrived(
    tx: Tx,
    keys: KeyStore,
    *,
    lender_id: str,
    client_id: str,
    lender_name: str,
    amount: int,
    message_id: str | None = None,
) -> str | None:
    """Tell the client the loan's money was paid out (R-23.2); same contract as above."""
    text = f"{lender_name}: заём {amount} тг перечислен на ваш счёт."
    return await _notify(tx, keys, "notify_payout", lender_id, client_id, text, message_id)


async def notify_incident_opened(
    tx: Tx, keys: KeyStore, *, lender_id: str, client_id: str, lender_name: str, loan: bool, message_id: str
) -> str | None:
    """Tell the client an incident (fraud or unauthorised access in their name) was recorded (R-15.1), and,
    for a loan, that interest and collection are suspended (R-108.2); queued once per ``message_id``."""
    text = f"{lender_name}: зарегистрирован инцидент (мошенничество или доступ без вашего согласия)."
    if loan:
        text += " Начисление вознаграждения и взыскание по займу приостановлены."
    return await _notify(tx, keys, "notify_incident", lender_id, client_id, text, message_id)


_FACTOR_NAMES = {
    "sms": "коды по SMS",
    "totp": "коды из приложения-аутентификатора",
    "hotp": "коды с аппаратного токена",
    "password": "пароль",
}


async def notify_factor_suspended(tx: Tx, keys: KeyStore, *, lender_id: str, client_id: str, factor: str) -> str | None:
    """Tell the client one of their factors was suspended after repeated wrong answers (issue 16)."""
    text = (
        f"Вход через {_FACTOR_NAMES.get(factor, factor)} приостановлен после многих неверных попыток. "
        "Если это были не вы, сообщите в организацию; другие способы входа работают."
    )
    return await _notify(tx, keys, "notify_factor", lender_id, client_id, text, None)


async def notify_factor_reinstated(
    tx: Tx, keys: KeyStore, *, lender_id: str, client_id: str, factor: str
) -> str | None:
    """Tell the client a suspended factor works again."""
    text = f"Вход через {_FACTOR_NAMES.get(factor, factor)} снова доступен. Если вы этого не просили, сообщите в организацию."
    return await _notify(tx, keys, "notify_factor", lender_id, client_id, text, None)
