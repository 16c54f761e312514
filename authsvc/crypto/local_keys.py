"""Local key file: the embedded default key store (R-12.2).

The file is JSON, readable only by its owner (0600 in a 0700 folder); `authsvc keys init` writes it and the
service refuses to start from a file others can read. It holds a key-encryption key (AES-256, wraps the
per-record data keys with RFC 3394 key wrap), an index key (HMAC-SHA256 for IIN look-up and card tokens) and
the Ed25519 audit-signing key and the Ed25519 attestation-signing keys. Older KEKs stay in the file after a
rotation so old records still open; older attestation keys stay so attestations signed with them still verify
(`authsvc keys rotate-attestation`). A file written before attestation keys existed loads without them;
`authsvc keys init --if-missing` adds one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from authsvc import error_codes
from authsvc.errors import AuthsvcError, ConfigError, RecordTampered

FORMAT_VERSION = 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def _key_id(material: bytes) -> str:
    # A short public fingerprint, never the key itself.
    return hashlib.sha256(b"authsvc-key-id" + material).hexdigest()[:16]


@dataclass
class LocalKeyStore:
    """Key store backed by the local key file."""

    keks: dict[str, bytes]
    current_kek: str
    index_key: bytes
    audit_keys: dict[str, Ed25519PrivateKey]
    current_audit_key: str
    attestation_keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)
    current_attestation_key: str = ""  # "" in a file from before attestation keys existed

    # --- KeyStore protocol -------------------------------------------------------------------------
    @property
    def kek_id(self) -> str:
        return self.current_kek

    def wrap_data_key(self, data_key: bytes) -> bytes:
        return aes_key_wrap(self.keks[self.current_kek], data_key)

    def unwrap_data_key(self, wrapped: bytes, kek_id: str) -> bytes:
        try:
            return aes_key_unwrap(self.keks[kek_id], wrapped)
        except InvalidUnwrap as exc:
            raise RecordTampered(
                "a stored data key failed to unwrap (tampered or wrong key)", code=error_codes.RECORD_TAMPERED
            ) from exc

    def index_mac(self, purpose: str, value: str) -> bytes:
        # By name: OpenSSL's HMAC, ≈ 2× faster than with a hashlib function (several per one-time code).
        return hmac.new(self.index_key, purpose.encode() + b"\x00" + value.encode(), "sha256").digest()

    # Awaitable twins: answered at once, in software (no thread hop: it would cost more than the work).
    async def awrap_data_key(self, data_key: bytes) -> tuple[str, bytes]:
        return self.current_kek, self.wrap_data_key(data_key)

    async def aunwrap_data_key(self, wrapped: bytes, kek_id: str) -> bytes:
        return self.unwrap_data_key(wrapped, kek_id)

    async def aindex_mac(self, purpose: str, value: str) -> bytes:
        return self.index_mac(purpose, value)

    async def aindex_macs(self, purpose: str, values: Sequence[str]) -> list[bytes]:
        return [self.index_mac(purpose, v) for v in values]

    async def asign_audit_many(self, data: Sequence[bytes]) -> list[bytes]:
        key = self.audit_keys[self.current_audit_key]
        return [key.sign(d) for d in data]

    @property
    def audit_key_id(self) -> str:
        return self.current_audit_key

    def sign_audit(self, data: bytes) -> bytes:
        return self.audit_keys[self.current_audit_key].sign(data)

    def audit_public_key(self, key_id: str) -> Ed25519PublicKey:
        return self.audit_keys[key_id].public_key()

    async def aaudit_public_key(self, key_id: str) -> Ed25519PublicKey:
        return self.audit_public_key(key_id)

    @property
    def attestation_key_id(self) -> str:
        if not self.current_attestation_key:
            raise ConfigError("the key file holds no attestation key: run `authsvc keys init --if-missing`")
        return self.current_attestation_key

    def sign_attestation(self, key_id: str, data: bytes) -> bytes:
        return self.attestation_keys[key_id].sign(data)

    def attestation_public_keys(self) -> dict[str, Ed25519PublicKey]:
        return {k: v.public_key() for k, v in self.attestation_keys.items()}

    def attestation_public_key(self, key_id: str) -> Ed25519PublicKey:
        return self.attestation_keys[key_id].public_key()

    async def aattestation_public_key(self, key_id: str) -> Ed25519PublicKey:
        return self.attestation_public_key(key_id)

    # --- file ----------------------------------------------------------------------------------------
    @classmethod
    def generate(cls) -> LocalKeyStore:
        kek = secrets.token_bytes(32)
        audit = Ed25519PrivateKey.generate()
        kek_id, audit_id = _key_id(kek), _key_id(_raw(audit))
        store = cls({kek_id: kek}, kek_id, secrets.token_bytes(32), {audit_id: audit}, audit_id)
        store.rotate_attestation_key()
        return store

    def rotate_kek(self) -> str:
        """Add a new key-encryption key and make it current; old ones stay for existing records."""
        kek = secrets.token_bytes(32)
        self.current_kek = _key_id(kek)
        self.keks[self.current_kek] = kek
        return self.current_kek

    def rotate_attestation_key(self) -> str:
        """Add a new attestation key and make it current; old ones stay published and verifying."""
        key = Ed25519PrivateKey.generate()
        self.current_attestation_key = _key_id(_raw(key))
        self.attestation_keys[self.current_attestation_key] = key
        return self.current_attestation_key

    def to_json(self) -> str:
        def raw(key: Ed25519PrivateKey) -> str:
            return _b64(_raw(key))

        return json.dumps(
            {
                "version": FORMAT_VERSION,
                "keks": {k: _b64(v) for k, v in self.keks.items()},
                "current_kek": self.current_kek,
                "index_key": _b64(self.index_key),
                "audit_keys": {k: raw(v) for k, v in self.audit_keys.items()},
                "current_audit_key": self.current_audit_key,
                "attestation_keys": {k: raw(v) for k, v in self.attestation_keys.items()},
                "current_attestation_key": self.current_attestation_key,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> LocalKeyStore:
        data = json.loads(text)
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported key file version {data.get('version')!r}")
        return cls(
            keks={k: _unb64(v) for k, v in data["keks"].items()},
            current_kek=data["current_kek"],
            index_key=_unb64(data["index_key"]),
            audit_keys={k: Ed25519PrivateKey.from_private_bytes(_unb64(v)) for k, v in data["audit_keys"].items()},
            current_audit_key=data["current_audit_key"],
            attestation_keys={
                k: Ed25519PrivateKey.from_private_bytes(_unb64(v)) for k, v in data.get("attestation_keys", {}).items()
            },
            current_attestation_key=data.get("current_attestation_key", ""),
        )


def init_key_file(path: Path, *, force: bool = False) -> LocalKeyStore:
    """Create a new key file with 0600 permissions in a 0700 folder; refuses to overwrite unless ``force``."""
    if path.exists() and not force:
        raise ConfigError(f"key file {path} already exists (use --force to replace it and lose old data)")
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    store = LocalKeyStore.generate()
    write_key_file(path, store)
    return store


def write_key_file(path: Path, store: LocalKeyStore) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(store.to_json())
    os.replace(tmp, path)


def load_key_file(path: Path) -> LocalKeyStore:
    """Load the key file, refusing one that group or others may read (least privilege)."""
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise ConfigError(f"key file {path} not found: run `authsvc keys init`") from exc
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"key file {path} is accessible by group/others (mode {st.st_mode & 0o777:o}); chmod 600")
    try:
        return LocalKeyStore.from_json(path.read_text())
    except AuthsvcError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"key file {path} is not a valid authsvc key file") from exc
