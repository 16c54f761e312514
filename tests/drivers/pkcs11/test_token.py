"""The PKCS#11 driver against real SoftHSM2: tokens made by the provisioning command, NCA's own RSA test
keystore and an EC key on the token, CMS checked by OpenSSL as an independent peer (R-7.1, R-7.3a)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import cms
from pkcs11 import Attribute, ObjectClass, TokenFlag
from pkcs11 import exceptions as p11

from drivers.pkcs11 import (
    MechanismNotSupported,
    Module,
    ModuleNotFound,
    NotAPkcs11Module,
    NotLoggedIn,
    NoToken,
    PinIncorrect,
    PinLocked,
    TokenRemoved,
    TokenSession,
    build_cms,
)
from drivers.pkcs11.errors import pin_failure, translate
from drivers.pkcs11.provision import SOFTHSM_MODULE
from tests.drivers.pkcs11.softhsm import PIN, ec_pair, provision, token_dir
from tests.shared import fixture_path

NCA_RSA_P12 = (
    "nca",
    "danikarik-ncanode-go",
    "personal",
    "active",
    "RSA256_11c707bd54cbfcccb3815e39c4eb57b1dc7dfea9.p12",
)


@pytest.fixture
def nca_token(tmp_path: Path) -> tuple[str, str]:
    """A token with NCA's RSA test key (from its .p12) and an EC pair; returns (label, serial)."""
    cert, key = ec_pair(tmp_path)
    made = provision("--p12", str(fixture_path(*NCA_RSA_P12)), "--pem", str(cert), str(key), "--generate-ec", "fresh")
    assert [o["label"] for o in made.objects] == [Path(NCA_RSA_P12[-1]).stem, cert.stem, "fresh"]
    return made.label, made.serial


def session_of(label: str) -> TokenSession:
    session = TokenSession(Module(SOFTHSM_MODULE), label=label)
    session.login(PIN)
    return session


def test_provisioned_token_lists_its_holders(nca_token: tuple[str, str]) -> None:
    label, serial = nca_token
    module = Module(SOFTHSM_MODULE)
    (info,) = [t for t in module.tokens() if t.label == label]
    assert info.serial == serial and info.manufacturer == "SoftHSM project" and not info.protected_auth
    assert any(s.token_present for s in module.slots())
    creds = {c.key_kind: c for c in session_of(label).credentials()}
    assert set(creds) == {"rsa", "ec"}  # the generated key has no certificate, so it is no credential
    rsa = creds["rsa"].holder
    assert (rsa.iin, rsa.name) == ("123456789011", "ТЕСТОВ ТЕСТ") and "individual" in rsa.roles
    assert "IIN 123456789011" in rsa.describe()
    ec = creds["ec"].holder
    assert (ec.iin, ec.name, ec.roles, ec.valid_at()) == ("900101300126", "СЕРІКОВ АРМАН", ("individual",), True)


def test_private_keys_never_leave_the_token(nca_token: tuple[str, str]) -> None:
    session = session_of(nca_token[0])
    raw = session._session
    assert raw is not None
    for key in raw.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}):
        assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE]
        with pytest.raises(p11.AttributeSensitive):
            key[Attribute.PRIVATE_EXPONENT if key[Attribute.KEY_TYPE] == 0 else Attribute.VALUE]


@pytest.mark.parametrize("detached", [False, True])
def test_cms_from_the_token_verifies_with_openssl(nca_token: tuple[str, str], tmp_path: Path, detached: bool) -> None:
    session = session_of(nca_token[0])
    content = "Қарыз шарты № 42 / Договор займа".encode()
    for cred in session.credentials():
        der = build_cms(
            lambda data, c=cred: session.sign(c.key_id, c.key_kind, data),  # type: ignore[misc]
            cred.key_kind,
            cred.certificate,
            content,
            detached=detached,
        )
        signer = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
        attrs = {a["type"].native for a in signer["signed_attrs"]}
        assert {"content_type", "signing_time", "message_digest", "signing_certificate_v2"} <= attrs
        assert abs((signer["signed_attrs"][1]["values"][0].native - datetime.now(UTC)).total_seconds()) < 60
        (tmp_path / "sig.der").write_bytes(der)
        (tmp_path / "content").write_bytes(content)
        cmd = ["openssl", "cms", "-verify", "-noverify", "-inform", "DER", "-in", str(tmp_path / "sig.der")]
        cmd += ["-binary", "-content", str(tmp_path / "content")] if detached else []
        done = subprocess.run(cmd, capture_output=True, timeout=30, check=False)
        assert done.returncode == 0 and b"Verification successful" in done.stderr, (cred.key_kind, done.stderr)
        assert done.stdout == content


def test_wrong_pin_says_tries_are_low_and_the_right_one_still_works(nca_token: tuple[str, str]) -> None:
    session = TokenSession(Module(SOFTHSM_MODULE), label=nca_token[0])
    with pytest.raises(PinIncorrect) as first:
        session.login("0000")
    # SoftHSM2 raises CKF_USER_PIN_COUNT_LOW after a failure but never locks a PIN (no retry counter).
    assert first.value.tries == "low" and "Few tries are left" in str(first.value)
    assert not session.logged_in
    session.login(PIN)
    assert session.logged_in and session.credentials()


def test_pin_pad_log_in_needs_a_reader_with_one(nca_token: tuple[str, str]) -> None:
    session = TokenSession(Module(SOFTHSM_MODULE), label=nca_token[0])
    assert not session.info.protected_auth  # SoftHSM2 has no PIN pad (CKF_PROTECTED_AUTHENTICATION_PATH)
    with pytest.raises(NotLoggedIn, match="no PIN pad"):
        session.login(None)


def test_pin_flags_become_sentences() -> None:
    final = pin_failure(TokenFlag.USER_PIN_COUNT_LOW | TokenFlag.USER_PIN_FINAL_TRY)
    assert isinstance(final, PinIncorrect) and final.tries == "final" and "One try is left" in str(final)
    assert isinstance(pin_failure(TokenFlag.USER_PIN_LOCKED), PinLocked)
    assert isinstance(translate(p11.PinLocked()), PinLocked)
    plain = pin_failure(TokenFlag(0))
    assert isinstance(plain, PinIncorrect) and plain.tries is None
    assert translate(p11.DeviceRemoved(), what="the signature").code == "token_removed"
    assert translate(p11.MechanismInvalid()).code == "mechanism_not_supported"


def test_a_missing_module_and_a_library_that_is_not_pkcs11(tmp_path: Path) -> None:
    with pytest.raises(ModuleNotFound, match="not found"):
        Module(tmp_path / "libvendor-pkcs11.so")
    libz = next(
        p for p in (Path("/lib/x86_64-linux-gnu/libz.so.1"), Path("/usr/lib/x86_64-linux-gnu/libz.so.1")) if p.exists()
    )
    with pytest.raises(NotAPkcs11Module, match="is not a PKCS#11 module"):
        Module(libz)
    text = tmp_path / "notes.so"
    text.write_text("not a library")
    with pytest.raises(NotAPkcs11Module):
        Module(text)


def test_no_token_with_that_label() -> None:
    with pytest.raises(NoToken, match="insert the token"):
        TokenSession(Module(SOFTHSM_MODULE), label="nobody-has-this-label")


def test_an_rsa_signature_with_an_ec_key_is_refused_by_name(nca_token: tuple[str, str]) -> None:
    session = session_of(nca_token[0])
    ec = next(c for c in session.credentials() if c.key_kind == "ec")
    with pytest.raises(MechanismNotSupported, match="The key is ec, not rsa"):
        session.sign(ec.key_id, "rsa", b"data")


def test_token_pulled_out_mid_operation_is_reopened_when_back(nca_token: tuple[str, str], tmp_path: Path) -> None:
    label, serial = nca_token
    session = session_of(label)
    rsa = next(c for c in session.credentials() if c.key_kind == "rsa")
    folder = token_dir(serial)
    shutil.move(folder, tmp_path / "pocket")  # the token leaves the slot
    with pytest.raises(TokenRemoved, match="insert it again"):
        session.sign(rsa.key_id, "rsa", b"first")
    shutil.move(tmp_path / "pocket", folder)  # ... and comes back
    signature = session.sign(rsa.key_id, "rsa", b"second")
    assert len(signature) == 256 and session.reopened == 1
