"""The developer's two commands against the NCA simulator: get a test keystore, sign with it.

    python -m simulators.nca issue [--iin 900101300126] [--name "СЕРІКОВ АРМАН ҚАЙРАТҰЛЫ"] [--kind gost|rsa]
                                   [--bin 150140012343 --organization "ТОО …" --role ceo] [--password Qwerty12]
                                   [--url http://127.0.0.1:8701] --out key.p12
    python -m simulators.nca sign  --p12 key.p12 [--password Qwerty12] (--data-b64 B64 | --file F) [--detached]

``issue`` asks the running simulator (``POST /admin/issue``) so its OCSP responder and CRLs know the new
certificate; without ``--name`` a person of the simulated population (simulators/population.py) is named
by ``--iin``. It writes the .p12 and prints a JSON summary (serial, subject, password) on stdout.

``sign`` prints base64 of a DER CMS SignedData, as NCALayer's ``createCMSSignatureFromBase64`` returns
it (attached by default, ``--detached`` for a signature without the content): the ``cms`` the service's
``POST /v1/identifications/{id}/eds`` and ``POST /v1/eds/cms/verify`` take. The signing code is
``simulators.nca.signer`` (the same the tests use); GOST keys go through ``authsvc.pki.gost``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Final

from simulators.nca.keystore import DEFAULT_PASSWORD
from simulators.nca.oids import Role
from simulators.nca.signer import KeyPair, sign_cms
from simulators.population import build_population

DEFAULT_URL: Final = os.environ.get("NCA_SIMULATOR_URL", "http://127.0.0.1:8701")
DEFAULT_IIN: Final = "900101300126"  # arman, the population's happy path
KINDS: Final = {"gost": "gost2015", "gost2015": "gost2015", "rsa": "rsa"}


class CliError(Exception):
    """A message for the user; the command exits with status 2."""


def split_name(name: str) -> tuple[str, str, str | None]:
    """ "SURNAME FIRST [PATRONYMIC…]" → its parts (NCA writes names surname first)."""
    parts = name.split()
    if len(parts) < 2:
        raise CliError("--name needs at least a surname and a first name, e.g. 'СЕРІКОВ АРМАН'")
    return parts[0], parts[1], " ".join(parts[2:]) or None


def issue_request(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON body of POST /admin/issue for the command's options."""
    if args.name:
        surname, first_name, patronymic = split_name(args.name)
    else:
        person = build_population().by_iin.get(args.iin)
        if person is None:
            raise CliError(f"IIN {args.iin} is not in the simulated population; give --name too")
        surname, first_name, patronymic = person.surname, person.first_name, person.patronymic
    body: dict[str, Any] = {
        "iin": args.iin,
        "surname": surname,
        "first_name": first_name,
        "algorithm": KINDS[args.kind],
        "password": args.password,
    }
    optional = {
        "patronymic": patronymic,
        "bin": args.bin,
        "organization": args.organization,
        "role": args.role,
        "email": args.email,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if args.bin is not None and args.role is None:
        body["role"] = Role.EMPLOYEE.value
    if args.validity_days is not None:
        body["validity_days"] = args.validity_days
    return body


def post_json(url: str, body: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer: dict[str, Any] = json.load(response)
            return answer
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        raise CliError(f"the NCA simulator refused: {exc.code} {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise CliError(f"cannot reach the NCA simulator at {url} ({exc}); start it: python -m simulators") from None


def issue(args: argparse.Namespace) -> int:
    answer = post_json(args.url.rstrip("/") + "/admin/issue", issue_request(args))
    args.out.write_bytes(base64.b64decode(answer["p12"]))
    summary = {
        "p12": str(args.out),
        "password": answer["password"],
        "family": answer["family"],
        "serial": answer["serial"],
        "not_after": answer["not_after"],
        "iin": args.iin,
        "iin_valid": answer["iin_valid"],
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def content_of(args: argparse.Namespace) -> bytes:
    if (args.data_b64 is None) == (args.file is None):
        raise CliError("give exactly one of --data-b64 and --file")
    if args.file is not None:
        return bytes(args.file.read_bytes())
    try:
        return base64.b64decode(args.data_b64, validate=True)
    except (binascii.Error, ValueError):
        raise CliError("--data-b64 is not valid base64") from None


def sign(args: argparse.Namespace) -> int:
    content = content_of(args)
    try:
        pair = KeyPair.from_pkcs12(args.p12.read_bytes(), args.password)
    except (ValueError, OSError) as exc:
        raise CliError(f"cannot open {args.p12}: {exc}") from None
    der = sign_cms(pair, content, detached=args.detached)
    print(base64.b64encode(der).decode("ascii"))
    return 0


def add_commands(sub: Any) -> None:
    """Register ``issue`` and ``sign`` on an argparse subparsers object."""
    p = sub.add_parser("issue", help="issue a test keystore (.p12) from the running simulator")
    p.add_argument(
        "--url", default=DEFAULT_URL, help="the NCA simulator (default $NCA_SIMULATOR_URL, else http://127.0.0.1:8701)"
    )
    p.add_argument("--iin", default=DEFAULT_IIN, help=f"holder's IIN (default {DEFAULT_IIN}, arman)")
    p.add_argument("--name", help="'SURNAME FIRST PATRONYMIC' (default: the population's name for --iin)")
    p.add_argument("--kind", choices=sorted(KINDS), default="gost", help="key algorithm (default gost)")
    p.add_argument("--bin", help="company BIN: a legal-entity certificate (e.g. 150140012343)")
    p.add_argument("--organization", help="company name (with --bin)")
    p.add_argument("--role", choices=[r.value for r in Role], help="role EKU (default individual / employee)")
    p.add_argument("--email")
    p.add_argument("--validity-days", type=int)
    p.add_argument("--password", default=DEFAULT_PASSWORD, help=f"keystore password (default {DEFAULT_PASSWORD})")
    p.add_argument("--out", type=Path, required=True, help="where to write the .p12")
    p.set_defaults(command=issue)
    s = sub.add_parser("sign", help="sign data with a .p12: prints base64 of the CMS")
    s.add_argument("--p12", type=Path, required=True)
    s.add_argument("--password", default=DEFAULT_PASSWORD)
    s.add_argument("--data-b64", help="base64 of the bytes to sign (e.g. an EDS challenge's data)")
    s.add_argument("--file", type=Path, help="a file to sign (e.g. a contract)")
    s.add_argument("--detached", action="store_true", help="leave the content out of the CMS")
    s.set_defaults(command=sign)


def run(args: argparse.Namespace) -> int:
    try:
        code: int = args.command(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code
