"""Provisioning: the card's certificates are NCA-profile certificates issued by the NCA simulator's
CAs, recorded in its state (so its OCSP knows them), with keys that match."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from authsvc.pki import gost
from simulators.nca.ca import Urls
from simulators.nca.pki import Pki
from simulators.vcard.keys import EcCardKey, GostCardKey, RsaCardKey, load_key
from simulators.vcard.profile import CardProfile
from tests.simulators.vcard.fixtures import NCA_URL


def test_slots_hold_nca_certificates_for_their_keys(nca_card_state: tuple[Path, CardProfile]) -> None:
    state, profile = nca_card_state
    pki = Pki.open(Urls(NCA_URL), state, lambda: datetime.now(UTC))
    rsa_ca = x509.load_der_x509_certificate(pki.families["rsa"].intermediate.certificate.dump())
    for slot in (0x9A, 0x9C):
        cert = x509.load_der_x509_certificate(profile.slots[slot].certificate)
        cert.verify_directly_issued_by(rsa_ca)
        assert "IIN900101300126" in cert.subject.rfc4514_string()
        assert int(cert.serial_number) in pki.issued
        key = load_key(profile.slots[slot].pkcs8)
        public = cert.public_key()
        if slot == 0x9A:
            assert isinstance(key, RsaCardKey) and isinstance(public, rsa.RSAPublicKey)
            assert key.key.public_key().public_numbers() == public.public_numbers()
        else:
            assert isinstance(key, EcCardKey) and isinstance(public, ec.EllipticCurvePublicKey)
            assert key.key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ) == public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    gost_cert = asn1_x509.Certificate.load(profile.slots[0x82].certificate)
    inter = pki.families["gost2015"].intermediate.certificate
    spki = inter["tbs_certificate"]["subject_public_key_info"].dump()
    tbs = gost_cert["tbs_certificate"].dump()
    assert gost.verify(spki, "1.2.398.3.10.1.1.2.3.2", tbs, gost_cert["signature_value"].native)
    assert int(gost_cert.serial_number) in pki.issued
    assert isinstance(load_key(profile.slots[0x82].pkcs8), GostCardKey)


def test_profile_file_round_trip_is_private(tmp_path: Path, profile: CardProfile) -> None:
    path = tmp_path / "card" / "card.json"
    profile.save(path)
    assert path.stat().st_mode & 0o077 == 0  # private keys: owner only
    again = CardProfile.read(path)
    assert again.dump() == profile.dump()
    assert set(json.loads(path.read_text())["slots"]) == {"9A", "9C", "82"}
