"""Envelope encryption of personal data (R-7.3b-ii, R-12.2).

Each record gets its own AES-256-GCM data key, stored wrapped by the key store's key-encryption key. The
associated data binds a ciphertext to its record and field, so ciphertexts cannot be swapped between rows.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from authsvc import error_codes
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import RecordTampered

NONCE_BYTES = 12


@dataclass(frozen=True)
class WrappedKey:
    kek_id: str
    wrapped: bytes


class RecordCipher:
    """Encrypts and decrypts the fields of one record with its data key."""

    def __init__(self, data_key: bytes, record_id: str) -> None:
        self._aead = AESGCM(data_key)
        self._record = record_id.encode()

    @classmethod
    def new(cls, keys: KeyStore, record_id: str) -> tuple[RecordCipher, WrappedKey]:
        data_key = AESGCM.generate_key(bit_length=256)
        return cls(data_key, record_id), WrappedKey(keys.kek_id, keys.wrap_data_key(data_key))

    @classmethod
    def open(cls, keys: KeyStore, record_id: str, wrapped: WrappedKey) -> RecordCipher:
        return cls(keys.unwrap_data_key(wrapped.wrapped, wrapped.kek_id), record_id)

    @classmethod
    async def anew(cls, keys: KeyStore, record_id: str) -> tuple[RecordCipher, WrappedKey]:
        """`new`, the data key wrapped off the event loop where a device does it."""
        data_key = AESGCM.generate_key(bit_length=256)
        kek_id, wrapped = await keys.awrap_data_key(data_key)
        return cls(data_key, record_id), WrappedKey(kek_id, wrapped)

    @classmethod
    async def aopen(cls, keys: KeyStore, record_id: str, wrapped: WrappedKey) -> RecordCipher:
        """`open`, the data key unwrapped off the event loop where a device does it."""
        return cls(await keys.aunwrap_data_key(wrapped.wrapped, wrapped.kek_id), record_id)

    def _aad(self, field: str) -> bytes:
        return self._record + b"\x00" + field.encode()

    def seal(self, field: str, plaintext: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, self._aad(field))

    def unseal(self, field: str, sealed: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], self._aad(field))
        except InvalidTag as exc:
            raise RecordTampered(
                f"a stored record ({field}) failed authentication", code=error_codes.RECORD_TAMPERED
            ) from exc

    def seal_json(self, field: str, value: Any) -> bytes:
        return self.seal(field, json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())

    def unseal_json(self, field: str, sealed: bytes) -> Any:
        return json.loads(self.unseal(field, sealed))
