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

Device calls: the awaitable twins (``aunwrap_data_key``, ``awrap_data_key``, ``aindex_mac(s)``,
``asign_audit_many``) run on the store's one dedicated thread (one per token, as `drivers.pkcs11` does for
the kiosk), so the event loop never waits on the device; batches go in one hop, and so do the calls made in
one turn of the loop (`_arun`: a per-loop batch, flushed with ``call_soon``). The synchronous forms, kept
for the callers not converted yet, run on the caller's thread. Either way one call at a time reaches the
session, under a lock. A call stuck in the device holds it; the others give up after ``pkcs11_timeout_s``
with `KeyStoreUnavailable` (503 problem+json, raised before anything is written). Unwrapped data keys are
kept in a bounded in-memory cache (`key_cache.py`), so opening a record again costs no device call. On
SoftHSM2 a call takes 0.1-0.4 ms. A token that went away is looked for again at most once a second; when it
is back, the store reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
from authsvc.crypto.key_cache import DataKeyCache
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


def _outcome(job: Callable[[], T]) -> tuple[bool, T | BaseException]:
    """One job of a batched trip, its error kept for its own caller (the others' results stand)."""
    try:
        return True, job()
    except AuthsvcError as exc:  # ours (the token gone: 503): that caller's answer
        return False, exc
    except Exception as exc:  # a tampered blob's ValueError, an unknown KEK's KeyError: likewise
        return False, exc


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
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"pkcs11-keys-{token_label}")
        self._closed = False
        self._batches: dict[asyncio.AbstractEventLoop, list[tuple[Callable[[], Any], asyncio.Future[Any]]]] = {}
        self.data_keys = DataKeyCache()
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
        return self._submit(self._job(what, fn))

    async def _arun(self, what: str, fn: Callable[[pkcs11.Session, _Keys], T]) -> T:
        """`_run` on the token's thread; the caller waits at most the timeout (a hung device keeps the thread).

        Calls made in the same turn of the loop (a registration's gathered wrap, MACs and seal; many requests
        at once) share one trip: the first schedules the flush, the others join its batch. A hop to the
        thread costs more CPU than a SoftHSM2 call, so this is where the HSM store's cost goes down."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        batch = self._batches.get(loop)
        if batch is None:
            batch = self._batches[loop] = []
            loop.call_soon(self._flush, loop)
        batch.append((self._job(what, fn), future))
        try:
            return cast(T, await asyncio.wait_for(asyncio.shield(future), self._timeout))
        except TimeoutError:
            self.last_error = f"the HSM has not answered a call for {self._timeout:g} s"
            raise KeyStoreUnavailable(self.last_error) from None

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._batches.pop(loop)
        if self._closed:
            trip: asyncio.Future[list[tuple[bool, Any]]] = loop.create_future()
            trip.cancel()
        else:
            trip = loop.run_in_executor(self._thread, self._submit, lambda: [_outcome(job) for job, _ in batch])

        def resolve(done: asyncio.Future[list[tuple[bool, Any]]]) -> None:
            # The whole trip failed (the lock not had within the timeout), or never ran (the store closed).
            failed = KeyStoreUnavailable("the key store is closed") if done.cancelled() else done.exception()
            for n, (_, future) in enumerate(batch):
                if future.done():
                    continue
                if failed is not None:
                    future.set_exception(failed)
                    continue
                ok, value = done.result()[n]
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

        trip.add_done_callback(resolve)

    def _job(self, what: str, fn: Callable[[pkcs11.Session, _Keys], T]) -> Callable[[], T]:
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

        return job

    def _drop(self, reason: str) -> None:
        self.last_error = reason
        self.data_keys.clear()  # no record opens without the token, cached or not, until it is back
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

    def _reload_job(self, session: pkcs11.Session, keys: _Keys) -> None:
        self._keys = self._load(session)

    def _background_reload(self) -> None:
        with contextlib.suppress(AuthsvcError):  # a token gone: the next call says so
            self._submit(self._job("reading the keys", self._reload_job))

    def reload(self) -> None:
        """Read the token's keys again (another process rotated)."""
        self._run("reading the keys", self._reload_job)

    async def areload(self) -> None:
        await self._arun("reading the keys", self._reload_job)

    def kek_ids(self) -> list[str]:
        return sorted(self._keys.keks, key=_generation)

    # --- KeyStore protocol ----------------------------------------------------------------------------------
    def _fresh(self) -> _Keys:
        """The keys as last read, answered from memory (no device call); when RELOAD_EVERY_S has passed they
        are read again on the token's thread, so a rotation made by another process is picked up, and the
        caller goes on with the keys it has meanwhile."""
        if time.monotonic() - self._loaded_at > RELOAD_EVERY_S:
            self._loaded_at = time.monotonic()  # one reload in flight at a time
            with contextlib.suppress(RuntimeError):  # the store was closed
                self._thread.submit(self._background_reload)
        keys = self._keys
        self._require(keys)
        return keys

    @property
    def kek_id(self) -> str:
        return self._fresh().current_kek

    def _wrap_job(self, data_key: bytes) -> Callable[[pkcs11.Session, _Keys], tuple[str, bytes]]:
        nonce = secrets.token_bytes(NONCE_BYTES)

        def job(session: pkcs11.Session, keys: _Keys) -> tuple[str, bytes]:
            self._require(keys)
            kek_id = keys.current_kek
            kek = cast(EncryptMixin, keys.keks[kek_id])
            sealed = kek.encrypt(data_key, mechanism=Mechanism.AES_GCM, mechanism_param=_gcm(nonce))
            assert isinstance(sealed, bytes)  # one buffer in, one out (no streaming)
            self.data_keys.put(kek_id, nonce + sealed, data_key)  # a new record is read back at once
            return kek_id, nonce + sealed

        return job

    def wrap_data_key(self, data_key: bytes) -> bytes:
        return self._run("wrapping a data key", self._wrap_job(data_key))[1]

    async def awrap_data_key(self, data_key: bytes) -> tuple[str, bytes]:
        if time.monotonic() - self._loaded_at > RELOAD_EVERY_S:
            await self.areload()  # a rotation by another process: new data under the new KEK
        return await self._arun("wrapping a data key", self._wrap_job(data_key))

    def unwrap_data_key(self, wrapped: bytes, kek_id: str) -> bytes:
        found = self.data_keys.get(kek_id, wrapped)
        return found if found is not None else self._run("unwrapping a data key", self._unwrap_job(wrapped, kek_id))

    async def aunwrap_data_key(self, wrapped: bytes, kek_id: str) -> bytes:
        found = self.data_keys.get(kek_id, wrapped)  # answered from memory: no hop at all
        if found is not None:
            return found
        return await self._arun("unwrapping a data key", self._unwrap_job(wrapped, kek_id))

    def _unwrap_job(self, wrapped: bytes, kek_id: str) -> Callable[[pkcs11.Session, _Keys], bytes]:
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
            self.data_keys.put(kek_id, wrapped, plain)
            return plain

        return job

    def _macs_job(self, purpose: str, values: Sequence[str]) -> Callable[[pkcs11.Session, _Keys], list[bytes]]:
        def job(session: pkcs11.Session, keys: _Keys) -> list[bytes]:
            self._require(keys)
            index = cast(SignMixin, keys.index)
            return [
                bytes(index.sign(purpose.encode() + b"\x00" + v.encode(), mechanism=Mechanism.SHA256_HMAC))
                for v in values
            ]

        return job

    def index_mac(self, purpose: str, value: str) -> bytes:
        return self._run("an index look-up", self._macs_job(purpose, [value]))[0]

    async def aindex_mac(self, purpose: str, value: str) -> bytes:
        return (await self._arun("an index look-up", self._macs_job(purpose, [value])))[0]

    async def aindex_macs(self, purpose: str, values: Sequence[str]) -> list[bytes]:
        return await self._arun("index look-ups", self._macs_job(purpose, list(values))) if values else []

    @property
    def audit_key_id(self) -> str:
        return self._fresh().current_audit

    def sign_audit(self, data: bytes) -> bytes:
        def job(session: pkcs11.Session, keys: _Keys) -> bytes:
            self._require(keys)
            return bytes(cast(SignMixin, keys.audit[keys.current_audit]).sign(data, mechanism=Mechanism.EDDSA))

        return self._run("signing the audit chain", job)

    async def asign_audit_many(self, data: Sequence[bytes]) -> list[bytes]:
        items = list(data)

        def job(session: pkcs11.Session, keys: _Keys) -> list[bytes]:
            self._require(keys)
            key = cast(SignMixin, keys.audit[keys.current_audit])
            return [bytes(key.sign(d, mechanism=Mechanism.EDDSA)) for d in items]

        return await self._arun("signing the audit chain", job) if items else []

    def audit_public_key(self, key_id: str) -> Ed25519PublicKey:
        found = self._keys.audit_public.get(key_id)
        if found is None:
            self.reload()
            found = self._keys.audit_public.get(key_id)
        if found is None:
            raise KeyError(key_id)
        return found

    def _may_look_again(self) -> bool:
        """Whether a key id not held may make the token be read again: at most once a second, since the id
        comes from what is being verified (an attestation's sender, an old audit head)."""
        if time.monotonic() - self._looked_for_key_at < _RECONNECT_EVERY_S:
            return False
        self._looked_for_key_at = time.monotonic()
        return True

    async def _apublic(self, held: Callable[[], dict[str, Ed25519PublicKey]], key_id: str) -> Ed25519PublicKey:
        """``key_id`` from the keys ``held`` answers, the token read again off the loop when it is missing."""
        found = held().get(key_id)
        if found is None and self._may_look_again():
            await self.areload()
            found = held().get(key_id)
        if found is None:
            raise KeyError(key_id)
        return found

    async def aaudit_public_key(self, key_id: str) -> Ed25519PublicKey:
        return await self._apublic(lambda: self._keys.audit_public, key_id)

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
        # A key another process made since the last read: read the token again (`_may_look_again`).
        if found is None and self._may_look_again():
            self.reload()
            found = self._keys.attestation_public.get(key_id)
        if found is None:
            raise KeyError(key_id)
        return found

    async def aattestation_public_key(self, key_id: str) -> Ed25519PublicKey:
        return await self._apublic(lambda: self._fresh().attestation_public, key_id)

    def close(self) -> None:
        def job() -> None:
            self._drop("closed")

        self._submit(job)
        self._closed = True
        self._thread.shutdown(wait=False)
        self.data_keys.clear()
