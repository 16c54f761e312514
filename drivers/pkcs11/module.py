"""Loading a vendor PKCS#11 module by path and listing its slots and tokens.

Any module works: SoftHSM2 in tests; OpenSC, Kaztoken, JaCarta or eToken modules in the field. These
calls block (a reader may take a second to answer), so they run on a token's own thread
(`drivers.pkcs11.worker`), never on an event loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pkcs11
from pkcs11 import TokenFlag
from pkcs11 import exceptions as p11

from drivers.pkcs11.errors import DeviceError, ModuleNotFound, NotAPkcs11Module, NoToken, translate

# A slot whose token cannot be read is as good as empty (pulled out between two calls, not a card the
# module knows, or a SoftHSM2 token folder gone: GeneralError).
_UNREADABLE = (p11.TokenNotPresent, p11.TokenNotRecognised, p11.DeviceRemoved, p11.GeneralError)


@dataclass(frozen=True)
class TokenInfo:
    """What C_GetSlotInfo/C_GetTokenInfo say about a token in a slot."""

    slot_id: int
    slot_description: str
    label: str
    serial: str
    manufacturer: str
    model: str
    flags: int

    @property
    def protected_auth(self) -> bool:
        """The reader has a PIN pad: log in without sending a PIN (CKF_PROTECTED_AUTHENTICATION_PATH)."""
        return bool(self.flags & TokenFlag.PROTECTED_AUTHENTICATION_PATH)

    @property
    def initialized(self) -> bool:
        return bool(self.flags & TokenFlag.TOKEN_INITIALIZED)

    @property
    def pin_locked(self) -> bool:
        return bool(self.flags & TokenFlag.USER_PIN_LOCKED)

    @property
    def pin_count_low(self) -> bool:
        return bool(self.flags & TokenFlag.USER_PIN_COUNT_LOW)

    @property
    def pin_final_try(self) -> bool:
        return bool(self.flags & TokenFlag.USER_PIN_FINAL_TRY)


@dataclass(frozen=True)
class SlotInfo:
    slot_id: int
    description: str
    manufacturer: str
    token_present: bool


def _serial(token: pkcs11.Token) -> str:
    return token.serial.decode("ascii", "replace").strip()


def token_info(token: pkcs11.Token) -> TokenInfo:
    slot = token.slot
    return TokenInfo(
        slot_id=slot.slot_id,
        slot_description=slot.slot_description.strip(),
        label=token.label.strip(),
        serial=_serial(token),
        manufacturer=token.manufacturer_id.strip(),
        model=token.model.strip(),
        flags=int(token.flags),
    )


class Module:
    """One loaded PKCS#11 module (python-pkcs11 keeps one instance per path per process)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if not Path(self.path).is_file():
            raise ModuleNotFound(f"PKCS#11 module {self.path} not found: check the path to the token's driver.")
        try:
            self.lib = pkcs11.lib(self.path)
        except p11.PKCS11Error as exc:
            text = str(exc)
            # The file exists, so a refusal to load it (not ELF, wrong architecture, no C_GetFunctionList)
            # means it is not a PKCS#11 module.
            if "OS exception while loading" in text or "C_GetFunctionList" in text:
                raise NotAPkcs11Module(
                    f"{self.path} is not a PKCS#11 module: point to the token vendor's PKCS#11 library."
                ) from exc
            raise DeviceError(f"The PKCS#11 module {self.path} failed to start: {text}") from exc

    def slots(self) -> list[SlotInfo]:
        try:
            slots = self.lib.get_slots(token_present=False)
            return [
                SlotInfo(
                    slot_id=s.slot_id,
                    description=s.slot_description.strip(),
                    manufacturer=s.manufacturer_id.strip(),
                    token_present=bool(s.flags & pkcs11.SlotFlag.TOKEN_PRESENT),
                )
                for s in slots
            ]
        except p11.PKCS11Error as exc:
            raise translate(exc, what="listing the slots") from exc

    def tokens(self) -> list[TokenInfo]:
        """Initialised tokens present now."""
        try:
            found = []
            for slot in self.lib.get_slots(token_present=True):
                try:
                    token = slot.get_token()
                except _UNREADABLE:
                    continue
                if token.flags & TokenFlag.TOKEN_INITIALIZED:
                    found.append(token)
            return [token_info(t) for t in found]
        except p11.PKCS11Error as exc:
            raise translate(exc, what="listing the tokens") from exc

    def token(self, *, label: str | None = None, serial: str | None = None) -> pkcs11.Token:
        """The one present token with that label and/or serial (the only one if neither is given)."""
        try:
            candidates = []
            for slot in self.lib.get_slots(token_present=True):
                try:
                    token = slot.get_token()
                except _UNREADABLE:
                    continue
                if not token.flags & TokenFlag.TOKEN_INITIALIZED:
                    continue
                if label is not None and token.label.strip() != label:
                    continue
                if serial is not None and _serial(token) != serial:
                    continue
                candidates.append(token)
        except p11.PKCS11Error as exc:
            raise translate(exc, what="looking for the token") from exc
        wanted = " ".join(p for p in (f"label {label!r}" if label else "", f"serial {serial}" if serial else "") if p)
        if not candidates:
            raise NoToken(f"No token{' with ' + wanted if wanted else ''} is present: insert the token or card.")
        if len(candidates) > 1:
            raise NoToken(f"{len(candidates)} tokens are present: choose one with --token-label or --token-serial.")
        return candidates[0]

    def refresh(self) -> None:
        """C_Finalize + C_Initialize: the module reads its slots afresh (SoftHSM2 sees a token folder
        only at initialisation; hot-plug readers report insertions without this). Ends every session
        of this module in the process, so only call it when none is worth keeping."""
        try:
            self.lib.reinitialize()
        except p11.PKCS11Error as exc:
            raise translate(exc, what="restarting the module") from exc

    def flags_of(self, serial: str) -> pkcs11.TokenFlag:
        """Fresh token flags (python-pkcs11 caches them on its Token objects)."""
        return self.token(serial=serial).flags

    def wait_for_token(
        self, *, label: str | None = None, serial: str | None = None, timeout_s: float, poll_s: float = 0.25
    ) -> pkcs11.Token:
        """Poll until the token is present (C_WaitForSlotEvent is optional in PKCS#11; polling always works)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.token(label=label, serial=serial)
            except NoToken:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(poll_s)
            self.refresh()
