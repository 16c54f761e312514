"""Shared access to the NCA test-PKI fixtures and their pinned validation times (fixtures README)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from authsvc.pki.path import PathValidator
from tests.shared import fixture_path

# Every fixture certificate has expired: each set is judged at the moment its README pins.
AT_2004: datetime = datetime(2022, 6, 1, tzinfo=UTC)
AT_VALID_SIGN_2004: datetime = datetime(2021, 6, 1, tzinfo=UTC)
AT_2015: datetime = datetime(2022, 8, 1, tzinfo=UTC)
AT_DANIKARIK: datetime = datetime(2020, 6, 1, tzinfo=UTC)

RSA_CA = ("ncanode", "ca", "nca_rsa_test.crt")
GOST_2004_CA = ("ncanode", "ca", "nca_gost_test.crt")
GOST_2015_CA = ("ncanode", "ca", "nca_gost2015_test.cer")


def read(*parts: str) -> bytes:
    return fixture_path("nca", *parts).read_bytes()


@cache
def nca_validator() -> PathValidator:
    """The three NCA test CAs pinned as trust anchors (their roots are not shipped)."""
    return PathValidator([read(*RSA_CA), read(*GOST_2004_CA), read(*GOST_2015_CA)])
