"""What the kiosk signs with, behind one small `Signer` protocol: a PKCS#11 token (`TokenSigner`), a
PKCS#12 key file signed in software (`P12Signer`, as NCALayer does for clients without a card; the only
way to a GOST key at a kiosk without a GOST-capable token), and a PC/SC card through raw APDUs
(`drivers.kiosk.card.CardSigner`, the card's GOST key included).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from authsvc.pki.certinfo import cert_info
from drivers.kiosk.failures import KioskFailure, from_token_error
from drivers.pkcs11 import AsyncToken, Credential, Holder, TokenError


class Signer(Protocol):
    """A client's key at the kiosk. Blocking work runs off the event loop (each implementation's own thread)."""

    @property
    def pin_pad(self) -> bool:
        """True when the PIN is entered on the reader itself (no PIN is asked at the kiosk)."""
        ...

    @property
    def secret_name(self) -> str:
        """'pin' or 'password': what to ask the client for."""
        ...

    async def open(self, wait_s: float) -> Holder:
        """Wait up to ``wait_s`` for the card/token and say whose certificate it carries."""
        ...

    async def unlock(self, secret: str | None) -> None:
        """Log in (PIN, or None for a PIN pad) / open the key file with its password."""
        ...

    @property
    def holder(self) -> Holder:
        """Whose key signs (known for sure after `unlock`)."""
        ...

    @property
    def reopened(self) -> int:
        """How often the device was reconnected during this use."""
        ...

    async def sign_cms(self, content: bytes, *, detached: bool) -> bytes:
        """NCALayer-style CMS over ``content`` (DER)."""
        ...

    async def close(self) -> None: ...


class TokenSigner:
    """A PKCS#11 token; the certificate is the token's only valid one, or the one labelled ``key_label``."""

    def __init__(self, module: str, *, token_label: str | None, key_label: str | None) -> None:
        self._token = AsyncToken(module, label=token_label)
        self._key_label = key_label
        self._credential: Credential | None = None
        self._public: list[Credential] = []

    @property
    def pin_pad(self) -> bool:
        return self._token.info.protected_auth

    @property
    def secret_name(self) -> str:
        return "pin"

    @property
    def reopened(self) -> int:
        return self._token.reopened

    async def open(self, wait_s: float) -> Holder:
        try:
            await self._token.open(wait_s=wait_s)
        except TokenError as exc:
            raise from_token_error(exc) from exc
        # Certificates are public objects: most tokens show them before log-in; SoftHSM2 and some cards
        # only after, so the holder is known for sure once `unlock` has run.
        return await self._holder_after_login_if_needed()

    async def _holder_after_login_if_needed(self) -> Holder:
        try:
            self._public = await self._token.certificates()
        except TokenError:
            self._public = []
        if self._public:
            return self._choose(self._public).holder
        return Holder(
            name=self._token.info.label, iin=None, bin=None, organization=None, roles=(), subject_type="unknown",
            not_before=datetime.min.replace(tzinfo=UTC), not_after=datetime.max.replace(tzinfo=UTC),
        )  # fmt: skip

    def _choose(self, creds: list[Credential]) -> Credential:
        if self._key_label is not None:
            creds = [c for c in creds if c.label == self._key_label]
            if not creds:
                raise KioskFailure("no_certificate", f"no certificate labelled {self._key_label!r}")
        if not creds:
            raise KioskFailure("no_certificate", "no certificate with a private key")
        now = datetime.now(UTC)
        valid = [c for c in creds if c.holder.valid_at(now)]
        return (valid or creds)[0]

    async def unlock(self, secret: str | None) -> None:
        try:
            await self._token.login(secret)
            self._credential = self._choose(await self._token.credentials())
        except TokenError as exc:
            raise from_token_error(exc) from exc

    @property
    def holder(self) -> Holder:
        if self._credential is None:
            raise RuntimeError("unlock() first")
        return self._credential.holder

    async def sign_cms(self, content: bytes, *, detached: bool) -> bytes:
        if self._credential is None:
            raise RuntimeError("unlock() first")
        try:
            return await self._token.sign_cms(self._credential, content, detached=detached)
        except TokenError as exc:
            raise from_token_error(exc) from exc

    async def close(self) -> None:
        await self._token.close()


class P12Signer:
    """A PKCS#12 key file (NCA's .p12: GOST-2015 or RSA), signed in software on a worker thread."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._pair: object | None = None

    @property
    def pin_pad(self) -> bool:
        return False

    @property
    def secret_name(self) -> str:
        return "password"

    @property
    def reopened(self) -> int:
        return 0

    async def open(self, wait_s: float) -> Holder:
        if not self._path.is_file():
            raise KioskFailure("keystore_unreadable", f"{self._path} not found")
        # The certificate is inside the encrypted file: whose it is shows after `unlock`.
        return Holder(
            name=self._path.name, iin=None, bin=None, organization=None, roles=(), subject_type="unknown",
            not_before=datetime.min.replace(tzinfo=UTC), not_after=datetime.max.replace(tzinfo=UTC),
        )  # fmt: skip

    async def unlock(self, secret: str | None) -> None:
        from simulators.nca.signer import KeyPair

        data = self._path.read_bytes()
        try:
            self._pair = await asyncio.to_thread(KeyPair.from_pkcs12, data, secret or "")
        except (ValueError, TypeError) as exc:
            raise KioskFailure("keystore_unreadable", str(exc)) from exc

    @property
    def holder(self) -> Holder:
        from simulators.nca.signer import KeyPair

        if not isinstance(self._pair, KeyPair):
            raise RuntimeError("unlock() first")
        return Holder.of(cert_info(self._pair.certificate.dump()))

    async def sign_cms(self, content: bytes, *, detached: bool) -> bytes:
        from simulators.nca.signer import KeyPair, sign_cms

        if not isinstance(self._pair, KeyPair):
            raise RuntimeError("unlock() first")
        return await asyncio.to_thread(sign_cms, self._pair, content, detached=detached)

    async def close(self) -> None:
        self._pair = None
