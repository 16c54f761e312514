"""The service's own keys and envelope encryption (R-7.3b-ii, R-12.2).

`KeyStore` is what the service needs from its keys — the key-encryption key that wraps each record's data key,
the index (HMAC) key and the audit-signing key — whatever holds them: a local key file (`LocalKeyStore`, the
embedded default) or a PKCS#11 token (`pkcs11_keys`, chosen by ``[keys] backend``); `open_keystore` picks one.
`RecordCipher` seals personal data under a record's data key with AES-256-GCM.
"""

from authsvc.crypto.envelope import RecordCipher, WrappedKey
from authsvc.crypto.factory import open_keystore
from authsvc.crypto.keystore import KeyStore
from authsvc.crypto.local_keys import LocalKeyStore, load_key_file

__all__ = [
    "KeyStore",
    "LocalKeyStore",
    "RecordCipher",
    "WrappedKey",
    "load_key_file",
    "open_keystore",
]
