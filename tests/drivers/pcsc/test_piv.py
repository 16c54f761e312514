"""drivers.pcsc.PivCard, the signing API the kiosk agent uses, on the virtual card through pcscd:
RSA, ECC and GOST signatures that verify under the NCA certificates, the PIN's life, a card pulled
mid-signature, and the async wrapper keeping every device call off the event loop (R-2.8 smart card as a
factor for R-2.2/R-6.5/R-7.3a; R-10.1 contract signatures)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from authsvc.pki import gost
from drivers.pcsc import (
    Algorithm,
    AsyncReader,
    CardRemoved,
    Context,
    PinBlocked,
    PivCard,
    SecurityNotSatisfied,
    WrongPin,
)
from tests.drivers.pcsc.conftest import READER_0, READER_1, Lab, wait_present
from tests.simulators.vcard.fixtures import Emulator

GOST_2015_512 = "1.2.398.3.10.1.1.2.3.2"
DATA = "Келісімшарт / договор № 7: 500 000 ₸".encode()


@pytest.fixture
def piv(card0: Emulator) -> Iterator[PivCard]:
    with Context() as ctx, ctx.connect(READER_0) as conn:
        yield PivCard(conn)


def test_certificates_of_the_card(piv: PivCard, lab: Lab) -> None:
    certs = {c.slot: c for c in piv.certificates()}
    assert {s: c.algorithm for s, c in certs.items()} == {
        0x9A: Algorithm.RSA_2048,
        0x9C: Algorithm.ECC_P256,
        0x82: Algorithm.GOST_2015_512,
    }
    for slot, cert in certs.items():
        assert cert.der == lab.profile.slots[slot].certificate
        assert "IIN900101300126" in cert.subject
    assert len(piv.chuid()[0x34]) == 16  # the GUID


def test_rsa_and_ecc_signatures_verify_with_the_nca_certificates(piv: PivCard, lab: Lab) -> None:
    piv.verify_pin(lab.profile.pin)
    rsa_key = piv.certificate(0x9A).certificate.public_key()
    assert isinstance(rsa_key, rsa.RSAPublicKey)
    rsa_key.verify(piv.sign(0x9A, DATA), DATA, padding.PKCS1v15(), hashes.SHA256())
    ec_key = piv.certificate(0x9C).certificate.public_key()
    assert isinstance(ec_key, ec.EllipticCurvePublicKey)
    ec_key.verify(piv.sign(0x9C, DATA), DATA, ec.ECDSA(hashes.SHA256()))


def test_gost_signature_through_raw_apdus_verifies_with_authsvc(piv: PivCard) -> None:
    piv.verify_pin("123456")
    cert = piv.certificate(0x82)
    signature = piv.sign(0x82, DATA)
    assert len(signature) == 128
    assert gost.verify(cert.public_key_info, GOST_2015_512, DATA, signature)
    assert not gost.verify(cert.public_key_info, GOST_2015_512, DATA + b".", signature)
    prehashed = piv.sign(0x82, gost.digest(GOST_2015_512, DATA), prehashed=True)
    assert gost.verify(cert.public_key_info, GOST_2015_512, DATA, prehashed)


def test_signing_without_the_pin_is_refused(piv: PivCard) -> None:
    piv.logout()
    with pytest.raises(SecurityNotSatisfied, match="needs the PIN"):
        piv.sign(0x9A, DATA)


def test_wrong_pin_three_times_locks_with_tries_left_shown_before(fresh_card: Emulator, lab: Lab) -> None:
    with Context() as ctx, ctx.connect(READER_1) as conn:
        card = PivCard(conn)
        assert card.pin_tries_left() == 3
        with pytest.raises(WrongPin, match="2 tries left") as first:
            card.verify_pin("000000")
        assert first.value.tries_left == 2 and first.value.code == "wrong_pin"
        with pytest.raises(WrongPin, match="1 try left") as second:
            card.verify_pin("111111")
        assert second.value.tries_left == 1
        assert card.pin_tries_left() == 1
        with pytest.raises(PinBlocked, match="locked"):
            card.verify_pin("222222")
        with pytest.raises(PinBlocked):
            card.verify_pin(lab.profile.pin)  # the right PIN no longer opens it
        assert card.pin_tries_left() == 0
        with pytest.raises(SecurityNotSatisfied):
            card.sign(0x9A, DATA)
        card.unblock_pin(lab.profile.puk, "24681357")
        card.verify_pin("24681357")
        assert card.pin_tries_left() is None
    assert fresh_card.call("/status")["pin_tries_left"] == 3


def test_change_pin(fresh_card: Emulator) -> None:
    with Context() as ctx, ctx.connect(READER_1) as conn:
        card = PivCard(conn)
        with pytest.raises(WrongPin):
            card.change_pin("999999", "654321")
        card.change_pin("123456", "654321")
        with pytest.raises(WrongPin):
            card.verify_pin("123456")
        card.verify_pin("654321")
        with pytest.raises(ValueError, match="6 to 8 digits"):
            card.verify_pin("12ab")


def test_card_pulled_in_the_middle_of_a_signature(card0: Emulator, lab: Lab) -> None:
    with Context() as ctx:
        with ctx.connect(READER_0) as conn:
            card = PivCard(conn)
            card.verify_pin(lab.profile.pin)
            card0.remove(during="general-authenticate")
            with pytest.raises(CardRemoved, match="removed during the operation") as caught:
                card.sign(0x82, DATA)
            assert caught.value.code == "card_removed"
        wait_present(READER_0, present=False)
        card0.insert()
        wait_present(READER_0)
        with ctx.connect(READER_0) as conn:  # a new connection: the PIN is asked again
            card = PivCard(conn)
            assert card.pin_tries_left() == 3
            card.verify_pin(lab.profile.pin)
            assert len(card.sign(0x9C, DATA)) > 60


async def test_async_reader_keeps_device_calls_off_the_loop(card0: Emulator, lab: Lab) -> None:
    loop_thread = threading.get_ident()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    async with AsyncReader(READER_0) as reader:
        threads = {await reader.run(lambda _ctx: threading.get_ident()) for _ in range(3)}
        assert len(threads) == 1 and loop_thread not in threads  # one dedicated thread per reader
        await reader.wait_for_card(within=5)
        card = await reader.piv()
        certs = await card.certificates()
        await card.verify_pin(lab.profile.pin)
        beat = asyncio.create_task(ticker())
        try:
            before = ticks
            signature = await card.sign(0x82, DATA)
            assert ticks > before  # the loop ran while the card signed
        finally:
            beat.cancel()
        gost_cert = next(c for c in certs if c.slot == 0x82)
        assert gost.verify(gost_cert.public_key_info, GOST_2015_512, DATA, signature)


async def test_async_reader_after_removal_reconnects(card0: Emulator, lab: Lab) -> None:
    async with AsyncReader(READER_0) as reader:
        card = await reader.piv()
        await card.verify_pin(lab.profile.pin)
        await asyncio.to_thread(card0.remove, "general-authenticate")
        with pytest.raises(CardRemoved):
            await card.sign(0x9A, DATA)
        await asyncio.to_thread(card0.insert)
        await reader.wait_for_card(within=10)
        card = await reader.piv()
        assert await card.pin_tries_left() == 3


async def test_async_reader_waits_for_the_card_to_be_taken_out(card0: Emulator) -> None:
    async with AsyncReader(READER_0) as reader:
        assert await reader.wait_for_removal(within=0.5) is False  # still in
        asyncio.get_running_loop().call_later(0.3, lambda: threading.Thread(target=card0.remove).start())
        assert await reader.wait_for_removal(within=10) is True
