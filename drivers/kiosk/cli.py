"""`authsvc-kiosk`: identify a client or sign a contract at a kiosk with the client's token or key file.

    authsvc-kiosk identify --service URL --api-key-file F --module /usr/lib/…/pkcs11.so --identification ID
    authsvc-kiosk identify … --client CLIENT_ID --operation login       (opens the identification itself)
    authsvc-kiosk sign-contract … --contract ID --document contract.pdf
    authsvc-kiosk … --p12 key.p12                                       (software key, e.g. GOST, no card)
    authsvc-kiosk … --reader ["Reader name"] [--card-slot 82|9C|9A]     (PIV / ID card by APDUs: GOST too)
    authsvc-kiosk tokens --module …                                     (list the tokens and whose they are)
    authsvc-kiosk cards                                                 (list the readers and whose cards)

The PIN is asked without echo, or read from a file descriptor (``--pin-fd 3``) by a kiosk shell; it is
never written anywhere. Every failure prints a sentence for the operator in ``--lang`` (en, ru, kk) and
ends with its own exit status (below). ``--json`` prints one JSON line for the kiosk shell as well.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from authsvc.pki.certinfo import cert_info
from drivers.kiosk.card import CardSigner, card_failure
from drivers.kiosk.failures import KioskFailure, from_token_error
from drivers.kiosk.flow import identify, sign_contract
from drivers.kiosk.messages import LANGS, OUTCOMES, PROMPTS, Lang, exit_codes_help, message, tries_text
from drivers.kiosk.service import ServiceClient
from drivers.kiosk.signer import P12Signer, Signer, TokenSigner
from drivers.pcsc import Context, PcscError, PivCard
from drivers.pkcs11 import Holder, Module, TokenError, TokenSession


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="authsvc-kiosk",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--lang", choices=LANGS, default="en", help="language of what the operator reads")
    p.add_argument("--json", action="store_true", help="also print the result as one JSON line on stdout")
    sub = p.add_subparsers(dest="command", required=True)

    def common(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--service", default=os.environ.get("AUTHSVC_URL", "http://127.0.0.1:8080"))
        cmd.add_argument("--api-key-file", type=Path, help="file holding the lender's API key (else $AUTHSVC_API_KEY)")
        key = cmd.add_mutually_exclusive_group(required=True)
        key.add_argument("--module", help="PKCS#11 module of the token or card reader")
        key.add_argument("--p12", type=Path, help="PKCS#12 key file signed in software (GOST or RSA)")
        key.add_argument(
            "--reader", nargs="?", const="", metavar="NAME",
            help="a PIV card through PC/SC, signed by APDUs (the only path to a card's GOST key); "
            "without NAME the first reader a card is in",
        )  # fmt: skip
        cmd.add_argument(
            "--card-slot", type=_slot, metavar="SLOT",
            help="card key with --reader: 82 (GOST), 9C (signature), 9A (authentication); default the first of these",
        )  # fmt: skip
        cmd.add_argument("--token-label", help="which token, when several are inserted")
        cmd.add_argument("--key-label", help="which certificate on the token")
        cmd.add_argument("--pin-fd", type=int, help="read the PIN (or key file password) from this descriptor")
        cmd.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the token (default 60)")
        cmd.add_argument("--timeout", type=float, default=30.0, help="seconds per request to the service")

    ident = sub.add_parser("identify", help="EDS identification over the service's challenge")
    common(ident)
    ident.add_argument("--identification", help="identification id opened by the lender")
    ident.add_argument("--client", help="client id: open the identification here")
    ident.add_argument("--operation", default="login", help="operation of a new identification (default login)")
    contract = sub.add_parser("sign-contract", help="sign a registered loan contract (R-10.1)")
    common(contract)
    contract.add_argument("--contract", required=True)
    contract.add_argument("--document", required=True, type=Path, help="the contract document shown to the client")
    tokens = sub.add_parser("tokens", help="list the tokens of a module and whose certificates they carry")
    tokens.add_argument("--module", required=True)
    sub.add_parser("cards", help="list the smart-card readers and whose certificates their cards carry")
    return p


def _slot(text: str) -> int:
    slot = int(text, 16)
    if slot not in (0x82, 0x9A, 0x9C, 0x9D, 0x9E):
        raise argparse.ArgumentTypeError("a card slot is 82, 9A, 9C, 9D or 9E")
    return slot


def _api_key(args: argparse.Namespace) -> str:
    if args.api_key_file is not None:
        return str(args.api_key_file.read_text().strip())
    key = os.environ.get("AUTHSVC_API_KEY", "")
    if not key:
        raise KioskFailure("rejected", "no API key: give --api-key-file or set AUTHSVC_API_KEY")
    return key


def _read_fd(fd: int) -> str:
    try:
        with os.fdopen(fd, "r", closefd=False) as stream:
            return stream.readline().rstrip("\r\n")
    except OSError as exc:
        raise KioskFailure("pin_cancelled", f"the PIN could not be read from descriptor {fd}: {exc}") from exc


class Console:
    def __init__(self, lang: Lang, pin_fd: int | None) -> None:
        self.lang = lang
        self.pin_fd = pin_fd

    def say(self, key: str, detail: str) -> None:
        print(PROMPTS[key][self.lang].format(detail=detail), file=sys.stderr, flush=True)

    async def ask(self, secret_name: str) -> str | None:
        if self.pin_fd is not None:
            return await asyncio.to_thread(_read_fd, self.pin_fd)
        try:
            return await asyncio.to_thread(getpass.getpass, PROMPTS[secret_name][self.lang])
        except EOFError:  # no terminal and nothing on stdin: nobody can type the PIN here
            raise KioskFailure("pin_cancelled", "no terminal to ask the PIN on: give it with --pin-fd") from None


async def _run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    signer: Signer
    if args.p12 is not None:
        signer = P12Signer(args.p12)
    elif args.reader is not None:
        signer = CardSigner(args.reader or None, slot=args.card_slot)
    else:
        signer = TokenSigner(args.module, token_label=args.token_label, key_label=args.key_label)
    try:
        async with ServiceClient(args.service, _api_key(args), timeout_s=args.timeout) as service:
            if args.command == "identify":
                result = await identify(
                    service, signer, identification_id=args.identification, client_id=args.client,
                    operation=args.operation, wait_s=args.wait, say=console.say, ask=console.ask,
                )  # fmt: skip
            else:
                result = await sign_contract(
                    service, signer, contract_id=args.contract, document=args.document, wait_s=args.wait,
                    say=console.say, ask=console.ask,
                )  # fmt: skip
            if signer.reopened:
                console.say("reopened", "")
            return result
    finally:
        await signer.close()


def _list_tokens(module_path: str) -> int:
    module = Module(module_path)
    for info in module.tokens():
        line = f"{info.label}  serial {info.serial}  {info.manufacturer} {info.model}"
        line += "  (PIN pad)" if info.protected_auth else ""
        try:
            holders = [c.holder.describe() for c in TokenSession(module, serial=info.serial).certificates()]
        except TokenError as exc:
            holders = [exc.sentence]
        print(line)
        for holder in holders:
            print("    " + holder)
    return 0


def _list_cards() -> int:
    with Context() as ctx:
        for reader in ctx.readers():
            if not ctx.state(reader).present:
                print(f"{reader}  (no card)")
                continue
            print(reader)
            try:
                with ctx.connect(reader) as conn:
                    for cert in PivCard(conn).certificates():
                        holder = Holder.of(cert_info(cert.der)).describe()
                        print(f"    slot {cert.slot:02X}  {cert.algorithm.value:<13} {holder}")
            except PcscError as exc:
                print(f"    {exc}")
    return 0


def _report(args: argparse.Namespace, code: str, detail: str, extra: dict[str, Any]) -> int:
    outcome = OUTCOMES[code]
    text = message(code, args.lang, detail)
    print(text, file=sys.stdout if outcome.exit_status == 0 else sys.stderr)
    if args.json:
        print(
            json.dumps({"code": code, "exit_status": outcome.exit_status, "message": text, **extra}, ensure_ascii=False)
        )
    return outcome.exit_status


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "tokens":
            return _list_tokens(args.module)
        if args.command == "cards":
            return _list_cards()
        console = Console(args.lang, args.pin_fd)
        result = asyncio.run(_run(args, console))
        return _report(args, str(result["outcome"]), "", result)
    except TokenError as exc:
        failure = from_token_error(exc)
        return _report(args, failure.code, failure.detail, {})
    except PcscError as exc:  # outside a signer (``cards``)
        failure = card_failure(exc)
        return _report(args, failure.code, failure.detail, {})
    except KioskFailure as failure:
        detail = failure.detail
        if failure.code == "pin_incorrect":
            detail = tries_text(failure.tries, failure.tries_left, args.lang)
        return _report(args, failure.code, detail, {"detail": failure.detail} if failure.detail else {})
    except KeyboardInterrupt:
        return _report(args, "pin_cancelled", "", {})


if __name__ == "__main__":
    raise SystemExit(main())
