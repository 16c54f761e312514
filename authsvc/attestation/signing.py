"""The attestation signature made off the event loop (issue 12: device calls never run on it).

`KeyStore` has no awaitable form of ``sign_attestation`` (the other device calls have theirs): the key file
signs in software at once (an Ed25519 signature, ≈50 µs, less than a thread hop), any other store (the
PKCS#11 token) on a worker thread, where its own lock and timeout still bound the wait for the device.
"""

from __future__ import annotations

import asyncio

from authsvc.crypto.keystore import KeyStore
from authsvc.crypto.local_keys import LocalKeyStore


async def sign_attestation(keys: KeyStore, key_id: str, data: bytes) -> bytes:
    if isinstance(keys, LocalKeyStore):
        return keys.sign_attestation(key_id, data)
    return await asyncio.to_thread(keys.sign_attestation, key_id, data)
