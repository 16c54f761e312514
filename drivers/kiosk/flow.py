"""The kiosk's two flows: identify a client by EDS over the service's challenge (R-7.1, R-2.9), and sign a
loan contract (R-10.1). Each returns the outcome code; failures raise `KioskFailure`."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drivers.kiosk.failures import KioskFailure
from drivers.kiosk.service import ServiceClient
from drivers.kiosk.signer import Signer
from drivers.pkcs11 import Holder

# The service's reasons that the kiosk names on their own (others go into "verdict_failed").
_EXPIRED = {"expired", "not_yet_valid", "certificate_expired", "path_expired"}
_OTHER_PERSON = {"iin_mismatch", "bin_mismatch", "legal_entity_certificate", "role_not_allowed"}
_CLOSED = {"challenge_expired", "identification_closed"}

Say = Callable[[str, str], None]  # (prompt key, detail)
AskSecret = Callable[[str], Awaitable[str | None]]  # (secret name) -> the secret, None for a PIN pad


def verdict(reasons: list[str]) -> KioskFailure:
    """The failure a refused signature means, most specific first."""
    detail = ", ".join(reasons)
    if _CLOSED & set(reasons):
        return KioskFailure("challenge_expired", detail)
    if _OTHER_PERSON & set(reasons):
        return KioskFailure("other_person", detail)
    if _EXPIRED & set(reasons):
        return KioskFailure("certificate_expired", detail)
    return KioskFailure("verdict_failed", detail)


async def _unlock(signer: Signer, wait_s: float, say: Say, ask: AskSecret) -> Holder:
    say("waiting", "")
    shown = await signer.open(wait_s)
    if shown.iin or shown.bin:
        say("holder", shown.describe())
        if not shown.valid_at(datetime.now(UTC)):
            raise KioskFailure("certificate_expired", f"valid {shown.not_before:%Y-%m-%d}..{shown.not_after:%Y-%m-%d}")
    if signer.pin_pad:
        say("pinpad", "")
        await signer.unlock(None)
    else:
        await signer.unlock(await ask(signer.secret_name))
    holder = signer.holder
    if holder.describe() != shown.describe():
        say("holder", holder.describe())
    if not holder.valid_at(datetime.now(UTC)):
        raise KioskFailure("certificate_expired", f"valid {holder.not_before:%Y-%m-%d}..{holder.not_after:%Y-%m-%d}")
    return holder


async def identify(
    service: ServiceClient,
    signer: Signer,
    *,
    identification_id: str | None,
    client_id: str | None,
    operation: str,
    wait_s: float,
    say: Say,
    ask: AskSecret,
) -> dict[str, Any]:
    """Token first (so a missing card never costs a challenge), then the challenge, sign, submit."""
    await _unlock(signer, wait_s, say, ask)
    if identification_id is None:
        if client_id is None:
            raise KioskFailure("rejected", "give --identification or --client")
        identification_id = await service.open_identification(client_id, operation)
    challenge = await service.challenge(identification_id)
    cms = await signer.sign_cms(challenge, detached=False)
    step = await service.submit_eds(identification_id, cms)
    if step.get("outcome") != "passed":
        raise verdict([str(r) for r in step.get("reasons", [])])
    return {"identification_id": identification_id, "step_id": step.get("step_id"), "outcome": "passed"}


async def sign_contract(
    service: ServiceClient, signer: Signer, *, contract_id: str, document: Path, wait_s: float, say: Say, ask: AskSecret
) -> dict[str, Any]:
    """Check the document is the registered one, then sign it (attached CMS) and submit."""
    content = await asyncio.to_thread(document.read_bytes)
    registered = await service.contract(contract_id)
    if registered.get("sha256") != hashlib.sha256(content).hexdigest():
        raise KioskFailure("document_mismatch", f"{document.name}")
    await _unlock(signer, wait_s, say, ask)
    cms = await signer.sign_cms(content, detached=False)
    status, data = await service.sign_contract(contract_id, cms)
    if status == 201:
        return {"contract_id": contract_id, "signature_id": data.get("signature_id"), "outcome": "contract_signed"}
    if data.get("code") == "signature_rejected":
        raise verdict([str(r) for r in data.get("reasons", [])])
    if data.get("code") == "document_mismatch":
        raise KioskFailure("document_mismatch", str(data.get("detail", "")))
    raise ServiceClient._refused(status, data)
