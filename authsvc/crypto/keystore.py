"""The key-store seam: what the service needs from its keys, whatever holds them.

The embedded default is a local key file (`local_keys.py`); the PKCS#11/HSM store (`pkcs11_keys.py`)
implements the same protocol. Keys never leave the store except where the protocol says so.

Each operation that may reach a device has an awaitable twin (``a…``): the PKCS#11 store runs it on the
token's own thread, so the event loop never waits on the device; the key file answers it at once, with no
thread hop (a hop cost more than its whole computation). The synchronous forms stay for the pure-software
path, the command-line tools and the tests (on the PKCS#11 store they run on the caller's thread); request code
uses the awaitable ones (`tests/crypto/test_journeys_off_loop.py` finds any that does not).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class KeyStore(Protocol):
    @property
    def kek_id(self) -> str:
        """Identifier of the key-encryption key new data keys are wrapped with."""

    def wrap_data_key(self, data_key: bytes) -> bytes:
        """Wrap a fresh 256-bit data key under the current key-encryption key."""

    def unwrap_data_key(self, wrapped: bytes, kek_id: str) -> bytes:
        """Unwrap a data key; raises ``KeyError`` for an unknown ``kek_id`` and ``RecordTampered`` if tampered."""

    def index_mac(self, purpose: str, value: str) -> bytes:
        """Keyed hash (HMAC-SHA256) for look-up indexes and tokens; ``purpose`` separates domains."""

    async def awrap_data_key(self, data_key: bytes) -> tuple[str, bytes]:
        """`wrap_data_key` off the event loop where a device does it: the id of the KEK it used (a rotation may
        come in between) and the wrapped key."""

    async def aunwrap_data_key(self, wrapped: bytes, kek_id: str) -> bytes:
        """`unwrap_data_key`, off the event loop where a device does it (and cached where that is worth it)."""

    async def aindex_mac(self, purpose: str, value: str) -> bytes:
        """`index_mac`, off the event loop where a device does it."""

    async def aindex_macs(self, purpose: str, values: Sequence[str]) -> list[bytes]:
        """`index_mac` of each value, in one trip to the device."""

    async def asign_audit_many(self, data: Sequence[bytes]) -> list[bytes]:
        """`sign_audit` of each item, in one trip to the device."""

    @property
    def audit_key_id(self) -> str:
        """Identifier of the audit-signing key."""

    def sign_audit(self, data: bytes) -> bytes:
        """Sign audit data (Ed25519)."""

    def audit_public_key(self, key_id: str) -> Ed25519PublicKey:
        """Public key to verify audit signatures made with ``key_id``."""

    async def aaudit_public_key(self, key_id: str) -> Ed25519PublicKey:
        """`audit_public_key`; a key id not held makes the device be read again off the event loop."""

    # The attestation keys sign what the service hands to lenders (`authsvc.attestation`): a key pair of their
    # own, not the audit key, so each rotates on its own and nothing signed for one purpose verifies for the
    # other. Their public halves are published (JWKS); old ones stay so earlier attestations still verify.
    @property
    def attestation_key_id(self) -> str:
        """Identifier of the current attestation-signing key; ``ConfigError`` if the store holds none."""

    def sign_attestation(self, key_id: str, data: bytes) -> bytes:
        """Sign ``data`` (Ed25519) with the attestation key ``key_id``; ``KeyError`` if the store lacks it."""

    def attestation_public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every attestation public key the store holds, current and retired, by key id."""

    def attestation_public_key(self, key_id: str) -> Ed25519PublicKey:
        """The attestation public key ``key_id``; ``KeyError`` if the store does not hold it."""

    async def aattestation_public_key(self, key_id: str) -> Ed25519PublicKey:
        """`attestation_public_key`; a key id not held makes the device be read again off the event loop."""
