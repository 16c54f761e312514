"""drivers.pcsc's transport against the real pcscd + vpcd + the virtual card: readers, ATR,
insertion/removal events, and the ISO 7816-4 exchange rules (61xx, 6Cxx, chaining, extended)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from drivers.pcsc import AsyncReader, CardAbsent, CardRemoved, Command, Context, NoReader, ServiceUnavailable
from drivers.pcsc.errors import from_hresult
from drivers.pcsc.transport import card_capabilities, historical_bytes
from simulators.vcard.card import ATR
from simulators.vcard.pcscd import PrivatePcscd
from tests.drivers.pcsc.conftest import READER_0, READER_1, Lab
from tests.simulators.vcard.fixtures import Emulator

SELECT = Command(0x00, 0xA4, 0x04, 0x00, bytes.fromhex("A000000308000010000100"), le=256)
GET_CERT_9A = Command(0x00, 0xCB, 0x3F, 0xFF, bytes.fromhex("5C035FC105"), le=256)


def test_readers_and_atr(card0: Emulator) -> None:
    with Context() as ctx:
        assert ctx.readers()[:2] == [READER_0, READER_1]
        state = ctx.state(READER_0)
        assert state.present and state.atr == ATR
        assert not ctx.state(READER_1).present
        with ctx.connect(READER_0) as conn:
            assert conn.atr == ATR
            assert (conn.chaining, conn.extended) == (True, True)
        with pytest.raises(CardAbsent, match="no card in the reader"):
            ctx.connect(READER_1)


def test_atr_parsing() -> None:
    assert historical_bytes(ATR) == bytes.fromhex("80738021C0")
    assert card_capabilities(ATR) == (True, True)
    yubikey = bytes.fromhex("3BFD1300008131FE158073C021C057597562694B657940")
    assert card_capabilities(yubikey) == (True, True)
    assert card_capabilities(bytes.fromhex("3B0411223344")) == (False, False)


def test_long_answers_arrive_whole_with_short_or_extended_apdus(card0: Emulator, lab: Lab) -> None:
    expected = lab.profile.slots[0x9A].certificate
    with Context() as ctx, ctx.connect(READER_0) as conn:
        assert conn.transmit(SELECT).ok
        raw = conn.exchange(GET_CERT_9A.encode(extended=False))
        assert raw.sw >> 8 == 0x61 and len(raw.data) == 256  # the card hands out pieces
        conn.extended = False
        short = conn.transmit(GET_CERT_9A)  # the driver follows 61xx with GET RESPONSE
        conn.extended = True
        extended = conn.transmit(Command(0x00, 0xCB, 0x3F, 0xFF, bytes.fromhex("5C035FC105"), le=65536))
        assert short.ok and extended.ok and short.data == extended.data
        assert expected in short.data


def test_wrong_le_is_corrected(card0: Emulator) -> None:
    with Context() as ctx, ctx.connect(READER_0) as conn:
        raw = conn.exchange(Command(0x00, 0xA4, 0x04, 0x00, SELECT.data, le=5).encode(extended=False))
        assert raw.sw >> 8 == 0x6C
        fixed = conn.transmit(Command(0x00, 0xA4, 0x04, 0x00, SELECT.data, le=5))
        assert fixed.ok and len(fixed.data) == raw.sw & 0xFF


def test_command_chaining_and_extended_commands_give_the_same_signature_check(card0: Emulator, lab: Lab) -> None:
    from drivers.pcsc.piv import PivCard

    with Context() as ctx, ctx.connect(READER_0) as conn:
        card = PivCard(conn)
        card.verify_pin(lab.profile.pin)
        conn.extended = False  # 256-byte RSA challenge: two chained short APDUs
        chained = card.sign(0x9A, b"same data")
        conn.extended = True
        extended = card.sign(0x9A, b"same data")
        assert chained == extended  # RSA PKCS#1 v1.5 is deterministic


def test_watch_reports_removal_and_insertion(card0: Emulator) -> None:
    with Context() as ctx:
        events = ctx.watch(READER_0, timeout=10)
        first = next(events)
        assert (first.reader, first.kind, first.atr) == (READER_0, "inserted", ATR)
        threading.Timer(0.3, card0.remove).start()
        assert next(events).kind == "removed"
        threading.Timer(0.3, card0.insert).start()
        again = next(events)
        assert again.kind == "inserted" and again.atr == ATR


def test_wait_for_card_times_out_with_a_sentence(card0: Emulator) -> None:
    with Context() as ctx, pytest.raises(TimeoutError, match="waiting for a card"):
        ctx.wait_for_card(READER_1, timeout=0.5)


def test_card_pulled_between_commands(card0: Emulator) -> None:
    with Context() as ctx, ctx.connect(READER_0) as conn:
        assert conn.transmit(SELECT).ok
        card0.remove()
        with pytest.raises(CardRemoved, match="removed during the operation"):
            for _ in range(20):  # pcscd notices at its next presence poll
                conn.transmit(SELECT)


@pytest.mark.parametrize(
    ("code", "name", "sentence"),
    [
        (0x8010001D, "ServiceUnavailable", "pcscd is not running"),
        (0x8010002E, "NoReader", "no smart-card reader is connected"),
        (0x8010000C, "CardAbsent", "no card in the reader"),
        (0x80100069, "CardRemoved", "card was removed"),
        (0x8010000B, "SharingViolation", "another program is using the card"),
        (0x80100068, "CardReset", "reset the card"),
        (0x80100066, "CardUnresponsive", "does not answer"),
        (0x8010000A, "PcscTimeout", "did not answer in time"),
        (0x80100001, "PcscError", "smart-card subsystem failed"),
    ],
)
def test_pcsc_codes_become_sentences(code: int, name: str, sentence: str) -> None:
    error = from_hresult(code, "doing X")
    assert type(error).__name__ == name
    assert sentence in str(error) and f"0x{code:08X}" in str(error) and str(error).startswith("doing X: ")
    assert error.hresult == code
    if name == "ServiceUnavailable":
        assert isinstance(error, ConnectionError)


async def test_no_reader_says_so(lab: Lab, card0: Emulator) -> None:
    """A pcscd without any reader (the kiosk's reader unplugged): 0x8010002E as a sentence."""
    lab.pcscd.stop()
    readerless = PrivatePcscd(lab.pcscd.directory, vpcd_port=None)  # same socket: libpcsclite keeps its path
    readerless.start()
    try:
        with Context() as ctx:
            assert ctx.readers() == []
        async with AsyncReader() as reader:
            with pytest.raises(NoReader, match="no smart-card reader is connected") as caught:
                await reader.piv()
        assert caught.value.code == "no_reader" and caught.value.hresult == 0x8010002E
    finally:
        readerless.stop()
        lab.pcscd.start()
    await asyncio.to_thread(card0.wait_connected)


def test_pcscd_stopped_says_so_and_recovers(lab: Lab, card0: Emulator) -> None:
    lab.pcscd.stop()
    try:
        with pytest.raises(ServiceUnavailable, match="pcscd is not running") as caught:
            Context()
        assert caught.value.code == "pcscd_not_running" and caught.value.hresult == 0x8010001D
    finally:
        lab.pcscd.start()
    card0.wait_connected()  # the card sits in the new pcscd's reader again
    with Context() as ctx:
        assert ctx.state(READER_0).present or next(ctx.watch(READER_0, timeout=5)).kind == "inserted"
