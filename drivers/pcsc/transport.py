"""Blocking PC/SC access over pyscard's `smartcard.scard` (one context per thread, as pcsc-lite
wants): readers, card insertion/removal, the ATR, and APDU exchange with the ISO 7816-4 rules a
caller should not have to repeat — GET RESPONSE on 61xx, resending with the right Le on 6Cxx,
command chaining for long data on cards without extended length, extended APDUs on cards with it.

Never call these from an event loop; `drivers.pcsc.aio` runs them on a thread per reader."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Final

from smartcard import scard

from drivers.pcsc.apdu import EXTENDED_LE, SHORT_LE, Command, Response
from drivers.pcsc.errors import (
    SCARD_E_NO_READERS_AVAILABLE,
    SCARD_E_NO_SMARTCARD,
    SCARD_E_NOT_TRANSACTED,
    SCARD_E_TIMEOUT,
    SCARD_F_COMM_ERROR,
    SCARD_S_SUCCESS,
    SCARD_W_REMOVED_CARD,
    CardRemoved,
    PcscError,
    ProtocolError,
    from_hresult,
)

PNP_NOTIFICATION: Final = "\\\\?PnP?\\Notification"
CARD_GONE_WAIT: Final = 2.0  # seconds: five of pcscd's presence polls
MAX_GET_RESPONSE: Final = 1024  # a runaway 61xx loop is a broken card, not a long answer


def _check(hresult: int, action: str) -> None:
    if hresult != SCARD_S_SUCCESS:
        raise from_hresult(hresult, action)


@dataclass(frozen=True)
class ReaderState:
    reader: str
    present: bool
    atr: bytes
    flags: int


@dataclass(frozen=True)
class CardEvent:
    reader: str
    kind: str  # "inserted" | "removed" | "reader-added" | "reader-removed"
    atr: bytes = b""


def card_capabilities(atr: bytes) -> tuple[bool, bool]:
    """(command chaining, extended Lc/Le) from the ATR's compact-TLV card capabilities (tag 7x, byte 3)."""
    hist = historical_bytes(atr)
    if not hist or hist[0] != 0x80:
        return False, False
    i = 1
    while i < len(hist):
        tag, length = hist[i] >> 4, hist[i] & 0x0F
        value = hist[i + 1 : i + 1 + length]
        if tag == 0x7 and length >= 3:
            return bool(value[2] & 0x80), bool(value[2] & 0x40)
        i += 1 + length
    return False, False


def historical_bytes(atr: bytes) -> bytes:
    """The historical bytes of an ATR (ISO 7816-3 §8.2): walk the interface bytes, take K bytes."""
    if len(atr) < 2:
        return b""
    k = atr[1] & 0x0F
    y, i = atr[1] >> 4, 2
    while True:
        count = bin(y).count("1")
        td = atr[i + count - 1] if y & 0x8 and i + count - 1 < len(atr) else None
        i += count
        if td is None:
            break
        y = td >> 4
    return atr[i : i + k]


class Context:
    """One PC/SC resource-manager context. Use it on one thread only."""

    def __init__(self) -> None:
        hresult, handle = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        _check(hresult, "connecting to pcscd")
        self.handle: Any = handle

    def close(self) -> None:
        if self.handle is not None:
            scard.SCardReleaseContext(self.handle)
            self.handle = None

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def readers(self) -> list[str]:
        """Reader names; an empty list when pcscd has none (not an error here)."""
        hresult, names = scard.SCardListReaders(self.handle, [])
        if hresult & 0xFFFFFFFF == SCARD_E_NO_READERS_AVAILABLE:
            return []
        _check(hresult, "listing readers")
        return list(names)

    def state(self, reader: str) -> ReaderState:
        return self.states({reader: scard.SCARD_STATE_UNAWARE}, 0)[0]

    def states(self, known: dict[str, int], timeout_ms: int) -> list[ReaderState]:
        hresult, states = scard.SCardGetStatusChange(self.handle, timeout_ms, list(known.items()))
        if hresult & 0xFFFFFFFF == SCARD_E_TIMEOUT:
            return []
        _check(hresult, "watching the readers")
        return [
            ReaderState(name, bool(flags & scard.SCARD_STATE_PRESENT), bytes(atr), flags) for name, flags, atr in states
        ]

    def cancel(self) -> None:
        """Wake a `watch` blocked in another thread (the one call PC/SC allows across threads)."""
        scard.SCardCancel(self.handle)

    def watch(self, reader: str | None = None, *, timeout: float | None = None) -> Iterator[CardEvent]:
        """Insertions and removals as they happen (cards already present come first, as inserted),
        and readers plugged in or out; ends after `timeout` seconds without a change."""
        known: dict[str, int] = {PNP_NOTIFICATION: scard.SCARD_STATE_UNAWARE}
        present: dict[str, bool] = {}
        timeout_ms = scard.INFINITE if timeout is None else int(timeout * 1000)
        while True:
            names = [n for n in self.readers() if reader is None or n == reader]
            for name in [n for n in present if n not in names]:
                del present[name]
                known.pop(name, None)
                yield CardEvent(name, "reader-removed")
            for name in names:
                known.setdefault(name, scard.SCARD_STATE_UNAWARE)
            states = self.states(known, timeout_ms)
            if not states:
                return
            for st in states:
                known[st.reader] = st.flags & ~scard.SCARD_STATE_CHANGED
                if st.reader == PNP_NOTIFICATION or st.flags & scard.SCARD_STATE_UNKNOWN:
                    continue
                before = present.get(st.reader)
                present[st.reader] = st.present
                if before is None:
                    if st.present:
                        yield CardEvent(st.reader, "inserted", st.atr)
                elif st.present != before:
                    yield CardEvent(st.reader, "inserted" if st.present else "removed", st.atr)

    def wait_for_card(self, reader: str | None = None, *, timeout: float | None = None) -> tuple[str, bytes]:
        """Block until a card is in `reader` (any reader if None): its reader name and ATR."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for event in self.watch(reader, timeout=timeout):
            if event.kind == "inserted":
                return event.reader, event.atr
            if deadline is not None and time.monotonic() > deadline:
                break
        if not self.readers():
            raise from_hresult(SCARD_E_NO_READERS_AVAILABLE, "waiting for a card")
        raise from_hresult(SCARD_E_TIMEOUT, "waiting for a card")

    def wait_for_removal(self, reader: str, *, timeout: float | None = None) -> bool:
        """Block until the reader is empty (True), or `timeout` passes with the card still in (False)."""
        for event in self.watch(reader, timeout=timeout):
            if event.kind in ("removed", "reader-removed"):
                return True
        return not self.state(reader).present

    def connect(self, reader: str, *, exclusive: bool = False) -> Connection:
        share = scard.SCARD_SHARE_EXCLUSIVE if exclusive else scard.SCARD_SHARE_SHARED
        hresult, card, protocol = scard.SCardConnect(
            self.handle, reader, share, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        )
        _check(hresult, f"connecting to the card in {reader!r}")
        return Connection(self, reader, card, protocol)


class Connection:
    """A card connection. `extended` chooses extended APDUs for long data (default: what the ATR
    says the card supports); otherwise long data goes by command chaining."""

    def __init__(self, context: Context, reader: str, card: Any, protocol: int) -> None:
        self.context = context
        self.reader = reader
        self._card = card
        self._protocol = protocol
        self.atr = self._status()[1]
        self.chaining, self.extended = card_capabilities(self.atr)

    def _status(self) -> tuple[int, bytes]:
        hresult, _reader, state, _protocol, atr = scard.SCardStatus(self._card)
        _check(hresult, f"reading the card in {self.reader!r}")
        return int(state), bytes(atr)

    def close(self, *, reset: bool = False) -> None:
        if self._card is not None:
            scard.SCardDisconnect(self._card, scard.SCARD_RESET_CARD if reset else scard.SCARD_LEAVE_CARD)
            self._card = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def exchange(self, raw: bytes) -> Response:
        """One APDU as is, one response as is (no 61xx/6Cxx handling)."""
        if self._card is None:
            raise PcscError("the card connection is closed")
        hresult, response = scard.SCardTransmit(self._card, self._protocol, list(raw))
        if hresult != SCARD_S_SUCCESS:
            raise self._transmit_error(hresult & 0xFFFFFFFF)
        if len(response) < 2 and not self._card_still_there(wait=CARD_GONE_WAIT):
            # vpcd (and some readers) hand back an empty answer when the card vanished mid-APDU;
            # pcscd notices the removal at its next presence poll (every 0.4 s)
            raise CardRemoved()
        return Response.decode(bytes(response))

    def _transmit_error(self, hresult: int) -> PcscError:
        # vpcd and many USB readers report a card pulled mid-APDU as a transfer failure: ask again
        lost = (SCARD_E_NOT_TRANSACTED, SCARD_F_COMM_ERROR, SCARD_W_REMOVED_CARD, SCARD_E_NO_SMARTCARD)
        if hresult in lost and not self._card_still_there(wait=CARD_GONE_WAIT):
            return CardRemoved(hresult=hresult)
        return from_hresult(hresult, f"talking to the card in {self.reader!r}")

    def _card_still_there(self, *, wait: float = 0.0) -> bool:
        """Whether the card is still in the reader, waiting up to `wait` s for pcscd to notice a removal."""
        try:
            now = self.context.state(self.reader)
            if not now.present or wait <= 0:
                return now.present
            later = self.context.states({self.reader: now.flags & ~scard.SCARD_STATE_CHANGED}, int(wait * 1000))
            return later[0].present if later else True
        except PcscError:
            return False

    def transmit(self, cmd: Command) -> Response:
        """Send `cmd` whole: chained or extended as needed; the complete answer and its final status."""
        if cmd.needs_extended() and self.extended:
            links = [cmd]
            extended = True
        else:
            links = cmd.chain() if len(cmd.data) > 255 else [replace(cmd, le=min(cmd.le, SHORT_LE))]
            extended = False
        for link in links[:-1]:
            answer = self.exchange(link.encode(extended=False))
            if not answer.ok:
                return answer
        last = links[-1]
        answer = self.exchange(last.encode(extended=extended))
        if answer.sw >> 8 == 0x6C:  # wrong Le: the card says how many bytes it has
            last = replace(last, le=(answer.sw & 0xFF) or SHORT_LE)
            answer = self.exchange(last.encode(extended=extended))
        data = bytearray(answer.data)
        for _ in range(MAX_GET_RESPONSE):
            if answer.sw >> 8 != 0x61:
                return Response(bytes(data), answer.sw)
            get_response = Command(0x00, 0xC0, 0x00, 0x00, le=(answer.sw & 0xFF) or SHORT_LE)
            answer = self.exchange(get_response.encode(extended=False))
            data += answer.data
            if len(data) > EXTENDED_LE * 4:
                break
        raise ProtocolError("the card kept answering 61xx (more data) without end")
