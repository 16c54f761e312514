"""RFC 3161 TSA: OpenSSL verifies replies of the RSA TSA; the GOST-2015 TSA (NCA's policy
1.2.398.3.3.2.6.4, SHA-256 and Streebog-512 imprints) is checked with authsvc.pki.gost."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from asn1crypto import algos, cms, core, tsp, x509

from authsvc.pki import gost
from simulators.nca import oids
from simulators.nca.signer import timestamp_request
from tests.simulators.nca.helpers import FIXED_TIME, NcaClient, ca_cert, openssl, people, write_pem

QUERY = {"Content-Type": "application/timestamp-query"}


async def stamp(nca: NcaClient, query: bytes, path: str = "/tsp/") -> tsp.TimeStampResp:
    response = await nca.post(path, data=query, headers=QUERY)
    assert response.status == 200
    assert response.content_type == "application/timestamp-reply"
    return tsp.TimeStampResp.load(await response.read())


async def test_openssl_verifies_an_rsa_time_stamp(nca: NcaClient, tmp_path: Path) -> None:
    index = await people(nca)
    data = tmp_path / "data.bin"
    data.write_bytes(b"contract text to be time-stamped")
    query = tmp_path / "query.tsq"
    rc, out = await openssl("ts", "-query", "-data", data, "-sha256", "-cert", "-out", query)
    assert rc == 0, out
    reply = await stamp(nca, query.read_bytes(), "/tsp/?family=rsa")
    reply_path = tmp_path / "reply.tsr"
    reply_path.write_bytes(reply.dump())
    root = write_pem(tmp_path / "root.pem", ca_cert(index, "rsa", "root"))
    inter = write_pem(tmp_path / "inter.pem", ca_cert(index, "rsa", "intermediate"))
    rc, out = await openssl(
        "ts", "-verify", "-queryfile", query, "-in", reply_path, "-CAfile", root, "-untrusted", inter
    )
    assert rc == 0 and "Verification: OK" in out, out
    rc, out = await openssl("ts", "-reply", "-in", reply_path, "-text")
    assert f"Policy OID: {oids.TSA_POLICY_RSA}" in out
    # The token covers this data and no other.
    other = tmp_path / "other.bin"
    other.write_bytes(b"another text")
    rc, out = await openssl("ts", "-verify", "-data", other, "-in", reply_path, "-CAfile", root, "-untrusted", inter)
    assert rc != 0


def check_gost_token(token: cms.ContentInfo, tsa_cert: x509.Certificate) -> tsp.TSTInfo:
    signed = token["content"]
    info = signed["encap_content_info"]
    assert info["content_type"].native == "tst_info"
    signer_info = signed["signer_infos"][0]
    attrs = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    tst_der = info["content"].contents
    assert attrs["message_digest"].native == gost.digest(oids.STREEBOG_512, tst_der)
    ess = attrs["signing_certificate_v2"]["certs"][0]
    assert ess["cert_hash"].native == hashlib.sha256(tsa_cert.dump()).digest()
    signed_attrs = cms.CMSAttributes.load(signer_info["signed_attrs"].untag().dump())
    assert gost.verify(
        tsa_cert.public_key.dump(),
        signer_info["signature_algorithm"]["algorithm"].dotted,
        signed_attrs.dump(),
        signer_info["signature"].native,
    )
    return tsp.TSTInfo.load(tst_der)


@pytest.mark.parametrize("digest_oid", [oids.STREEBOG_512, oids.SHA256])
async def test_gost_tsa_stamps_streebog_and_sha256_imprints(nca: NcaClient, digest_oid: str) -> None:
    index = await people(nca)
    tsa_cert = ca_cert(index, "gost2015", "tsa")
    assert tsa_cert.extended_key_usage_value.native == ["time_stamping"]
    eku = next(e for e in tsa_cert["tbs_certificate"]["extensions"] if e["extn_id"].native == "extended_key_usage")
    assert eku["critical"].native is True
    query = timestamp_request(b"payload", algos.DigestAlgorithm({"algorithm": digest_oid}), nonce=1663507112663)
    reply = await stamp(nca, query)
    assert reply["status"]["status"].native == "granted"
    token = reply["time_stamp_token"]
    assert token["content"]["certificates"][0].chosen.dump() == tsa_cert.dump()
    info = check_gost_token(token, tsa_cert)
    assert info["policy"].dotted == oids.TSA_POLICY_GOST2015
    assert info["nonce"].native == 1663507112663
    assert info["gen_time"].native == FIXED_TIME
    imprint = info["message_imprint"]
    assert imprint["hash_algorithm"]["algorithm"].dotted == digest_oid
    expected = hashlib.sha256(b"payload").digest() if digest_oid == oids.SHA256 else gost.digest(digest_oid, b"payload")
    assert imprint["hashed_message"].native == expected


async def test_requested_policy_picks_the_tsa(nca: NcaClient) -> None:
    sha256 = algos.DigestAlgorithm({"algorithm": "sha256"})
    reply = await stamp(nca, timestamp_request(b"x", sha256, policy=oids.TSA_POLICY_RSA))
    info = tsp.TSTInfo.load(reply["time_stamp_token"]["content"]["encap_content_info"]["content"].contents)
    assert info["policy"].dotted == oids.TSA_POLICY_RSA


@pytest.mark.parametrize(
    ("query", "fail_info"),
    [
        (timestamp_request(b"x", algos.DigestAlgorithm({"algorithm": "sha1"})), "bad_alg"),
        (
            timestamp_request(b"x", algos.DigestAlgorithm({"algorithm": "sha256"}), policy="1.2.3.4"),
            "unaccepted_policy",
        ),
        (b"\x30\x00", "bad_data_format"),
        (
            tsp.TimeStampReq(
                {
                    "version": "v1",
                    "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"short"},
                }
            ).dump(),
            "bad_data_format",
        ),
    ],
    ids=["sha1-to-gost-tsa", "unknown-policy", "empty-sequence", "short-imprint"],
)
async def test_bad_queries_are_rejected(nca: NcaClient, query: bytes, fail_info: str) -> None:
    response = await nca.post("/tsp/", data=query, headers=QUERY)
    assert response.status == 200
    reply = core.Sequence.load(await response.read())
    assert len(reply) == 1  # a status and no token (asn1crypto's TimeStampResp demands one)
    status = tsp.PKIStatusInfo.load(reply[0].dump())
    assert status["status"].native == "rejection"
    assert status["fail_info"].native == {fail_info}
