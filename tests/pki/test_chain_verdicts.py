"""Certificate-signature verdicts remembered by the exact bytes they are of (`authsvc.pki.path`, issue 17):
a chain's upper links are checked once, not again for every first-seen signer below them, and a changed
byte anywhere in what a check reads — the certificate, its signature, the issuer's key — is checked afresh.
Every verdict equals the one the code gives with nothing remembered (R-7.1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from asn1crypto import x509

from authsvc.pki import path as path_module
from authsvc.pki.algorithms import verify_signature
from authsvc.pki.path import PathValidator, forget_chain_verdicts
from tests.pki.certmaker import Issued, Signer, gost_key, issue, rsa_key

NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def cold() -> Iterator[None]:
    forget_chain_verdicts()
    yield
    forget_chain_verdicts()


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The certificate signatures actually verified (a spy: the real function runs)."""
    seen: list[bytes] = []
    real = verify_signature

    def spy(public_key_info: Any, algorithm: Any, data: bytes, signature: bytes, digest: str | None = None) -> bool:
        seen.append(data)
        return real(public_key_info, algorithm, data, signature, digest)

    monkeypatch.setattr(path_module, "verify_signature", spy)
    return seen


def _chain(make_key: Callable[[], tuple[bytes, Signer, str]]) -> tuple[Issued, Issued, Issued, Issued]:
    root = issue("Verdict Root", make_key(), ca=True, days=3650)
    inter = issue("Verdict Intermediate", make_key(), root, ca=True, serial=2, days=3650)
    return (
        root,
        inter,
        issue("Signer One", make_key(), inter, serial=3),
        issue("Signer Two", make_key(), inter, serial=4),
    )


def _forged(cert: x509.Certificate, *, serial: int | None = None, flip_signature: bool = False) -> x509.Certificate:
    """``cert`` with one field changed and its signature kept (or its signature's first byte flipped)."""
    copy = x509.Certificate.load(cert.dump())
    if serial is not None:
        copy["tbs_certificate"]["serial_number"] = serial
    if flip_signature:
        value = bytearray(copy["signature_value"].native)
        value[0] ^= 1
        copy["signature_value"] = bytes(value)
    return x509.Certificate.load(copy.dump(force=True))


async def _uncached(validator: PathValidator, leaf: x509.Certificate, others: list[x509.Certificate]) -> Any:
    forget_chain_verdicts()
    return (await validator.validate(leaf, at=NOW, other_certs=others)).model_dump(mode="json")


@pytest.mark.parametrize("make_key", [gost_key, rsa_key], ids=["gost2015", "rsa"])
async def test_a_first_seen_signer_costs_only_its_own_signature(
    make_key: Callable[[], tuple[bytes, Signer, str]], checks: list[bytes]
) -> None:
    root, inter, one, two = _chain(make_key)
    validator = PathValidator([root.cert], [inter.cert])
    first = await validator.validate(one.cert, at=NOW)
    assert first.ok and len(checks) == 2  # the signer's by the intermediate, the intermediate's by the root
    checks.clear()
    second = await validator.validate(two.cert, at=NOW)
    assert second.ok and checks == [two.cert["tbs_certificate"].dump()]  # the intermediate's was remembered
    checks.clear()
    again = await validator.validate(one.cert, at=NOW, required_key_usage=("non_repudiation",))
    assert again.ok and checks == []  # another key usage: another path, the same signatures
    warm = second.model_dump(mode="json")
    assert warm == await _uncached(validator, two.cert, [])


async def test_a_changed_byte_is_never_served_from_the_cache(checks: list[bytes]) -> None:
    root, inter, one, _ = _chain(gost_key)
    validator = PathValidator([root.cert])  # the intermediate comes with the signature, as in a CMS
    assert (await validator.validate(one.cert, at=NOW, other_certs=[inter.cert])).ok
    for forged_inter in (_forged(inter.cert, serial=99), _forged(inter.cert, flip_signature=True)):
        checks.clear()
        warm = (await validator.validate(one.cert, at=NOW, other_certs=[forged_inter])).model_dump(mode="json")
        assert forged_inter["tbs_certificate"].dump() in checks  # checked afresh, not answered from memory
        assert not warm["ok"] and warm == await _uncached(validator, one.cert, [forged_inter])
        assert (await validator.validate(one.cert, at=NOW, other_certs=[inter.cert])).ok  # warm again
    for forged_leaf in (_forged(one.cert, serial=98), _forged(one.cert, flip_signature=True)):
        warm = (await validator.validate(forged_leaf, at=NOW, other_certs=[inter.cert])).model_dump(mode="json")
        assert not warm["ok"] and warm["reasons"] == ["bad_signature"]
        assert warm == await _uncached(validator, forged_leaf, [inter.cert])
        assert (await validator.validate(one.cert, at=NOW, other_certs=[inter.cert])).ok


async def test_the_same_certificate_under_another_issuer_key_is_checked_again(checks: list[bytes]) -> None:
    root, inter, one, _ = _chain(gost_key)
    assert (await PathValidator([root.cert], [inter.cert]).validate(one.cert, at=NOW)).ok
    impostor = issue("Verdict Root", gost_key(), ca=True, days=3650)  # the same name, another key
    assert impostor.cert.subject == root.cert.subject
    checks.clear()
    pinned_impostor = PathValidator([impostor.cert], [inter.cert])
    warm = (await pinned_impostor.validate(one.cert, at=NOW)).model_dump(mode="json")
    assert inter.cert["tbs_certificate"].dump() in checks
    assert not warm["ok"] and warm["reasons"] == ["bad_signature"]
    assert warm == await _uncached(pinned_impostor, one.cert, [])


async def test_a_failed_check_is_recomputed_every_time(checks: list[bytes]) -> None:
    root, inter, one, _ = _chain(gost_key)
    forged = _forged(one.cert, flip_signature=True)
    validator = PathValidator([root.cert], [inter.cert])
    for _ in range(2):
        result = await validator.validate(forged, at=NOW)
        assert not result.ok and result.reasons == ["bad_signature"]
    assert checks.count(forged["tbs_certificate"].dump()) == 2
    assert checks.count(inter.cert["tbs_certificate"].dump()) == 1
