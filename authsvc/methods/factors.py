"""What the second-factor methods share at run time: the outside parties' clients built from the
``[factors]`` settings on one aiohttp session, the password hasher and policy, and the SMS worker's bell.

`open_factors` is called by its own cleanup_ctx in `authsvc.app`; `Factors.close` ends the session.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiohttp

from authsvc.config import FactorSettings
from authsvc.crypto.keystore import KeyStore
from authsvc.methods.passwords import Argon2Params, PasswordHasher, PasswordPolicy
from authsvc.parties.bank import BankClient
from authsvc.parties.bureau import BureauClient
from authsvc.parties.cdao import CdaoClient
from authsvc.parties.http import RetryPolicy
from authsvc.parties.jsonapi import Endpoint
from authsvc.parties.sms import SmsClient
from authsvc.parties.telco import TelcoClient
from authsvc.parties.voice_call import VoiceCallClient


@dataclass
class Factors:
    settings: FactorSettings
    session: aiohttp.ClientSession
    sms: SmsClient
    voice: VoiceCallClient  # verification calls (R-NB.4), placed through gateway A
    telco: TelcoClient
    cdao: CdaoClient
    bureau: BureauClient
    bank: BankClient
    hasher: PasswordHasher
    policy: PasswordPolicy
    code_key: bytes  # HMAC key for stored SMS codes, derived from the key store
    outbox_bell: asyncio.Event = field(default_factory=asyncio.Event)

    async def close(self) -> None:
        await self.session.close()


async def code_key(keys: KeyStore) -> bytes:
    """The server key that hashes one-time codes, derived so it never needs its own storage (off the event
    loop where the key store's device derives it)."""
    return await keys.aindex_mac("otp-code-key", "v1")


async def open_factors(settings: FactorSettings, keys: KeyStore) -> Factors:
    retry = RetryPolicy(attempts=settings.upstream_attempts, backoff=0.1, max_backoff=0.5)

    def endpoint(url: str, name: str) -> Endpoint:
        timeout = settings.upstream_timeout_s
        return Endpoint(base_url=url, name=name, timeout=timeout, connect_timeout=min(2.0, timeout), retry=retry)

    # aiohttp's default pool of 100 connections would cap sending at 50 messages/s against a gateway that
    # takes 2 s: the rest wait for a connection until their connect timeout and go round the retry loop.
    connector = aiohttp.TCPConnector(limit=settings.upstream_max_connections, limit_per_host=0)
    session = aiohttp.ClientSession(headers={"User-Agent": "authsvc"}, connector=connector)
    gateways = [endpoint(settings.sms_a_url, "sms-a")]
    if settings.sms_b_url:
        gateways.append(endpoint(settings.sms_b_url, "sms-b"))
    return Factors(
        settings=settings,
        session=session,
        sms=SmsClient(
            session,
            gateways,
            sender=settings.sms_sender,
            callback_url=settings.sms_callback_url or None,
            receipt_secret=settings.sms_receipt_secret.encode() or None,
        ),
        voice=VoiceCallClient(session, endpoint(settings.sms_a_url, "voice")),
        telco=TelcoClient(session, endpoint(settings.telco_url, "telco")),
        cdao=CdaoClient(session, endpoint(settings.cdao_url, "cdao")),
        bureau=BureauClient(session, endpoint(settings.bureau_url, "bureau")),
        bank=BankClient(session, endpoint(settings.bank_url, "bank")),
        hasher=PasswordHasher(
            Argon2Params(
                time_cost=settings.argon2_time_cost,
                memory_cost_kib=settings.argon2_memory_kib,
                parallelism=settings.argon2_parallelism,
            )
        ),
        policy=PasswordPolicy(min_length=settings.password_min_length, max_length=settings.password_max_length),
        code_key=await code_key(keys),
    )
