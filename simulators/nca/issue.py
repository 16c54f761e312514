"""End-entity certificates in the NCA RK profile (KZ-PKI.md §1): subject attributes, key usage,
role EKUs, policy, AIA/CDP/freshest-CRL pointing at the simulator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asn1crypto import keys, x509

from simulators.nca import certs, oids
from simulators.nca.ca import CaFamily, Urls
from simulators.nca.oids import Identification, Role


@dataclass(frozen=True)
class Holder:
    """Who a certificate is for. `bin`/`organization` make it a legal-entity certificate."""

    iin: str
    surname: str
    first_name: str
    patronymic: str | None = None
    email: str | None = None
    bin: str | None = None
    organization: str | None = None
    role: Role = Role.INDIVIDUAL
    identification: Identification = Identification.IN_PERSON

    def __post_init__(self) -> None:
        if len(self.iin) != 12 or not self.iin.isdigit():
            raise ValueError("iin must be 12 digits")
        if self.bin is not None and (len(self.bin) != 12 or not self.bin.isdigit()):
            raise ValueError("bin must be 12 digits")
        if (self.role is Role.INDIVIDUAL) != (self.bin is None):
            raise ValueError("a legal-entity role needs a bin, and an individual has none")
        if not self.surname.strip() or not self.first_name.strip():
            raise ValueError("surname and first_name are required")

    def subject_name(self) -> x509.Name:
        """NCA's attribute order: CN, SURNAME, SERIALNUMBER, C, O, OU, GIVENNAME (patronymic), E."""
        attributes = [
            ("common_name", f"{self.surname} {self.first_name}".upper()),
            ("surname", self.surname.upper()),
            ("serial_number", f"IIN{self.iin}"),
            ("country_name", "KZ"),
        ]
        if self.bin is not None:
            attributes.append(("organization_name", self.organization or f"BIN{self.bin}"))
            attributes.append(("organizational_unit_name", f"BIN{self.bin}"))
        if self.patronymic:
            attributes.append(("given_name", self.patronymic.upper()))
        if self.email:
            attributes.append(("email_address", self.email))
        return certs.build_name(attributes)

    def ekus(self, *, client_auth: bool) -> list[str]:
        purposes = [oids.EKU_EMAIL_PROTECTION]
        if client_auth:
            purposes.append(oids.EKU_CLIENT_AUTH)
        purposes.extend(oids.ROLE_OIDS[self.role])
        purposes.extend(oids.IDENTIFICATION_OIDS[self.identification])
        return purposes


def issue_end_entity(
    ca: CaFamily,
    holder: Holder,
    public_key: keys.PublicKeyInfo,
    *,
    urls: Urls,
    not_before: datetime,
    not_after: datetime,
    client_auth: bool = False,
) -> x509.Certificate:
    """One certificate for signing and log-in alike, as current NCA keys are (KZ-PKI.md §1)."""
    if not_after <= not_before:
        raise ValueError("not_after must be later than not_before")
    inter = ca.intermediate
    extensions = [
        certs.key_usage({"digital_signature", "non_repudiation", "key_encipherment"}),
        certs.extended_key_usage(holder.ekus(client_auth=client_auth)),
        certs.policies(),
        certs.authority_info_access(ocsp_url=urls.ocsp, ca_issuers_url=urls.cert(ca.stem)),
        certs.crl_distribution_points(urls.crl(ca.stem)),
        certs.freshest_crl(urls.delta_crl(ca.stem)),
        certs.subject_key_identifier(public_key),
        certs.authority_key_identifier(inter.key_id),
    ]
    if ca.family == "gost2015":
        extensions.append(certs.keystore_info())
    return certs.build_certificate(
        issuer=inter.signer,
        issuer_name=inter.name,
        subject_name=holder.subject_name(),
        public_key=public_key,
        not_before=not_before,
        not_after=not_after,
        extensions=extensions,
    )
