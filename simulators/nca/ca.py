"""One family of the simulated NCA test PKI: root → intermediate ("ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ"),
plus the intermediate's delegated OCSP responder and its time-stamping authority (KZ-PKI.md §3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import x509

from simulators.nca import certs, keys, oids
from simulators.nca.keys import Signer
from simulators.nca.oids import Family

ROOT_LIFETIME = timedelta(days=3650)
INTERMEDIATE_LIFETIME = timedelta(days=3650 - 7)
SERVICE_LIFETIME = timedelta(days=3 * 365)


@dataclass(frozen=True)
class Urls:
    """Where issued certificates point: the simulator's own base URL in NCA's test layout."""

    base_url: str

    def _join(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    @property
    def ocsp(self) -> str:
        return self._join("/ocsp/")

    def cert(self, stem: str) -> str:
        return self._join(f"/cert/{stem}.cer")

    def crl(self, stem: str) -> str:
        return self._join(f"/crl/{stem}.crl")

    def delta_crl(self, stem: str) -> str:
        return self._join(f"/crl/{stem}_d.crl")


@dataclass
class KeyAndCert:
    """A CA or service key with its certificate; the key is parsed on first use (loading a
    saved state stays cheap: no RSA key checks or GOST point multiplications up front)."""

    certificate: x509.Certificate
    family: Family
    pkcs8: bytes
    _signer: Signer | None = None

    @classmethod
    def of(cls, signer: Signer, certificate: x509.Certificate) -> KeyAndCert:
        return cls(certificate, signer.family, signer.private_key_pkcs8(), signer)

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            self._signer = keys.load(self.family, self.pkcs8)
        return self._signer

    @property
    def key_id(self) -> bytes:
        return certs.key_identifier(self.certificate.public_key)

    @property
    def name(self) -> x509.Name:
        return self.certificate.subject


@dataclass
class CaFamily:
    """The CA chain and service certificates of one algorithm family."""

    family: Family
    root: KeyAndCert
    intermediate: KeyAndCert
    ocsp: KeyAndCert
    tsa: KeyAndCert

    @property
    def root_stem(self) -> str:
        return oids.ROOT_STEMS[self.family]

    @property
    def stem(self) -> str:
        return oids.INTERMEDIATE_STEMS[self.family]

    @property
    def tsa_policy(self) -> str:
        return oids.TSA_POLICY_GOST2015 if self.family == "gost2015" else oids.TSA_POLICY_RSA


def _gost_only(family: Family) -> list[x509.Extension]:
    return [certs.keystore_info()] if family == "gost2015" else []


def _issue_root(family: Family, now: datetime) -> KeyAndCert:
    signer = keys.generate(family)
    name = certs.build_name([("common_name", oids.ROOT_NAMES[family]), ("country_name", "KZ")])
    spki = signer.public_key_info()
    cert = certs.build_certificate(
        issuer=signer,
        issuer_name=name,
        subject_name=name,
        public_key=spki,
        not_before=now - timedelta(days=1),
        not_after=now + ROOT_LIFETIME,
        extensions=[
            certs.basic_constraints(ca=True),
            certs.key_usage({"key_cert_sign", "crl_sign"}),
            certs.subject_key_identifier(spki),
        ],
    )
    return KeyAndCert.of(signer, cert)


def _issue_intermediate(root: KeyAndCert, urls: Urls, now: datetime) -> KeyAndCert:
    family = root.signer.family
    signer = keys.generate(family)
    spki = signer.public_key_info()
    cert = certs.build_certificate(
        issuer=root.signer,
        issuer_name=root.name,
        subject_name=certs.build_name([("common_name", oids.INTERMEDIATE_NAMES[family]), ("country_name", "KZ")]),
        public_key=spki,
        not_before=now - timedelta(days=1),
        not_after=now + INTERMEDIATE_LIFETIME,
        extensions=[
            certs.basic_constraints(ca=True, path_len=0),
            certs.key_usage({"key_cert_sign", "crl_sign"}),
            certs.crl_distribution_points(urls.crl(oids.ROOT_STEMS[family])),
            certs.subject_key_identifier(spki),
            certs.authority_key_identifier(root.key_id),
            certs.authority_info_access(ocsp_url=None, ca_issuers_url=urls.cert(oids.ROOT_STEMS[family])),
            certs.policies(),
        ],
    )
    return KeyAndCert.of(signer, cert)


def _issue_ocsp_responder(inter: KeyAndCert, now: datetime) -> KeyAndCert:
    """A delegated responder as NCA runs it: EKU OCSPSigning, id-pkix-ocsp-nocheck, named by CN."""
    family = inter.signer.family
    signer = keys.generate(family)
    spki = signer.public_key_info()
    subject = certs.build_name(
        [
            ("common_name", oids.OCSP_RESPONDER_CN),
            ("country_name", "KZ"),
            ("organization_name", oids.INTERMEDIATE_NAMES[family]),
        ]
    )
    cert = certs.build_certificate(
        issuer=inter.signer,
        issuer_name=inter.name,
        subject_name=subject,
        public_key=spki,
        not_before=now - timedelta(days=1),
        not_after=now + SERVICE_LIFETIME,
        extensions=[
            certs.key_usage({"digital_signature"}, critical=False),
            certs.ocsp_no_check(),
            certs.extended_key_usage([oids.EKU_OCSP_SIGNING]),
            certs.subject_key_identifier(spki),
            certs.authority_key_identifier(inter.key_id),
            *_gost_only(family),
        ],
    )
    return KeyAndCert.of(signer, cert)


def _issue_tsa(inter: KeyAndCert, urls: Urls, now: datetime) -> KeyAndCert:
    """The time-stamping unit: EKU timeStamping, critical, as RFC 3161 §2.3 requires."""
    family = inter.signer.family
    signer = keys.generate(family)
    spki = signer.public_key_info()
    subject = certs.build_name(
        [
            ("common_name", oids.TSA_CN),
            ("country_name", "KZ"),
            ("organization_name", oids.INTERMEDIATE_NAMES[family]),
        ]
    )
    cert = certs.build_certificate(
        issuer=inter.signer,
        issuer_name=inter.name,
        subject_name=subject,
        public_key=spki,
        not_before=now - timedelta(days=1),
        not_after=now + SERVICE_LIFETIME,
        extensions=[
            certs.key_usage({"digital_signature", "non_repudiation"}),
            certs.extended_key_usage([oids.EKU_TIME_STAMPING], critical=True),
            certs.subject_key_identifier(spki),
            certs.authority_key_identifier(inter.key_id),
            certs.authority_info_access(ocsp_url=urls.ocsp, ca_issuers_url=urls.cert(oids.INTERMEDIATE_STEMS[family])),
            certs.crl_distribution_points(urls.crl(oids.INTERMEDIATE_STEMS[family])),
            *_gost_only(family),
        ],
    )
    return KeyAndCert.of(signer, cert)


def create_family(family: Family, urls: Urls, now: datetime) -> CaFamily:
    """Generate a whole family once; the state module persists it so restarts keep the same CA."""
    root = _issue_root(family, now)
    inter = _issue_intermediate(root, urls, now)
    return CaFamily(family, root, inter, _issue_ocsp_responder(inter, now), _issue_tsa(inter, urls, now))
