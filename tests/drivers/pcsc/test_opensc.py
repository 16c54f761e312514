"""The card speaks real PIV: OpenSC's PKCS#11 module finds it through pcscd and signs with it,
and OpenSSL — an independent verifier — accepts the signatures under the NCA certificates (R-2.8)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.drivers.pcsc.conftest import Lab
from tests.simulators.vcard.fixtures import Emulator

OPENSC = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"


def tool(lab: Lab, *args: str) -> str:
    done = subprocess.run(
        ["pkcs11-tool", "--module", OPENSC, "--slot-index", "0", *args],
        env=lab.client_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_pkcs11_tool_lists_the_card_and_its_nca_certificates(lab: Lab, card0: Emulator) -> None:
    slots = subprocess.run(
        ["pkcs11-tool", "--module", OPENSC, "--list-slots"],
        env=lab.client_env(), capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "Virtual PCD 00 00" in slots and "СЕРІКОВ АРМАН" in slots
    objects = tool(lab, "--list-objects", "--type", "cert")
    assert "Certificate for PIV Authentication" in objects
    assert "Certificate for Digital Signature" in objects
    assert objects.count("serialNumber=IIN900101300126") == 2  # the GOST key in slot 82 stays OpenSC-invisible


@pytest.mark.parametrize(
    ("key_id", "mechanism", "extra"),
    [("01", "SHA256-RSA-PKCS", []), ("02", "ECDSA-SHA256", ["--signature-format", "openssl"])],
    ids=["rsa-2048", "ecc-p256"],
)
def test_pkcs11_tool_signs_and_openssl_verifies(
    lab: Lab, card0: Emulator, tmp_path: Path, key_id: str, mechanism: str, extra: list[str]
) -> None:
    data = tmp_path / "contract.txt"
    data.write_bytes("Договор микрокредита № 42".encode())
    signature, cert_der, pubkey = tmp_path / "sig", tmp_path / "cert.der", tmp_path / "pub.pem"
    tool(lab, "--login", "--pin", lab.profile.pin, "--sign", "--id", key_id, "-m", mechanism,
         "-i", str(data), "-o", str(signature), *extra)  # fmt: skip
    tool(lab, "--read-object", "--type", "cert", "--id", key_id, "-o", str(cert_der))
    slot = 0x9A if key_id == "01" else 0x9C
    assert cert_der.read_bytes() == lab.profile.slots[slot].certificate  # the NCA certificate, unchanged
    pem = x509.load_der_x509_certificate(cert_der.read_bytes()).public_key()
    pubkey.write_bytes(pem.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    verdict = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", str(pubkey), "-signature", str(signature), str(data)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert verdict.stdout.strip() == "Verified OK", verdict.stderr
    data.write_bytes(b"tampered")
    tampered = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", str(pubkey), "-signature", str(signature), str(data)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert tampered.returncode != 0


def test_pkcs11_tool_wrong_pin_is_refused(lab: Lab, fresh_card: Emulator, tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.write_bytes(b"x")
    done = subprocess.run(
        ["pkcs11-tool", "--module", OPENSC, "--slot-index", "1", "--login", "--pin", "000000", "--sign",
         "--id", "01", "-m", "SHA256-RSA-PKCS", "-i", str(data), "-o", str(tmp_path / "s")],
        env=lab.client_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0 and "CKR_PIN_INCORRECT" in done.stderr + done.stdout
    assert fresh_card.call("/status")["pin_tries_left"] == 2
