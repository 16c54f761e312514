"""The service's keys on an HSM or token over PKCS#11 (R-12.2): the `KeyStore` protocol with keys that never
leave the device.

On the token (SoftHSM2 in tests), all sensitive and non-extractable:
- key-encryption keys: AES-256, label ``authsvc-kek``, CKA_ID = the kek id ``k<generation>-<random>``. A
  data key is wrapped by CKM_AES_GCM encryption on the token (one call: nonce ‖ ciphertext ‖ tag, the
  purpose as associated data; CKM_AES_KEY_WRAP needs the data key as a token object first, three calls
  and 5× slower on SoftHSM2). Random 96-bit nonces are safe far beyond the 2^32 wraps per KEK a
  rotation schedule allows. The newest generation is current; older ones stay so old records still open
  (rotation: `rotation.py`).
- the index key: a 256-bit generic secret, label ``authsvc-index``, used with CKM_SHA256_HMAC.
- audit-signing keys: Ed25519 (CKM_EC_EDWARDS_KEY_PAIR_GEN / CKM_EDDSA, which SoftHSM2 2.6 has), label
  ``authsvc-audit``; the public halves are read once and verify in software.
- attestation-signing keys: Ed25519 likewise, label ``authsvc-attest``, CKA_ID ``s<generation>-<random>``;
  the newest generation signs, older ones stay on the token so their public halves are still published and
  attestations signed before a rotation still verify (`rotate_attestation_key`, `python -m authsvc.hsm
  rotate-attestation`). A token initialised before they existed gets one from `init` (idempotent).

The `KeyStore` protocol is synchronous (its callers run on the event loop, between awaits), so a call goes
to the device on the caller's thread, one at a time under a lock. A hand-off to a dedicated device thread
was measured first: on this loaded 2-core machine each hand-off waited for the scheduler (an HMAC took
2.2-2.5 ms instead of 0.3 ms) and halved the registration rate, for no gain, since the caller had to wait
for the answer anyway. A call stuck in the device holds the lock; the others then give up after
``pkcs11_timeout_s`` with `KeyStoreUnavailable` (503 problem+json, raised before anything is written). On
SoftHSM2 a call takes 0.1-0.4 ms; a network HSM would want an async protocol. A token
that went away is looked for again at most once a second; when it is back, the store reconnects.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import pkcs11
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.mechanisms import GCMParams
from pkcs11.types import DecryptMixin, EncryptMixin, SignMixin
from pkcs11.util.ec import encode_named_curve_parameters

from authsvc import error_codes
from authsvc.errors import AuthsvcError, ConfigError, UpstreamUnavailable

T = TypeVar("T")
KEK_LABEL = "authsvc-kek"
INDEX_LABEL = "authsvc-index"
AUDIT_LABEL = "authsvc-audit"
ATTEST_LABEL = "authsvc-attest"
_ED25519_OID = "1.3.101.112"
_RECONNECT_EVERY_S = 1.0
NONCE_BYTES = 12
_WRAP_AAD = b"authsvc data key v1"  # binds a wrapped blob to its purpose
RELOAD_EVERY_S = 30.0


class KeyStoreUnavailable(UpstreamUnavailable):
    """The HSM does not answer (removed, locked, hung): the request is refused whole, nothing written."""

    code = error_codes.KEY_STORE_UNAVAILABLE


def _gcm(nonce: bytes) -> GCMParams:
    return GCMParams(nonce, _WRAP_AAD, 128)


def _new_id(prefix: str, generation: int) -> str:
    return f"{prefix}{generation:04d}-{secrets.token_hex(5)}"  # 16 characters, fits kek_id String(32)


def _generation(key_id: str) -> int:
    try:
        return int(key_id[1:5])
    except ValueError:
        return -1


def _ed25519_public(point: bytes) -> Ed25519PublicKey:
    # CKA_EC_POINT of an Edwards key: DER OCTET STRING around the 32 raw bytes (or the raw bytes).
    raw = point[2:] if len(point) == 34 and point[0] == 0x04 else point
    return Ed25519PublicKey.from_public_bytes(raw)


@dataclass
class _Keys:
    keks: dict[str, pkcs11.SecretKey] = field(default_factory=dict)
    index: pkcs11.SecretKey | None = None
    audit: dict[str, pkcs11.PrivateKey] = field(default_factory=dict)
    audit_public: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    attestation: dict[str, pkcs11.PrivateKey] = field(default_factory=dict)
    attestation_public: dict[str, Ed25519PublicKey] = field(default_factory=dict)

    @property
    def current_kek(self) -> str:
        return max(self.keks, key=_generation)

    @property
    def current_attestation(self) -> str:
        return max(self.attestation, key=_generation)

    @property
    def current_audit(self) -> str:
        return max(self.audit, key=_generation)


class Pkcs11KeyStore:
    """`KeyStore` over one token of one PKCS#11 module."""

    def __init__(self, module: str, token_label: str, pin: str, *, timeout_s: float = 5.0) -> None:
        self._module_path = module
        self._label = token_label
        self._pin = pin
        self._timeout = timeout_s
        self._lock = threading.Lock()  # one call at a time on the session, whichever thread makes it
        self._session: pkcs11.Session | None = None
        self._keys = _Keys()
        self._last_attempt = 0.0
        self._loaded_at = 0.0
        self._looked_for_key_at = 0.0
        self.last_error: str | None = None
        if not Path(module).is_file():
            raise ConfigError(f"[keys] pkcs11_module {module} not found")
        self._submit(self._connect)

    # --- device calls -------------------------------------------------------------------------------------
    def _submit(self, fn: Callable[[], T]) -> T:
        # Serialised by a lock; a call stuck in the device (a hung network HSM) holds it, and every other
        # call then gives up after the timeout with a 503 instead of queueing behind it for ever.
        if not self._lock.acquire(timeout=self._timeout):
            self.last_error = f"the HSM has not answered a call for {self._timeout:g} s"
            raise KeyStoreUnavailable(self.last_error)
        try:
            return fn()
        finally:
            self._lock.release()

    def _run(self, what: str, fn: Callable[[pkcs11.Session, _Keys], T]) -> T:
        def job() -> T:
            if self._session is None:
                now = time.monotonic()
                if now - self._last_attempt < _RECONNECT_EVERY_S:
                    raise KeyStoreUnavailable(f"the key store's HSM token is unavailable: {self.last_error}")
                self._connect()
            assert self._session is not None
            try:
                result = fn(self._session, self._keys)
            except (ValueError, KeyError):
                raise
            except p11.PKCS11Error as exc:
                self._drop(f"{what} failed on the HSM ({type(exc).__name__})")
                raise KeyStoreUnavailable(f"the key store's HSM failed during {what}; retry shortly") from exc
            self.last_error = None
            return result

        return self._submit(job)

    def _drop(self, reason: str) -> None:
        self.last_error = reason
        if self._session is not None:
            with contextlib.suppress(p11.PKCS11Error):  # already gone with the token
                self._session.close()
        self._session = None

    def _find_token(self, lib: Any) -> pkcs11.Token:
        for slot in lib.get_slots(token_present=True):
            try:
                token = slot.get_token()
            except p11.PKCS11Error:
                continue
            if token.label.strip() == self._label:
                return cast(pkcs11.Token, token)
        raise LookupError(self._label)

    def _connect(self) -> None:
        self._last_attempt = time.monotonic()
        try:
            try:
                lib = pkcs11.lib(self._module_path)
            except p11.PKCS11Error as exc:
                raise ConfigError(f"[keys] pkcs11_module {self._module_path} is not a PKCS#11 module: {exc}") from exc
            try:
                token = self._find_token(lib)
            except AuthsvcError:
                raise
            except LookupError:
                lib.reinitialize()  # modules without hot-plug (SoftHSM2) see a token again only this way
                token = self._find_token(lib)
            try:
                session = token.open(rw=True, user_pin=self._pin)
            except p11.UserAlreadyLoggedIn:
                session = token.open(rw=True)
            self._session = session
            self._keys = self._load(session)
        except AuthsvcError:
            raise
        except LookupError:
            self._drop(f"no token labelled {self._label!r} in {self._module_path}")
            raise KeyStoreUnavailable(f"the key store's HSM token is unavailable: {self.last_error}") from None
        except p11.PinIncorrect:
            self._drop("the HSM refused the PIN")
            raise ConfigError("[keys] the HSM refused the PIN (check the PIN source)") from None
        except p11.PKCS11Error as exc:
            self._drop(f"the HSM failed to open ({type(exc).__name__})")
            raise KeyStoreUnavailable(f"the key store's HSM token is unavailable: {self.last_error}") from exc

    def _load(self, session: pkcs11.Session) -> _Keys:
        self._loaded_at = time.monotonic()
        keys = _Keys()
        for obj in list(session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: KEK_LABEL})):
            assert isinstance(obj, pkcs11.SecretKey)
            keys.keks[bytes(obj[Attribute.ID]).decode()] = obj
        for obj in list(session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: INDEX_LABEL})):
            assert isinstance(obj, pkcs11.SecretKey)
            keys.index = obj
        for obj in list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: AUDIT_LABEL})):
            assert isinstance(obj, pkcs11.PrivateKey)
            keys.audit[bytes(obj[Attribute.ID]).decode()] = obj
        for obj in list(session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: AUDIT_LABEL})):
            keys.audit_public[bytes(obj[Attribute.ID]).decode()] = _ed25519_public(bytes(obj[Attribute.EC_POINT]))
        for obj in list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: ATTEST_LABEL})):
            assert isinstance(obj, pkcs11.PrivateKey)
            keys.attestation[bytes(obj[Attribute.ID]).decode()] = obj
        for obj in list(session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: ATTEST_LABEL})):
            public = _ed25519_public(bytes(obj[Attribute.EC_POINT]))
            keys.attestation_public[bytes(obj[Attribute.ID]).decode()] = public
        return keys

    def _require(self, keys: _Keys) -> None:
        if not keys.keks or keys.index is None or not keys.audit:
            raise ConfigError(f"token {self._label!r} holds no authsvc keys: run `python -m authsvc.hsm init`")

    # --- key creation (init, rotation) ----------------------------------------------------------------------
    @staticmethod
    def _make_kek(session: pkcs11.Session, generation: int) -> str:
        kek_id = _new_id("k", generation)
        session.generate_key(
            KeyType.AES, 256, label=KEK_LABEL, id=kek_id.encode(), store=True,
            template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.ENCRYPT: True,
                      Attribute.DECRYPT: True, Attribute.WRAP: False, Attribute.UNWRAP: False},
        )  # fmt: skip
        return kek_id

    def initialize(self) -> dict[str, str]:
        """Create whatever of the four keys is missing on the token (idempotent)."""

        def job(session: pkcs11.Session, keys: _Keys) -> dict[str, str]:
            if not keys.keks:
                self._make_kek(session, 1)
            if keys.index is None:
                session.generate_key(
                    KeyType.GENERIC_SECRET, 256, label=INDEX_LABEL, id=b"index", store=True,
                    template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True,
                              Attribute.VERIFY: True},
                )  # fmt: skip
            if not keys.audit:
                self._make_audit(session, 1)
            if not keys.attestation:
                self._make_ed25519(session, ATTEST_LABEL, _new_id("s", 1))
            self._keys = self._load(session)
            return {
                "kek": self._keys.current_kek,
                "audit": self._keys.current_audit,
                "attestation": self._keys.current_attestation,
            }

        return self._run("creating the keys", job)

    @classmethod
    def _make_audit(cls, session: pkcs11.Session, generation: int) -> str:
        return cls._make_ed25519(session, AUDIT_LABEL, _new_id("a", generation))

    @staticmethod
    def _make_ed25519(session: pkcs11.Session, label: str, key_id: str) -> str:
        params = session.create_domain_parameters(
            KeyType.EC_EDWARDS, {Attribute.EC_PARAMS: encode_named_curve_parameters(_ED25519_OID)}, local=True
        )
        params.generate_keypair(
            store=True, label=label, id=key_id.encode(), mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
            private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True},
        )  # fmt: skip
        return key_id

    def rotate_kek(self) -> str:
        """A new key-encryption key of the next generation, current from now on (old ones stay)."""

        def job(session: pkcs11.Session, keys: _Keys) -> str:
            self._require(keys)
            kek_id = self._make_kek(session, _generation(keys.current_kek) + 1)
            self._keys = self._load(session)
            return kek_id

        return self._run("rotating the key-encryption key", job)

    def rotate_attestation_key(self) -> str:
        """A new attestation key of the next generation, signing from now on; the old ones stay published."""

        def job(session: pkcs11.Session, keys: _Keys) -> str:
            generation = _generation(keys.current_attestation) + 1 if keys.attestation else 1
            key_id = self._make_ed25519(session, ATTEST_LABEL, _new_id("s", generation))
            self._keys = self._load(session)
            return key_id

        return self._run("rotating the attestation key", job)

    def attestation_key_ids(self) -> list[str]:
        return sorted(self._keys.attestation, key=_generation)

    def reload(self) -> None:
        """Read the token's keys again (another process rotated)."""

        def job(session: pkcs11.Session, keys: _Keys) -> None:
            self._keys = self._load(session)

        self._run("reading the keys", job)

    def kek_ids(self) -> list[str]:
        return sorted(self._keys.keks, key=_generation)

    # --- KeyStore protocol ----------------------------------------------------------------------------------
    def _fresh(self) -> _Keys:
        """The keys as last read; read again (on the device thread) when RELOAD_EVERY_S has passed, so a
        rotation made by another process is picked up. Answered from memory otherwise: no device call."""
        if time.monotonic() - self._loaded_at > RELOAD_EVERY_S:
            self.reload()
        keys = self._keys
        self._require(keys)
        return keys

    @property
    def kek_id(self) -> str:
        return self._fresh().current_kek

    def wrap_data_key(self, data_key: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)

        def job(session: pkcs11.Session, keys: _Keys) -> bytes:
            self._require(keys)
            kek = cast(EncryptMixin, keys.keks[keys.current_kek])
            sealed = kek.encrypt(data_key, mechanism=Mechanism.AES_GCM, mechanism_param=_gcm(nonce))
            assert isinstance(sealed, bytes)  # one buffer in, one out (no streaming)
            return nonce + sealed

        return self._run("wrapping a data key", job)

    def unwrap_data_key(self, wrapped: bytes, kek_id: str) -> bytes:
        def job(session: pkcs11.Session, keys: _Keys) -> bytes:
            if kek_id not in keys.keks:
                self._keys = keys = self._load(session)  # rotated by another process since we read the keys
                if kek_id not in keys.keks:
                    raise KeyError(kek_id)
            kek = cast(DecryptMixin, keys.keks[kek_id])
            nonce, sealed = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
            try:
                plain = kek.decrypt(sealed, mechanism=Mechanism.AES_GCM, mechanism_param=_gcm(nonce))
            except (p11.EncryptedDataInvalid, p11.EncryptedDataLenRange, p11.GeneralError) as exc:
                raise ValueError("data key failed to unwrap (tampered or wrong key)") from exc
            assert isinstance(plain, bytes)
            return plain

        return self._run("unwrapping a data key", job)

    def index_mac(self, purpose: str, value: str) -> bytes:
        message = purpose.encode() + b"\x00" + value.encode()

        def job(session: pkcs11.Session, keys: _Keys) -> bytes:
            self._require(keys)
            assert keys.index is not None
            return bytes(cast(SignMixin, keys.index).sign(message, mechanism=Mechanism.SHA256_HMAC))

        return self._run("an index look-up", job)

    @property
    def audit_key_id(self) -> str:
        return self._fresh().current_audit

    def sign_audit(self, data: bytes) -> bytes:
        def job(session: pkcs11.Session, keys: _Keys) -> bytes:
            self._require(keys)
            return bytes(cast(SignMixin, keys.audit[keys.current_audit]).sign(data, mechanism=Mechanism.EDDSA))

        return self._run("signing the audit chain", job)

    def audit_public_key(self, key_id: str) -> Ed25519PublicKey:
        found = self._keys.audit_public.get(key_id)
        if found is None:
            self.reload()
            found = self._keys.audit_public.get(key_id)
        if found is None:
            raise KeyError(key_id)
        return found

    @property
    def attestation_key_id(self) -> str:
        keys = self._fresh()
        if not keys.attestation:
            raise ConfigError(f"token {self._label!r} holds no attestation key: run `python -m authsvc.hsm init`")
        return keys.current_attestation

    def sign_attestation(self, key_id: str, data: bytes) -> bytes:
        def job(session: pkcs11.Session, keys: _Keys) -> bytes:
            return bytes(cast(SignMixin, keys.attestation[key_id]).sign(data, mechanism=Mechanism.EDDSA))

        return self._run("signing an attestation", job)

    def attestation_public_keys(self) -> dict[str, Ed25519PublicKey]:
        return dict(self._fresh().attestation_public)

    def attestation_public_key(self, key_id: str) -> Ed25519PublicKey:
        found = self._fresh().attestation_public.get(key_id)
        # A key another process made since the last read: read the token again, at most once a second,
        # since the key id comes from whoever sent the attestation.
        if found is None and time.monotonic() - self._looked_for_key_at >= _RECONNECT_EVERY_S:
            self._looked_for_key_at = time.monotonic()
            self.reload()
            found = self._keys.attestation_public.get(key_id)
        if found is None:
            raise KeyError(key_id)
        return found

    def close(self) -> None:
        def job() -> None:
            self._drop("closed")

        self._submit(job)
