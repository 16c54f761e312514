"""The GOST start-up check: import this package's C verifier and load OpenSSL's Streebog provider and gost
engine, and run their vectors once, so the first request does not pay for it and the log says which path
verifies GOST."""

from __future__ import annotations

import logging

from authsvc.pki.gost.engine import engine_curves
from authsvc.pki.gost.fastpath import openssl_fast_path_active
from authsvc.pki.gost.native import native_curves

__all__ = ["prepare"]

log = logging.getLogger(__name__)


def prepare() -> tuple[frozenset[str], bool]:
    """(curves the engine verifies, whether OpenSSL computes Streebog); both empty/False when absent."""
    native, curves, streebog = native_curves(), engine_curves(), openssl_fast_path_active()
    log.info(
        "GOST verification: C on %d curves, engine on %d curves, Streebog by %s",
        len(native),
        len(curves),
        "OpenSSL" if streebog else "pure Python",
    )
    return curves, streebog
