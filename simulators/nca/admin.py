"""Test-only JSON operations: issue a certificate for anyone, revoke a serial, list the population."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509 as pyca_x509
from cryptography.hazmat.primitives import serialization

from simulators.nca import people
from simulators.nca.issue import Holder
from simulators.nca.keys import Signer
from simulators.nca.keystore import DEFAULT_PASSWORD, keystore
from simulators.nca.oids import FAMILIES, Family, Identification, Role
from simulators.nca.pki import Issued, Pki

_HOLDER_FIELDS = ("iin", "surname", "first_name", "patronymic", "email", "bin", "organization")


def _str_or_none(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key} must be a string")
    return value


def _time(data: dict[str, Any], key: str) -> datetime | None:
    text = _str_or_none(data, key)
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{key} must carry a time zone (e.g. 2026-01-01T00:00:00Z)")
    return moment.astimezone(UTC)


def _choice(kind: type[Role] | type[Identification], value: Any, name: str) -> Any:
    """An enum member, or a ValueError that lists the accepted values (the 400 answer's detail)."""
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{name} must be one of {[m.value for m in kind]}") from None


def _family(value: Any) -> Family:
    for family in FAMILIES:
        if value == family:
            return family
    raise ValueError(f"algorithm must be one of {list(FAMILIES)}")


def parse_serial(value: Any) -> int:
    """A serial as JSON sends it: an integer, or a hex string (colons and 0x allowed)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return int(value.replace(":", "").removeprefix("0x"), 16)
    raise TypeError("serial must be an integer or a hex string")


def describe(issued: Issued) -> dict[str, Any]:
    cert = issued.certificate
    validity = cert["tbs_certificate"]["validity"]
    rev = issued.revocation
    return {
        "family": issued.family,
        "serial": f"{issued.serial:x}",
        "not_before": validity["not_before"].native.isoformat(),
        "not_after": validity["not_after"].native.isoformat(),
        "revoked": rev is not None,
        "revocation": None if rev is None else {"reason": rev.reason, "time": rev.revoked_at.isoformat()},
        "certificate": base64.b64encode(cert.dump()).decode("ascii"),
    }


def requested_family(data: dict[str, Any]) -> Family:
    return _family(data.get("algorithm", "gost2015"))


def issue_from_json(pki: Pki, data: dict[str, Any], *, signer: Signer | None = None) -> dict[str, Any]:
    """POST /admin/issue: {iin, surname, first_name, patronymic?, email?, bin?, organization?,
    role?, identification?, algorithm, validity_days? | not_before?/not_after?, client_auth?,
    password?, person?} → the certificate, a PKCS#12 keystore and the key as PKCS#8 PEM.

    Only iin, surname and first_name are required: algorithm defaults to gost2015 (or rsa), role to
    individual (employee when a bin is given; ceo, sign, sign_financial, hr for other legal roles, which
    need the bin), identification to in_person, the password to Qwerty12. ``python -m simulators.nca
    issue`` fills these from the simulated population."""
    fields = {k: _str_or_none(data, k) for k in _HOLDER_FIELDS}
    for required in ("iin", "surname", "first_name"):
        if not fields[required]:
            raise ValueError(f"{required} is required")
    default_role = Role.INDIVIDUAL if fields["bin"] is None else Role.EMPLOYEE
    holder = Holder(
        iin=fields["iin"] or "",
        surname=fields["surname"] or "",
        first_name=fields["first_name"] or "",
        patronymic=fields["patronymic"],
        email=fields["email"],
        bin=fields["bin"],
        organization=fields["organization"],
        role=_choice(Role, data.get("role", default_role), "role"),
        identification=_choice(Identification, data.get("identification", Identification.IN_PERSON), "identification"),
    )
    family = requested_family(data)
    not_before = _time(data, "not_before")
    not_after = _time(data, "not_after")
    if "validity_days" in data:
        days = data["validity_days"]
        if not isinstance(days, int) or isinstance(days, bool) or not 0 < days <= 3650:
            raise ValueError("validity_days must be an integer from 1 to 3650")
        not_after = (not_before or pki.clock()) + timedelta(days=days)
    password = _str_or_none(data, "password") or DEFAULT_PASSWORD
    issued = pki.issue(
        holder,
        family,
        person=_str_or_none(data, "person"),
        not_before=not_before,
        not_after=not_after,
        client_auth=bool(data.get("client_auth", False)),
        signer=signer,
    )
    result = describe(issued)
    result.update(
        {
            "iin_valid": people.is_valid_identifier(holder.iin),
            "password": password,
            "p12": base64.b64encode(keystore(issued, password)).decode("ascii"),
            "private_key_pem": _pkcs8_pem(issued.private_key),
            "certificate_pem": pyca_x509.load_der_x509_certificate(issued.certificate.dump())
            .public_bytes(serialization.Encoding.PEM)
            .decode("ascii"),
        }
    )
    return result


def _pkcs8_pem(der: bytes) -> str:
    body = base64.encodebytes(der).decode("ascii").replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----\n"


def revoke_from_json(pki: Pki, data: dict[str, Any]) -> dict[str, Any]:
    """POST /admin/revoke: {serial, reason?, time?, publish_base?} → the revocation and CRL numbers.
    With publish_base false only a new delta CRL carries the revocation (the base CRL stays)."""
    serial = parse_serial(data.get("serial"))
    reason = _str_or_none(data, "reason") or "unspecified"
    issued = pki.revoke(serial, reason, _time(data, "time"), publish_base=bool(data.get("publish_base", True)))
    marks = pki.marks[issued.family]
    result = describe(issued)
    result.update({"crl_number": marks.base_number, "delta_crl_number": marks.delta_number})
    return result


def summary(pki: Pki) -> dict[str, Any]:
    """GET /people: the population with their certificates, plus every CA and service certificate."""
    persons: dict[str, dict[str, Any]] = {}
    for issued in pki.issued.values():
        if issued.person is None:
            continue
        h = issued.holder
        entry = persons.setdefault(
            issued.person,
            {
                "id": issued.person,
                "iin": h.iin,
                "iin_valid": people.is_valid_identifier(h.iin),
                "surname": h.surname,
                "first_name": h.first_name,
                "patronymic": h.patronymic,
                "email": h.email,
                "bin": h.bin,
                "organization": h.organization,
                "role": h.role.value,
                "identification": h.identification.value,
                "certificates": [],
            },
        )
        cert = describe(issued)
        cert["p12_url"] = f"/people/{issued.person}/{issued.family}.p12"
        entry["certificates"].append(cert)
    cas = {
        fam.family: {
            part: base64.b64encode(getattr(fam, part).certificate.dump()).decode("ascii")
            for part in ("root", "intermediate", "ocsp", "tsa")
        }
        | {"root_url": pki.urls.cert(fam.root_stem), "intermediate_url": pki.urls.cert(fam.stem)}
        for fam in pki.families.values()
    }
    return {"people": list(persons.values()), "cas": cas, "default_password": DEFAULT_PASSWORD}
