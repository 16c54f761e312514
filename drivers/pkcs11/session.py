"""One open session on one token: log in, find certificate/key pairs, sign; reopen after a removal.

Blocking and not thread-safe: use it from one thread only (`drivers.pkcs11.worker.AsyncToken` gives each
token its own). Signing: RSA by CKM_SHA256_RSA_PKCS (or CKM_RSA_PKCS over a DigestInfo where the token
has only that), EC by CKM_ECDSA over a SHA-256 digest computed here (SoftHSM2 has no CKM_ECDSA_SHA256),
the raw r‖s turned into the DER ECDSA-Sig-Value CMS carries.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from typing import TypeVar

import pkcs11
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.types import SignMixin

from authsvc.pki.certinfo import cert_info
from drivers.pkcs11.credentials import Credential, KeyKind
from drivers.pkcs11.errors import (
    REMOVAL_ERRORS,
    KeyNotFound,
    MechanismNotSupported,
    NotLoggedIn,
    NoToken,
    TokenError,
    TokenRemoved,
    pin_failure,
    translate,
)
from drivers.pkcs11.module import Module, TokenInfo, token_info

T = TypeVar("T")
_KNOWN = {int(m) for m in Mechanism}
# DER prefix of DigestInfo{sha256, NULL} (RFC 8017 §9.2 note 1), for tokens that only have CKM_RSA_PKCS.
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


class TokenSession:
    """A session on the token chosen by label and/or serial.

    The PIN is kept in memory while the session is logged in, only to log in again when the token was
    pulled out and put back during an operation (`_reopen`); `close`/`forget_pin` drop it. It is never
    logged or written anywhere.
    """

    def __init__(self, module: Module, *, label: str | None = None, serial: str | None = None) -> None:
        self.module = module
        self._token = module.token(label=label, serial=serial)
        self.info: TokenInfo = token_info(self._token)
        self._session: pkcs11.Session | None = None
        self._pin: str | None = None
        self._protected = False
        self._mechanism_cache: set[Mechanism] | None = None
        self._lost = False  # the token went away while logged in; the next call tries to reopen
        self.reopened = 0  # how many times a removal was survived by reopening (the kiosk says so)

    # --- log-in -------------------------------------------------------------------------------------
    def login(self, pin: str | None) -> None:
        """Log in with ``pin``; ``None`` uses the reader's PIN pad (protected authentication path)."""
        if pin is None and not self.info.protected_auth:
            raise NotLoggedIn("This token has no PIN pad: the PIN must be typed at the kiosk.")
        flags = self.module.flags_of(self.info.serial)
        if flags & pkcs11.TokenFlag.USER_PIN_LOCKED:
            raise pin_failure(flags)
        self.close()
        try:
            self._session = self._open(pin)
        except p11.PinIncorrect as exc:
            raise pin_failure(self._fresh_flags()) from exc
        except p11.PKCS11Error as exc:
            raise translate(exc, flags=self._fresh_flags(), what="the log-in") from exc
        self._pin, self._protected, self._lost = pin, pin is None, False

    def _open(self, pin: str | None) -> pkcs11.Session:
        user_pin: object = pkcs11.PROTECTED_AUTH if pin is None else pin
        try:
            return self._token.open(user_pin=user_pin)
        except p11.UserAlreadyLoggedIn:
            # PKCS#11 log-in state belongs to the application, not the session: a new session is logged in.
            return self._token.open()

    def _present(self) -> bool:
        try:
            self.module.token(serial=self.info.serial)
        except NoToken:
            return False
        return True

    def _fresh_flags(self) -> pkcs11.TokenFlag:
        try:
            return self.module.flags_of(self.info.serial)
        except TokenError:
            return pkcs11.TokenFlag(0)

    @property
    def logged_in(self) -> bool:
        return self._session is not None

    def close(self) -> None:
        self._pin = None
        if self._session is not None:
            with contextlib.suppress(p11.PKCS11Error):  # already gone with the token
                self._session.close()
            self._session = None

    def forget_pin(self) -> None:
        self._pin = None

    # --- removal ------------------------------------------------------------------------------------
    def _reopen(self, what: str) -> None:
        """The token went away: find it again by serial and log in again, or say it is gone."""
        self._session, self._lost = None, True
        try:
            self._token = self.module.token(serial=self.info.serial)
        except NoToken:
            self.module.refresh()  # our session is gone anyway; a module that does not hot-plug rescans
            try:
                self._token = self.module.token(serial=self.info.serial)
            except NoToken as exc:
                raise TokenRemoved(f"The token was removed during {what}; insert it again and retry.") from exc
        if self._pin is None and not self._protected:
            raise TokenRemoved(f"The token was removed during {what}; it is back: enter the PIN again.")
        try:
            self._session = self._open(None if self._protected else self._pin)
        except p11.PKCS11Error as exc:
            raise TokenRemoved(f"The token was removed during {what} and could not be reopened.") from exc
        self._lost = False
        self.reopened += 1

    def _call(self, what: str, fn: Callable[[pkcs11.Session], T]) -> T:
        """Run ``fn`` on the session; after a removal, reopen once and run it again."""
        if self._session is None:
            if not self._lost:
                raise NotLoggedIn(f"{what} needs the PIN first.")
            self._reopen(what)  # the token was pulled out earlier: is it back?
        for attempt in (1, 2):
            session = self._session
            if session is None:
                raise NotLoggedIn(f"{what} needs the PIN first.")
            try:
                return fn(session)
            except REMOVAL_ERRORS as exc:
                if attempt == 2:
                    raise TokenRemoved(f"The token was removed during {what}; insert it again and retry.") from exc
                self._reopen(what)
            except p11.GeneralError as exc:
                # OpenSC answers CKR_GENERAL_ERROR, not CKR_DEVICE_REMOVED, for a card pulled mid-APDU.
                if not self._gone():
                    raise translate(exc, what=what) from exc
                if attempt == 2:
                    raise TokenRemoved(f"The token was removed during {what}; insert it again and retry.") from exc
                self._reopen(what)
            except p11.PKCS11Error as exc:
                raise translate(exc, what=what) from exc
        raise AssertionError("unreachable")

    def _gone(self, within_s: float = 1.5) -> bool:
        """Whether the token has left, watched for a moment: pcscd notices a pulled card at its next poll."""
        deadline = time.monotonic() + within_s
        while self._present():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    # --- objects --------------------------------------------------------------------------------------
    def credentials(self) -> list[Credential]:
        """Every certificate on the token that has a private key with the same CKA_ID."""

        def find(session: pkcs11.Session) -> list[Credential]:
            found = []
            # One search at a time: PKCS#11 allows no nested C_FindObjects in a session.
            for cert in list(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})):
                key_id = bytes(cert[Attribute.ID])
                keys = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: key_id}))
                if not keys:
                    continue
                kind = _kind(keys[0][Attribute.KEY_TYPE])
                if kind is None:
                    continue  # GOST or another family this driver does not sign with
                found.append(Credential.of(key_id, str(cert[Attribute.LABEL]), kind, bytes(cert[Attribute.VALUE])))
            return found

        return self._call("reading the certificates", find)

    def certificates(self) -> list[Credential]:
        """The certificates anyone may read (no log-in): whose token it is, before the PIN is asked.
        Their keys are only known after log-in (`credentials`)."""
        try:
            with self._token.open() as session:
                found = []
                for cert in list(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})):
                    der = bytes(cert[Attribute.VALUE])
                    kind = _kind_of_certificate(der)
                    if kind is not None:
                        found.append(Credential.of(bytes(cert[Attribute.ID]), str(cert[Attribute.LABEL]), kind, der))
                return found
        except p11.UserAlreadyLoggedIn:
            return self.credentials()
        except p11.PKCS11Error as exc:
            raise translate(exc, what="reading the certificates") from exc

    def _private_key(self, session: pkcs11.Session, key_id: bytes) -> SignMixin:
        try:
            key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id)
        except p11.NoSuchKey:
            if not self._present():
                # Some modules (SoftHSM2) answer an empty search, not an error, once the token is gone.
                raise p11.TokenNotPresent() from None
            raise KeyNotFound("The certificate's private key is not on this token.") from None
        assert isinstance(key, SignMixin)
        return key

    # --- signing --------------------------------------------------------------------------------------
    def sign(self, key_id: bytes, kind: KeyKind, data: bytes) -> bytes:
        """Signature over ``data`` with SHA-256: PKCS#1 v1.5 for RSA, DER ECDSA-Sig-Value for EC."""

        def sign(session: pkcs11.Session) -> bytes:
            key = self._private_key(session, key_id)
            actual = _kind(key.key_type)
            if actual != kind:
                raise MechanismNotSupported(
                    f"The key is {actual or 'of another type'}, not {kind}: it cannot make this signature."
                )
            available = self._mechanisms()
            needed = {"ec": {Mechanism.ECDSA}, "rsa": {Mechanism.SHA256_RSA_PKCS, Mechanism.RSA_PKCS}}[kind]
            if not needed & available:
                names = " or ".join(sorted(m.name for m in needed))
                raise MechanismNotSupported(f"The token does not offer {names}, which this signature needs.")
            if kind == "ec":
                raw = key.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)
                half = len(raw) // 2
                return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
            try:
                return bytes(key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS))
            except p11.MechanismInvalid:
                try:
                    digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(data).digest()
                    return bytes(key.sign(digest_info, mechanism=Mechanism.RSA_PKCS))
                except p11.MechanismInvalid:
                    raise MechanismNotSupported("The token can sign neither SHA256-RSA-PKCS nor RSA-PKCS.") from None

        return self._call("the signature", sign)

    def _mechanisms(self) -> set[Mechanism]:
        """The slot's mechanisms (C_GetMechanismList), read once per session."""
        if self._mechanism_cache is None:
            self._mechanism_cache = {Mechanism(m) for m in self._token.slot.get_mechanisms() if m in _KNOWN}
        return self._mechanism_cache


def _kind_of_certificate(der: bytes) -> KeyKind | None:
    algorithm = cert_info(der).public_key.algorithm
    return "rsa" if algorithm == "rsa" else "ec" if algorithm == "ec" else None


def _kind(key_type: object) -> KeyKind | None:
    if key_type == KeyType.RSA:
        return "rsa"
    if key_type == KeyType.EC:
        return "ec"
    return None
