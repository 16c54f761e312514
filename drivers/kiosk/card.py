"""`CardSigner`: a client's PIV smart card (or Kazakh ID card with the same applet) through PC/SC, signed by
raw APDUs with `drivers.pcsc` (R-2.8, R-2.9). It is the only way to the card's GOST 34.10-2015-512 key (slot
82, private algorithm reference D2): OpenSC's PKCS#11 module does not see it. RSA (9A) and P-256 (9C) sign
the same way; the CMS is the NCALayer-style one `drivers.pkcs11.build_cms` assembles for tokens.

Every card command runs on the reader's own thread (`AsyncReader`), never on the event loop. The card is
not reconnected after a removal: a card pulled out mid-signature is the operator's `token_removed`, and the
kiosk starts over (a PIN typed once is not kept to log in again on a card put back).
"""

from __future__ import annotations

from typing import Final

from authsvc.pki.certinfo import cert_info
from drivers.kiosk.failures import KioskFailure
from drivers.pcsc import (
    Algorithm,
    AsyncPivCard,
    AsyncReader,
    CardAbsent,
    CardCertificate,
    CardRemoved,
    CardReset,
    Context,
    NoReader,
    NotFound,
    PcscError,
    PcscTimeout,
    PinBlocked,
    PivCard,
    ServiceUnavailable,
    WrongPin,
)
from drivers.pcsc.errors import SCARD_E_UNKNOWN_READER, from_hresult
from drivers.pkcs11 import Holder, build_cms
from drivers.pkcs11.cms import CmsKind

# Which certificate signs when the kiosk does not name a slot: the GOST key first (what NCA puts on ID
# cards for signatures), then the PIV digital-signature key, then PIV authentication.
SLOT_ORDER: Final = (0x82, 0x9C, 0x9A)
_KIND: Final[dict[Algorithm, CmsKind]] = {
    Algorithm.RSA_2048: "rsa",
    Algorithm.ECC_P256: "ec",
    Algorithm.GOST_2015_512: "gost2015",
}


def card_failure(exc: PcscError) -> KioskFailure:
    """A PC/SC or card error as the kiosk outcome it means; the sentence of `drivers.pcsc` is the detail."""
    text = str(exc)
    if isinstance(exc, WrongPin):
        if exc.tries_left == 0:  # the last try went wrong: the card answers 63C0 and is locked now
            return KioskFailure("pin_locked", text)
        failure = KioskFailure("pin_incorrect", text)
        failure.tries_left = exc.tries_left
        return failure
    if isinstance(exc, PinBlocked):
        return KioskFailure("pin_locked", text)
    if isinstance(exc, ServiceUnavailable):
        return KioskFailure("pcscd_down", text)
    if isinstance(exc, NoReader):
        return KioskFailure("no_reader", text)
    if isinstance(exc, CardAbsent | PcscTimeout):
        return KioskFailure("no_token", text)
    if isinstance(exc, CardRemoved | CardReset):
        return KioskFailure("token_removed", text)
    if isinstance(exc, NotFound):
        return KioskFailure("no_certificate", text)
    return KioskFailure("device_error", text)


class CardSigner:
    """The `Signer` of a PIV card in ``reader`` (None: the first reader a card is in, waiting for one)."""

    def __init__(self, reader: str | None, *, slot: int | None = None) -> None:
        self._reader = AsyncReader(reader)
        self._slot = slot
        self._card: AsyncPivCard | None = None
        self._certificate: CardCertificate | None = None

    @property
    def pin_pad(self) -> bool:
        return False  # PIV VERIFY with the PIN from the kiosk; a PIN-pad reader needs its own feature (not here)

    @property
    def secret_name(self) -> str:
        return "pin"

    @property
    def reopened(self) -> int:
        return 0

    @property
    def reader(self) -> str | None:
        return self._reader.name

    async def open(self, wait_s: float) -> Holder:
        try:
            if self._reader.name is None:

                def first_card(ctx: Context) -> str:
                    name, _atr = ctx.wait_for_card(None, timeout=wait_s)
                    return name

                self._reader.name = await self._reader.run(first_card)
            else:
                name = self._reader.name

                def named(ctx: Context) -> None:
                    # A reader that is not there is the set-up's fault: say so now, not after the wait.
                    if name not in ctx.readers():
                        raise from_hresult(SCARD_E_UNKNOWN_READER, f"looking for the reader {name!r}")
                    ctx.wait_for_card(name, timeout=wait_s)

                await self._reader.run(named)
            self._card = await self._reader.piv()
            found = {c.slot: c for c in await self._card.certificates()}
        except PcscError as exc:
            raise card_failure(exc) from exc
        self._certificate = self._choose(found)
        return self.holder

    def _choose(self, found: dict[int, CardCertificate]) -> CardCertificate:
        if self._slot is not None:
            chosen = found.get(self._slot)
            if chosen is None:
                raise KioskFailure("no_certificate", f"the card has no certificate in slot {self._slot:02X}")
            return chosen
        for slot in SLOT_ORDER:
            if slot in found:
                return found[slot]
        raise KioskFailure("no_certificate", "the card carries no signing certificate")

    async def unlock(self, secret: str | None) -> None:
        if self._card is None:
            raise RuntimeError("open() first")
        if not secret:
            raise KioskFailure("pin_cancelled", "no PIN was entered")
        if not (secret.isdigit() and 6 <= len(secret) <= 8):
            # Refused here, before the card: a malformed PIN must not cost the client a try.
            raise KioskFailure("pin_incorrect", "a card PIN is 6 to 8 digits")
        try:
            if await self._card.pin_tries_left() == 0:
                raise KioskFailure("pin_locked", str(PinBlocked(0x6983)))
            await self._card.verify_pin(secret)
        except PcscError as exc:
            raise card_failure(exc) from exc

    @property
    def holder(self) -> Holder:
        if self._certificate is None:
            raise RuntimeError("open() first")
        return Holder.of(cert_info(self._certificate.der))

    async def sign_cms(self, content: bytes, *, detached: bool) -> bytes:
        if self._card is None or self._certificate is None:
            raise RuntimeError("open() and unlock() first")
        cert = self._certificate

        def job(card: PivCard) -> bytes:
            return build_cms(lambda data: card.sign(cert.slot, data), _KIND[cert.algorithm], cert.der, content,
                             detached=detached)  # fmt: skip

        try:
            return await self._card.using(job)
        except PcscError as exc:
            raise card_failure(exc) from exc

    async def close(self) -> None:
        await self._reader.close()
