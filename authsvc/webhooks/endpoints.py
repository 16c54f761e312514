"""Each lender's webhook endpoint: its URL, the events it wants, and its signing secret.

The secret (``whsec_`` + 32 random bytes, URL-safe base64) is generated here, answered once — on the first
PUT and on each rotation — and stored sealed under the endpoint row's own data key (`RecordCipher`, the
KeyStore's envelope: an HSM-held key-encryption key when configured). A rotation keeps the previous secret
signing beside the new one for ``webhooks.secret_grace_s``, so the lender can switch without losing
deliveries. The URL must be https:// to a public host (no IP literal of a private, loopback or link-local
network, no credentials); plain http:// only to the loopback host when ``webhooks.allow_http_loopback`` is
on (tests and demos).
"""

from __future__ import annotations

import ipaddress
import secrets
import urllib.parse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from authsvc import error_codes
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.config import WebhookSettings
from authsvc.crypto.envelope import RecordCipher, WrappedKey
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import NotFound, ValidationFailed
from authsvc.store import webhooks as store
from authsvc.store.db import Database, Tx
from authsvc.store.errors import Duplicate

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of generated secrets, not a secret
FIELD = "webhook_secret"
PREVIOUS_FIELD = "webhook_previous_secret"
MAX_URL = 2000
_LOOPBACK_NAMES = {"localhost", "localhost."}
# The URLs check_url accepts in production, as a JSON Schema pattern (for the OpenAPI document): https://,
# a DNS name (an IP literal's network cannot be told from a pattern), no credentials and no fragment.
URL_PATTERN = (
    r"^https://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\.?(?::[0-9]{1,4})?"
    r"(?:[/?][!\x22$-~]*)?$"
)


@dataclass(frozen=True)
class Endpoint:
    url: str
    events: tuple[str, ...] | None  # None: every event
    created_at: datetime
    updated_at: datetime
    previous_secret_until: datetime | None  # the old secret still signs until then (after a rotation)


def _refused(why: str) -> ValidationFailed:
    return ValidationFailed(f"webhook URL refused: {why}", code=error_codes.WEBHOOK_URL_REFUSED)


def check_url(url: str, *, allow_http_loopback: bool) -> str:
    """The URL if deliveries may go there; raises ValidationFailed (422 webhook_url_refused) otherwise."""
    if len(url) > MAX_URL or any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise _refused(f"at most {MAX_URL} characters, no spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError as exc:
        raise _refused("not a URL") from exc
    if not host:
        raise _refused("no host")
    if parts.username is not None or parts.password is not None:
        raise _refused("credentials in the URL would be stored and logged; authenticate with the signature")
    if parts.fragment:
        raise _refused("a fragment is never sent; remove it")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    loopback = host.lower() in _LOOPBACK_NAMES or (address is not None and address.is_loopback)
    if parts.scheme == "http":
        if not (allow_http_loopback and loopback):
            raise _refused("use https:// (plain http only to the loopback host in test and demo set-ups)")
    elif parts.scheme == "https":
        if loopback and not allow_http_loopback:
            raise _refused("the loopback host is this machine, not the lender")
        if address is not None and not address.is_loopback and not address.is_global:
            raise _refused("an address of a private, link-local or reserved network")
    else:
        raise _refused("use https://")
    return url


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


async def _cipher(keys: KeyStore, row: store.EndpointRow) -> RecordCipher:
    return await RecordCipher.aopen(keys, row.id, WrappedKey(row.kek_id, row.data_key))


async def signing_secrets(keys: KeyStore, row: store.EndpointRow, now: datetime) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one during its grace."""
    cipher = await _cipher(keys, row)
    out = [cipher.unseal(FIELD, row.secret_sealed).decode()]
    if row.previous_secret_sealed is not None and row.previous_until is not None and row.previous_until > now:
        out.append(cipher.unseal(PREVIOUS_FIELD, row.previous_secret_sealed).decode())
    return out


def _public(row: store.EndpointRow, now: datetime) -> Endpoint:
    until = row.previous_until if row.previous_until is not None and row.previous_until > now else None
    return Endpoint(row.url, row.events, row.created_at, row.updated_at, until)


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or ""  # the audit names the host, never a path or query


class Endpoints:
    """Configuring, showing, rotating and deleting a lender's endpoint (one per lender)."""

    def __init__(self, db: Database, keys: KeyStore, settings: WebhookSettings) -> None:
        self.db, self.keys, self.settings = db, keys, settings

    async def configure(self, lender_id: str, url: str, events: Sequence[str] | None) -> tuple[Endpoint, str | None]:
        """Create or change the endpoint; the secret is answered only when the endpoint is created."""
        url = check_url(url, allow_http_loopback=self.settings.allow_http_loopback)
        chosen = tuple(dict.fromkeys(events)) if events is not None else None
        for _ in range(2):  # a second round when a concurrent first PUT created it meanwhile
            try:
                async with self.db.transaction() as tx:
                    return await self._configure(tx, lender_id, url, chosen)
            except Duplicate:
                continue
        raise AssertionError("unreachable: the endpoint exists after a Duplicate")  # pragma: no cover

    async def _configure(
        self, tx: Tx, lender_id: str, url: str, events: tuple[str, ...] | None
    ) -> tuple[Endpoint, str | None]:
        now = datetime.now(UTC)
        row = await store.endpoint_of(tx, lender_id)
        secret: str | None = None
        if row is None:
            endpoint_id = str(uuid.uuid4())
            secret = new_secret()
            cipher, wrapped = await RecordCipher.anew(self.keys, endpoint_id)
            row = store.EndpointRow(
                endpoint_id,
                lender_id,
                url,
                events,
                wrapped.kek_id,
                wrapped.wrapped,
                cipher.seal(FIELD, secret.encode()),
                None,
                None,
                now,
                now,
            )
            await store.insert_endpoint(tx, row)
        else:
            await store.update_endpoint(tx, row.id, url=url, events=events)
            row = await store.endpoint_of(tx, lender_id)
            assert row is not None
        await audit.append(
            tx,
            self.keys,
            AuditEvent.WEBHOOK_CONFIGURED,
            lender_id=lender_id,
            subject=row.id,
            details={"host": _host(url), "events": list(events) if events is not None else None, "new": bool(secret)},
        )
        return _public(row, now), secret

    async def show(self, lender_id: str) -> Endpoint:
        async with self.db.autocommit() as tx:
            row = await store.endpoint_of(tx, lender_id)
        if row is None:
            raise _not_configured()
        return _public(row, datetime.now(UTC))

    async def rotate(self, lender_id: str) -> tuple[Endpoint, str]:
        """A new secret; the old one keeps signing (beside it) for the grace period."""
        now = datetime.now(UTC)
        async with self.db.transaction() as tx:
            row = await store.endpoint_of(tx, lender_id)
            if row is None:
                raise _not_configured()
            cipher = await _cipher(self.keys, row)
            old = cipher.unseal(FIELD, row.secret_sealed)
            secret = new_secret()
            grace = timedelta(seconds=self.settings.secret_grace_s)
            await store.update_endpoint(
                tx,
                row.id,
                secret_sealed=cipher.seal(FIELD, secret.encode()),
                previous_secret_sealed=cipher.seal(PREVIOUS_FIELD, old) if grace else None,
                previous_until=now + grace if grace else None,
            )
            await audit.append(
                tx,
                self.keys,
                AuditEvent.WEBHOOK_SECRET_ROTATED,
                lender_id=lender_id,
                subject=row.id,
                details={"previous_valid_s": self.settings.secret_grace_s},
            )
            row = await store.endpoint_of(tx, lender_id)
            assert row is not None
        return _public(row, now), secret

    async def delete(self, lender_id: str) -> None:
        async with self.db.transaction() as tx:
            endpoint_id = await store.delete_endpoint(tx, lender_id)
            if endpoint_id is None:
                raise _not_configured()
            await audit.append(tx, self.keys, AuditEvent.WEBHOOK_DELETED, lender_id=lender_id, subject=endpoint_id)


def _not_configured() -> NotFound:
    return NotFound("this lender has no webhook endpoint", code=error_codes.WEBHOOK_NOT_CONFIGURED)
