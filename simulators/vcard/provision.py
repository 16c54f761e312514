"""Load a card with keys and NCA-profile certificates from the NCA test-PKI simulator's own state
(`simulators.nca.pki.Pki`, the same state directory `python -m simulators.nca --state-dir` uses):

    9A  RSA-2048     certificate from the RSA CA (PIV authentication; client auth EKU)
    9C  ECC P-256    certificate from the RSA CA (digital signature; NCA issues no EC keys, so its
                     RSA intermediate certifies the P-256 key in the same NCA profile)
    82  GOST-2015-512 certificate from the GOST-2015 CA (what NCA puts on ID cards; signed only by
                     raw APDUs, algorithm reference D2, see `simulators.vcard.keys`)

Each certificate is recorded in the simulator's issued list, so its OCSP responder answers "good"
once it (re)loads the state: provision before starting the NCA simulator, or restart it after.
`provision_online` asks a running simulator instead, for any holder (a registered client's IIN)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from simulators.nca import people
from simulators.nca.ca import Urls
from simulators.nca.issue import Holder, issue_end_entity
from simulators.nca.pki import LEAF_LIFETIME, Issued, Pki
from simulators.vcard.profile import (
    DEFAULT_PIN,
    DEFAULT_PUK,
    SLOT_PIV_AUTH,
    SLOT_RETIRED_1,
    SLOT_SIGNATURE,
    CardProfile,
    SlotContent,
)

DEFAULT_NCA_URL = "http://127.0.0.1:8701"


def _ec_certificate(pki: Pki, holder: Holder) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    spki = asn1_keys.PublicKeyInfo.load(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    start = pki.clock() - timedelta(minutes=5)
    cert = issue_end_entity(
        pki.families["rsa"], holder, spki, urls=pki.urls, not_before=start, not_after=start + LEAF_LIFETIME
    )
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    issued = Issued("rsa", cert, pkcs8, holder)
    pki.issued[issued.serial] = issued
    return issued


def provision(
    nca_state_dir: Path,
    *,
    person: str = "individual",
    nca_url: str = DEFAULT_NCA_URL,
    pin: str = DEFAULT_PIN,
    puk: str = DEFAULT_PUK,
) -> CardProfile:
    """A card for one of the NCA simulator's built-in people (`simulators.nca.people.BUILTIN`)."""
    holder = people.BUILTIN.get(person)
    if holder is None:
        raise ValueError(f"unknown person {person!r}; one of {sorted(people.BUILTIN)}")
    if not (pin.isdigit() and 6 <= len(pin) <= 8) or len(puk) != 8:
        raise ValueError("the PIN is 6-8 digits and the PUK 8 characters")
    pki = Pki.open(Urls(nca_url), nca_state_dir, lambda: datetime.now(UTC))
    rsa_cert = pki.issue(holder, "rsa", client_auth=True, save=False)
    gost_cert = pki.issue(holder, "gost2015", save=False)
    ec_cert = _ec_certificate(pki, holder)
    pki.save()
    slots = {
        SLOT_PIV_AUTH: SlotContent(rsa_cert.private_key, rsa_cert.certificate.dump()),
        SLOT_SIGNATURE: SlotContent(ec_cert.private_key, ec_cert.certificate.dump()),
        SLOT_RETIRED_1: SlotContent(gost_cert.private_key, gost_cert.certificate.dump()),
    }
    name = f"{holder.surname} {holder.first_name}"
    return CardProfile(holder=name, pin=pin, puk=puk, slots=slots)


def _pem_der(pem: str) -> bytes:
    body = "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))
    return base64.b64decode(body)


def provision_online(
    nca_url: str,
    *,
    iin: str,
    surname: str,
    first_name: str,
    patronymic: str | None = None,
    pin: str = DEFAULT_PIN,
    puk: str = DEFAULT_PUK,
) -> CardProfile:
    """A card for any holder, issued by a *running* NCA simulator over its admin route (``POST
    /admin/issue``, as ``python -m simulators.nca issue`` does), so its OCSP knows the certificates at once:

        9A  RSA-2048       PIV authentication (client auth EKU)
        82  GOST-2015-512  signed only by raw APDUs (algorithm reference D2)

    Slot 9C stays empty: the simulator's admin route issues RSA and GOST keys only."""
    if not (pin.isdigit() and 6 <= len(pin) <= 8) or len(puk) != 8:
        raise ValueError("the PIN is 6-8 digits and the PUK 8 characters")
    base = {"iin": iin, "surname": surname, "first_name": first_name}
    if patronymic:
        base["patronymic"] = patronymic
    slots = {}
    for slot, extra in (
        (SLOT_PIV_AUTH, {"algorithm": "rsa", "client_auth": True}),
        (SLOT_RETIRED_1, {"algorithm": "gost2015"}),
    ):
        request = urllib.request.Request(
            nca_url.rstrip("/") + "/admin/issue",
            data=json.dumps(base | extra).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # the local test-PKI simulator
                answer = json.load(response)
        except urllib.error.HTTPError as exc:
            raise ValueError(f"the NCA simulator refused to issue: {exc.read().decode(errors='replace')}") from exc
        except OSError as exc:
            raise ConnectionError(f"the NCA simulator at {nca_url} does not answer: {exc}") from exc
        slots[slot] = SlotContent(_pem_der(answer["private_key_pem"]), base64.b64decode(answer["certificate"]))
    return CardProfile(holder=f"{surname} {first_name}", pin=pin, puk=puk, slots=slots)
