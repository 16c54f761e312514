"""Object identifiers and names of the NCA RK profile (see shared/docs/KZ-PKI.md §1-§3)."""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal

Family = Literal["gost2015", "rsa"]
FAMILIES: Final[tuple[Family, ...]] = ("gost2015", "rsa")

# Algorithms (KZ-PKI.md §2).
GOST2015_KEY: Final = "1.2.398.3.10.1.1.2.2"
GOST2015_512_CURVE: Final = "1.2.398.3.10.1.1.2.2.1"
GOST2015_512_SIGNATURE: Final = "1.2.398.3.10.1.1.2.3.2"
STREEBOG_256: Final = "1.2.398.3.10.1.3.2"
STREEBOG_512: Final = "1.2.398.3.10.1.3.3"
SHA256: Final = "2.16.840.1.101.3.4.2.1"

# Certificate policies and the non-critical key-store-info extension seen on GOST-2015 certificates.
POLICY_GOST2015: Final = "1.2.398.3.3.2"
CPS_URL: Final = "http://pki.gov.kz/cps"
NCA_KEYSTORE_INFO: Final = "1.2.398.3.3.5"
NCA_KEYSTORE_INFO_VALUE: Final = bytes.fromhex("300a06082a830e0303050101")

# RFC 3161 policies: the GOST-2015 one is NCA's; the RSA one is the simulator's own choice
# (NCA publishes no RSA TSA policy in the material we have).
TSA_POLICY_GOST2015: Final = "1.2.398.3.3.2.6.4"
TSA_POLICY_RSA: Final = "1.2.398.3.3.2.6.2"

EKU_EMAIL_PROTECTION: Final = "1.3.6.1.5.5.7.3.4"
EKU_CLIENT_AUTH: Final = "1.3.6.1.5.5.7.3.2"
EKU_OCSP_SIGNING: Final = "1.3.6.1.5.5.7.3.9"
EKU_TIME_STAMPING: Final = "1.3.6.1.5.5.7.3.8"


class Role(StrEnum):
    """Holder roles carried in the extended key usage (arc 1.2.398.3.3.4, KZ-PKI.md §1)."""

    INDIVIDUAL = "individual"
    CEO = "ceo"
    SIGN = "sign"
    SIGN_FINANCIAL = "sign_financial"
    HR = "hr"
    EMPLOYEE = "employee"


ROLE_INDIVIDUAL: Final = "1.2.398.3.3.4.1.1"
ROLE_LEGAL_ENTITY: Final = "1.2.398.3.3.4.1.2"
ROLE_OIDS: Final[dict[Role, tuple[str, ...]]] = {
    Role.INDIVIDUAL: (ROLE_INDIVIDUAL,),
    Role.CEO: (ROLE_LEGAL_ENTITY, "1.2.398.3.3.4.1.2.1"),
    Role.SIGN: (ROLE_LEGAL_ENTITY, "1.2.398.3.3.4.1.2.2"),
    Role.SIGN_FINANCIAL: (ROLE_LEGAL_ENTITY, "1.2.398.3.3.4.1.2.3"),
    Role.HR: (ROLE_LEGAL_ENTITY, "1.2.398.3.3.4.1.2.4"),
    Role.EMPLOYEE: (ROLE_LEGAL_ENTITY, "1.2.398.3.3.4.1.2.5"),
}


class Identification(StrEnum):
    """How the holder was identified before issuance (EKU 1.2.398.3.3.4.3.x)."""

    NONE = "none"
    IN_PERSON = "in_person"
    REMOTE = "remote"


IDENTIFICATION_OIDS: Final[dict[Identification, tuple[str, ...]]] = {
    Identification.NONE: (),
    Identification.IN_PERSON: ("1.2.398.3.3.4.3.1",),
    Identification.REMOTE: ("1.2.398.3.3.4.3.2",),
}

# CA names in the NCA test style (KZ-PKI.md §3); longer than 64 characters in UTF-8.
ROOT_NAMES: Final[dict[Family, str]] = {
    "gost2015": "НЕГІЗГІ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (GOST) TEST 2022",
    "rsa": "НЕГІЗГІ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (RSA) TEST 2022",
}
INTERMEDIATE_NAMES: Final[dict[Family, str]] = {
    "gost2015": "ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (GOST) TEST 2022",
    "rsa": "ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (RSA) TEST 2022",
}
# File stems used in the simulator's URLs, after NCA's test layout (/cert/nca_gost2022_test.cer).
ROOT_STEMS: Final[dict[Family, str]] = {"gost2015": "root_gost2022_test", "rsa": "root_rsa2022_test"}
INTERMEDIATE_STEMS: Final[dict[Family, str]] = {"gost2015": "nca_gost2022_test", "rsa": "nca_rsa2022_test"}
OCSP_RESPONDER_CN: Final = "OCSP RESPONDER"
TSA_CN: Final = "СЕРВИС МЕТКИ ВРЕМЕНИ"
