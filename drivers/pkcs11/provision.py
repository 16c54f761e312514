"""`python -m drivers.pkcs11.provision`: a SoftHSM2 token ready for the kiosk, in one command.

Creates the token in the SOFTHSM2_CONF given (writing that file and its token folder if absent), sets its
SO and user PINs, and puts certificate/key pairs on it: issued on the spot by the NCA test-PKI simulator
(``--nca-url``, RSA: SoftHSM2 has no GOST mechanisms, so GOST keys are signed in software from a .p12
instead), read from a PKCS#12 file (e.g. NCA's own RSA test keystores) or from PEM files (any RSA or EC
key, e.g. one certified by a test CA). Private keys are stored sensitive and non-extractable.
``--generate-ec LABEL`` makes a P-256 key pair on the token itself and prints its public key (the NCA
simulator issues RSA and GOST only, so it cannot certify it). Test tokens only: PINs on the command line
are visible to other local users.

Prints one JSON object: the token's label and serial and what was stored (label, CKA_ID, holder).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pkcs11
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
from pkcs11.util.rsa import decode_rsa_private_key
from pkcs11.util.x509 import decode_x509_certificate

from authsvc.pki.certinfo import cert_info
from drivers.pkcs11.credentials import Holder
from drivers.pkcs11.module import Module

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def write_conf(conf: Path, token_dir: Path) -> None:
    """A SoftHSM2 configuration with its own token folder (nothing shared with /var/lib/softhsm)."""
    token_dir.mkdir(parents=True, exist_ok=True)
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(f"directories.tokendir = {token_dir}\nobjectstore.backend = file\nlog.level = ERROR\n")


def init_token(label: str, so_pin: str, user_pin: str, env: dict[str, str]) -> None:
    """C_InitToken + C_InitPIN through SoftHSM2's own tool (python-pkcs11 has no C_InitToken)."""
    subprocess.run(  # noqa: S603 - fixed tool, arguments from our own options
        ["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", so_pin, "--pin", user_pin],  # noqa: S607
        check=True,
        env=env,
        capture_output=True,
    )


def _key_id(certificate_der: bytes) -> bytes:
    """CKA_ID: the certificate's subject key identifier, else SHA-1 of its public key (as OpenSC does)."""
    cert = asn1_x509.Certificate.load(certificate_der)
    ski = cert.key_identifier
    if ski:
        return bytes(ski)
    return hashlib.sha1(cert.public_key["public_key"].contents).digest()  # noqa: S324 - an identifier


def _private_attributes(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> dict[Attribute, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        attrs = decode_rsa_private_key(der)
    else:
        curve_oid = {"secp256r1": "1.2.840.10045.3.1.7", "secp384r1": "1.3.132.0.34"}[key.curve.name]
        attrs = {
            Attribute.CLASS: ObjectClass.PRIVATE_KEY,
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: encode_named_curve_parameters(curve_oid),
            Attribute.VALUE: key.private_numbers().private_value.to_bytes((key.curve.key_size + 7) // 8, "big"),
        }
    attrs[Attribute.SIGN] = True
    attrs[Attribute.DECRYPT] = False
    attrs[Attribute.UNWRAP] = False
    return attrs


def store_pair(session: pkcs11.Session, label: str, certificate_der: bytes, private_key: Any) -> dict[str, Any]:
    """Put one certificate and its private key on the token under one CKA_ID."""
    if not isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SystemExit(f"{label}: only RSA and EC keys can go on this token (SoftHSM2 has no GOST)")
    key_id = _key_id(certificate_der)
    private = _private_attributes(private_key)
    private.update(
        {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.ID: key_id,
            Attribute.LABEL: label,
        }
    )
    session.create_object(private)
    cert = decode_x509_certificate(certificate_der)
    cert.update({Attribute.VALUE: certificate_der, Attribute.TOKEN: True, Attribute.ID: key_id, Attribute.LABEL: label})
    session.create_object(cert)
    return {"label": label, "id": key_id.hex(), "holder": Holder.of(cert_info(certificate_der)).describe()}


def _pem_der(text: str) -> bytes:
    _, _, der = asn1_pem.unarmor(text.encode())
    return bytes(der)


def issue_from_nca(nca_url: str, holder: dict[str, str]) -> tuple[bytes, Any]:
    """POST /admin/issue on the NCA test-PKI simulator: a fresh RSA key and its NCA-profile certificate."""
    body = json.dumps({**holder, "algorithm": "rsa"}).encode()
    request = urllib.request.Request(  # noqa: S310 - the operator's simulator URL
        nca_url.rstrip("/") + "/admin/issue", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        issued = json.loads(response.read())
    key = serialization.load_pem_private_key(issued["private_key_pem"].encode(), password=None)
    return _pem_der(issued["certificate_pem"]), key


def generate_ec(session: pkcs11.Session, label: str) -> dict[str, Any]:
    """A P-256 key pair made on the token (the private half never exists outside it)."""
    key_id = hashlib.sha256(label.encode() + os.urandom(16)).digest()[:20]
    params = session.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("1.2.840.10045.3.1.7")}, local=True
    )
    public, _ = params.generate_keypair(
        store=True,
        label=label,
        id=key_id,
        private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
    )
    spki = asn1_keys.PublicKeyInfo.load(encode_ec_public_key(public))
    return {"label": label, "id": key_id.hex(), "public_key_pem": asn1_pem.armor("PUBLIC KEY", spki.dump()).decode()}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m drivers.pkcs11.provision", description=__doc__.split("\n\n")[0])
    p.add_argument("--conf", type=Path, help="SOFTHSM2_CONF to use (default: $SOFTHSM2_CONF)")
    p.add_argument("--token-dir", type=Path, help="write --conf with this token folder if it does not exist")
    p.add_argument("--module", default=SOFTHSM_MODULE, help=f"SoftHSM2 module (default {SOFTHSM_MODULE})")
    p.add_argument("--label", required=True, help="token label")
    p.add_argument("--so-pin", required=True)
    p.add_argument("--pin", required=True, help="user PIN")
    p.add_argument(
        "--nca-url", help="NCA simulator base URL: issue an RSA certificate for --iin/--surname/--first-name"
    )
    p.add_argument("--iin")
    p.add_argument("--surname")
    p.add_argument("--first-name")
    p.add_argument("--patronymic")
    p.add_argument("--bin", help="legal entity BIN (with --role)")
    p.add_argument("--role", help="NCA role for a legal-entity certificate (ceo, sign, ...)")
    p.add_argument("--p12", action="append", default=[], type=Path, help="PKCS#12 file to import (repeatable)")
    p.add_argument("--p12-password", default="Qwerty12")
    p.add_argument("--pem", nargs=2, action="append", default=[], metavar=("CERT", "KEY"), help="PEM pair to import")
    p.add_argument("--generate-ec", action="append", default=[], metavar="LABEL", help="make a P-256 key on the token")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = dict(os.environ)
    conf = args.conf or (Path(env["SOFTHSM2_CONF"]) if "SOFTHSM2_CONF" in env else None)
    if conf is None:
        print("give --conf or set SOFTHSM2_CONF", file=sys.stderr)
        return 2
    if args.token_dir is not None and not conf.exists():
        write_conf(conf, args.token_dir)
    env["SOFTHSM2_CONF"] = os.environ["SOFTHSM2_CONF"] = str(conf)  # read by the module at C_Initialize
    init_token(args.label, args.so_pin, args.pin, env)
    module = Module(args.module)
    token = module.token(label=args.label)
    stored: list[dict[str, Any]] = []
    with token.open(rw=True, user_pin=args.pin) as session:
        if args.nca_url:
            if not (args.iin and args.surname and args.first_name):
                print("--nca-url needs --iin, --surname and --first-name", file=sys.stderr)
                return 2
            holder = {"iin": args.iin, "surname": args.surname, "first_name": args.first_name}
            holder |= {k: v for k, v in (("patronymic", args.patronymic), ("bin", args.bin), ("role", args.role)) if v}
            cert_der, key = issue_from_nca(args.nca_url, holder)
            stored.append(store_pair(session, f"nca-rsa-{args.iin}", cert_der, key))
        for path in args.p12:
            key, cert, _ = pkcs12.load_key_and_certificates(path.read_bytes(), args.p12_password.encode())
            if key is None or cert is None:
                print(f"{path}: no key and certificate inside", file=sys.stderr)
                return 2
            stored.append(store_pair(session, path.stem, cert.public_bytes(serialization.Encoding.DER), key))
        for cert_path, key_path in args.pem:
            key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
            stored.append(store_pair(session, Path(cert_path).stem, _pem_der(Path(cert_path).read_text()), key))
        for label in args.generate_ec:
            stored.append(generate_ec(session, label))
    info = {"conf": str(conf), "module": args.module, "label": args.label, "serial": token.serial.decode().strip()}
    print(json.dumps(info | {"objects": stored}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
