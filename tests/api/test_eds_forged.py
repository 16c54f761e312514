"""Issue 11 §3: a forged certificate (RSA-signed, naming the NCA GOST CA as issuer) is a verdict, not a crash.

pyhanko-certvalidator raises UnboundLocalError on such a path; every endpoint and the EDS step must answer
``invalid`` with a reason, and the step must be recorded like any other attempt (R-12.3): challenge spent,
attempt and audit entry written.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from asn1crypto import x509
from sqlalchemy import func, select

from authsvc.api.state import ENGINE
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store.schema import challenges
from simulators.nca import certs
from simulators.nca.keys import RsaSigner
from simulators.nca.signer import KeyPair, create_cms_signature_from_base64, sign_cms
from tests.api.test_eds_simulator import (  # noqa: F401  (fixtures)
    IIN,
    Simulator,
    challenge,
    nca_port,
    nca_template,
    open_identification,
    register,
    sim_api,
    simulator,
    submit,
)
from tests.auditkit import entries
from tests.conftest import individual


async def forged_pair(nca: Simulator) -> KeyPair:
    """An RSA key's certificate that names the simulator's GOST intermediate as its issuer."""
    async with aiohttp.ClientSession() as http, http.get(f"{nca.url}/cert/nca_gost2022_test.cer") as resp:
        gost_ca = x509.Certificate.load(await resp.read())
    signer = RsaSigner.generate()
    now = datetime.now(UTC)
    cert = certs.build_certificate(
        issuer=signer,
        issuer_name=gost_ca.subject,
        subject_name=certs.build_name(
            [("common_name", "ЖУМАБАЕВ ЕРЛАН"), ("serial_number", f"IIN{IIN}"), ("country_name", "KZ")]
        ),
        public_key=signer.public_key_info(),
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=30),
        extensions=[certs.key_usage({"digital_signature", "non_repudiation"})],
    )
    return KeyPair(signer, x509.Certificate.load(cert.dump()))


async def step_entries(api: Any) -> int:
    """identification.step audit entries, chained or still pending."""
    found = entries(event="identification.step").subquery()
    async with api.app[ENGINE].connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(found))).scalar_one())


async def test_forged_certificate_is_an_invalid_verdict_everywhere(
    simulator: Simulator,  # noqa: F811  (the fixture imported above)
    aiohttp_client: Any,
    dsn: str,
    keys: LocalKeyStore,
    tmp_path: Path,
) -> None:
    api = await sim_api(aiohttp_client, dsn, keys, simulator, tmp_path)
    forged = await forged_pair(simulator)
    pem = base64.b64encode(forged.certificate.dump()).decode()

    info = await api.post("/v1/eds/x509/info", {"certificate": pem})
    body = await info.json()
    assert info.status == 200 and body["valid"] is False and body["reasons"], body

    cms = base64.b64encode(sign_cms(forged, b"loan 45")).decode()
    verify = await api.post("/v1/eds/cms/verify", {"cms": cms})
    body = await verify.json()
    assert verify.status == 200 and body["valid"] is False and body["signers"][0]["reasons"], body

    client = await register(api, individual())
    ident = await open_identification(api, client)
    data = await challenge(api, ident)
    engine = api.app[ENGINE]
    audit_before = await step_entries(api)
    status, step = await submit(api, ident, create_cms_signature_from_base64(forged, data))
    assert status == 200 and step["outcome"] == "failed" and step["reasons"], step
    state = await (await api.get(f"/v1/identifications/{ident}")).json()
    assert [s["outcome"] for s in state["steps"]] == ["failed"]
    async with engine.connect() as conn:
        used = (await conn.execute(select(challenges.c.used_at))).scalars().all()
    assert all(u is not None for u in used) and used, used
    assert await step_entries(api) == audit_before + 1


async def test_a_self_signed_certificate_with_the_clients_name_is_untrusted(
    simulator: Simulator,  # noqa: F811  (the fixture imported above)
    aiohttp_client: Any,
    dsn: str,
    keys: LocalKeyStore,
    tmp_path: Path,
) -> None:
    """Issue 11 §12: refused as untrusted (not for key_usage) on every endpoint and in the EDS step."""
    api = await sim_api(aiohttp_client, dsn, keys, simulator, tmp_path)
    signer = RsaSigner.generate()
    now = datetime.now(UTC)
    name = certs.build_name([("common_name", "ЖУМАБАЕВ ЕРЛАН"), ("serial_number", f"IIN{IIN}"), ("country_name", "KZ")])
    cert = certs.build_certificate(
        issuer=signer,
        issuer_name=name,
        subject_name=name,
        public_key=signer.public_key_info(),
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=30),
        extensions=[certs.key_usage({"digital_signature", "non_repudiation"})],
    )
    own = KeyPair(signer, x509.Certificate.load(cert.dump()))
    info = await (await api.post("/v1/eds/x509/info", {"certificate": base64.b64encode(cert.dump()).decode()})).json()
    assert info["valid"] is False and info["reasons"] == ["untrusted_root"], info
    client = await register(api, individual())
    ident = await open_identification(api, client)
    status, step = await submit(api, ident, create_cms_signature_from_base64(own, await challenge(api, ident)))
    assert status == 200 and step["outcome"] == "failed" and "untrusted_root" in step["reasons"], step
    assert "key_usage" not in step["reasons"]
