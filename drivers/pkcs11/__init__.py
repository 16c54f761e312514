"""PKCS#11 tokens (R-2.2, R-2.10, R-7.3a): load any vendor module by path, list slots and tokens, log in
with a PIN or the reader's PIN pad, find certificate/key pairs and whose they are, sign and build the
CMS the service accepts. Device errors are `TokenError`s with a sentence (see `errors`).

    Module (module.py)          the loaded library: slots(), tokens(), token(label=, serial=)
    TokenSession (session.py)   blocking: login(), credentials(), sign(); reopens after a removal
    AsyncToken (worker.py)      the same from asyncio, on one dedicated thread per token
    build_cms (cms.py)          NCALayer-style CMS around a token signature
    provision (provision.py)    `python -m drivers.pkcs11.provision`: a SoftHSM2 token with test-PKI keys
"""

from drivers.pkcs11.cms import build_cms
from drivers.pkcs11.credentials import Credential, Holder
from drivers.pkcs11.errors import (
    DeviceError,
    KeyNotFound,
    MechanismNotSupported,
    ModuleNotFound,
    NotAPkcs11Module,
    NotLoggedIn,
    NoToken,
    PinEntryCancelled,
    PinIncorrect,
    PinInvalid,
    PinLocked,
    TokenError,
    TokenRemoved,
)
from drivers.pkcs11.module import Module, SlotInfo, TokenInfo
from drivers.pkcs11.session import TokenSession
from drivers.pkcs11.worker import AsyncToken

__all__ = [
    "AsyncToken",
    "Credential",
    "DeviceError",
    "Holder",
    "KeyNotFound",
    "MechanismNotSupported",
    "Module",
    "ModuleNotFound",
    "NoToken",
    "NotAPkcs11Module",
    "NotLoggedIn",
    "PinEntryCancelled",
    "PinIncorrect",
    "PinInvalid",
    "PinLocked",
    "SlotInfo",
    "TokenError",
    "TokenInfo",
    "TokenRemoved",
    "TokenSession",
    "build_cms",
]
