"""The NCALayer protocol subset the hosted page and the web SDK speak, over a WebSocket at ``/``.

What the real NCALayer does, as its clients use it (sigex-kz/ncalayer-js-client ``ncalayer-client.js``; the
wire types of fedor35/ncalayer-rs ``crates/nca-protocol``):

- on open it greets with ``{"result": {"version": "1.4"}}``;
- ``kz.gov.pki.knca.commonUtils`` takes positional ``args`` and answers ``{"code": "200", "message": "",
  "responseObject": …}`` or ``{"code": "500", "message": "<key>"}``; a user who closes the key dialog gets
  ``action.canceled``. Methods here: ``getActiveTokens`` (hardware token types; a file keystore, storage
  ``PKCS12``, is never "active"), ``getKeyInfo [storage]`` (the user picks a keystore and types its
  password; the answer describes the key and its certificate), ``createCMSSignatureFromBase64`` and
  ``createCAdESFromBase64`` ``[storage, keyType, base64, attached]`` (base64 of a DER CMS SignedData),
  ``changeLocale [locale]``;
- ``kz.gov.pki.knca.basics`` ``sign`` takes named ``args`` (``allowedStorages``, ``format: "cms"``, ``data``
  (base64, or a list), ``signingParams {decode, encapsulate, digested}``, ``signerParams``, ``locale``) and
  answers ``{"status": true, "body": {"result": [cms, …]}}``; a cancelled dialog is ``status: true`` with an
  empty body; a failure ``{"status": false, "code": "SIGNING_FAILURE" | …, "message": …}``;
- an unknown module gets ``{"success": false, "errorCode": "MODULE_NOT_FOUND"}``.

The key dialog is the simulated user: it picks keystore ``user.keystore`` and types ``user.password`` (the
keystore's own password unless told otherwise); the keystore is really opened with it and the certificate's
validity really checked against the simulator's clock. Message keys other than ``action.canceled`` are the
simulator's own (``password.incorrect``, ``storage.empty``, ``certificate.expired``); a page shows a
sentence for each and a general one for any other.

Control, over HTTPS on the same port (for tests and the demo)::

    POST   /control/keystores {"name", "p12": base64, "password"}  -> 201 {"index"}   (issued by the NCA simulator)
    DELETE /control/keystores                                      -> 204
    POST   /control/fault {"fault": "not_running" | "cancel" | "wrong_password" | "no_key" | "expired" | null}
    POST   /control/user {"keystore": i, "password": "...", "delay_ms": n}
    GET    /control/log                                            -> {"requests": [{"module", "method"}]}

``not_running``: the WebSocket handshake is refused, as a browser sees a port nobody listens on (the socket
fails, then closes); ``expired`` moves the simulator's clock past the certificate's end.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, get_args

from aiohttp import WSMsgType, web
from asn1crypto import pem

from simulators.nca import certs
from simulators.nca.signer import KeyPair, sign_cms

log = logging.getLogger("simulators.ncalayer")

VERSION: Final = "1.4"
COMMON: Final = "kz.gov.pki.knca.commonUtils"
BASICS: Final = "kz.gov.pki.knca.basics"
FILE_STORAGE: Final = "PKCS12"
CANCELED: Final = "action.canceled"
WRONG_PASSWORD: Final = "password.incorrect"
NO_KEY: Final = "storage.empty"
EXPIRED: Final = "certificate.expired"
Fault = Literal["not_running", "cancel", "wrong_password", "no_key", "expired"]
FAULTS: Final = get_args(Fault)
MAX_DATA_B64: Final = 8 * 1024 * 1024  # NCALayer's WebSocket takes a few MB at most


@dataclass(frozen=True)
class Keystore:
    name: str
    p12: bytes
    password: str


@dataclass
class User:
    """What the person does in NCALayer's key dialog."""

    keystore: int = 0
    password: str | None = None  # None: the keystore's own password
    delay_ms: int = 0


@dataclass
class State:
    keystores: list[Keystore] = field(default_factory=list)
    user: User = field(default_factory=User)
    fault: Fault | None = None
    log: list[dict[str, str]] = field(default_factory=list)
    clock_offset: timedelta = timedelta(0)


class DialogFailed(Exception):
    """The key dialog ended without a key: ``key`` is the message NCALayer answers."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


STATE = web.AppKey("ncalayer_state", State)


def _common_ok(value: Any) -> dict[str, Any]:
    return {"code": "200", "message": "", "responseObject": value}


def _common_error(key: str) -> dict[str, Any]:
    return {"code": "500", "message": key}


def _name(name: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in name.native.items())


def _cn(name: Any) -> str:
    return str(name.native.get("common_name", ""))


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%d.%m.%Y %H:%M:%S")


def key_info(pair: KeyPair, alias: str) -> dict[str, Any]:
    """commonUtils ``getKeyInfo``'s answer (field names as NCALayer's KeyInfo)."""
    cert = pair.certificate
    tbs = cert["tbs_certificate"]
    rsa = certs.public_key_algorithm(cert.public_key) == "1.2.840.113549.1.1.1"
    return {
        "alias": alias,
        "keyId": certs.key_identifier(cert.public_key).hex(),
        "algorithm": "RSA" if rsa else "ECGOST3410-2015",
        "subjectCn": _cn(cert.subject),
        "subjectDn": _name(cert.subject),
        "issuerCn": _cn(cert.issuer),
        "issuerDn": _name(cert.issuer),
        "serialNumber": format(tbs["serial_number"].native, "x"),
        "certNotBefore": _when(cert.not_valid_before),
        "certNotAfter": _when(cert.not_valid_after),
        "authorityKeyIdentifier": (cert.authority_key_identifier or b"").hex(),
        "pem": pem.armor("CERTIFICATE", cert.dump()).decode("ascii"),
    }


async def _dialog(state: State) -> tuple[KeyPair, str]:
    """The key dialog: pick a keystore, type its password, get its key (or the reason there is none)."""
    user = state.user
    if user.delay_ms:
        await asyncio.sleep(user.delay_ms / 1000)
    if state.fault == "cancel":
        raise DialogFailed(CANCELED)
    if state.fault == "no_key" or not state.keystores:
        raise DialogFailed(NO_KEY)
    chosen = state.keystores[min(user.keystore, len(state.keystores) - 1)]
    typed = user.password if user.password is not None else chosen.password
    if state.fault == "wrong_password":
        typed += "-typo"
    try:
        pair = await asyncio.to_thread(KeyPair.from_pkcs12, chosen.p12, typed)
    except ValueError:
        raise DialogFailed(WRONG_PASSWORD) from None
    now = datetime.now(UTC) + state.clock_offset
    if state.fault == "expired":
        now = max(now, pair.certificate.not_valid_after + timedelta(days=1))
    if not pair.certificate.not_valid_before <= now <= pair.certificate.not_valid_after:
        raise DialogFailed(EXPIRED)
    return pair, chosen.name


def _b64(value: Any) -> bytes:
    if not isinstance(value, str) or len(value) > MAX_DATA_B64:
        raise ValueError("data must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("data is not valid base64") from None


async def _sign(pair: KeyPair, content: bytes, attached: bool) -> str:
    der = await asyncio.to_thread(sign_cms, pair, content, detached=not attached)
    return base64.b64encode(der).decode("ascii")


async def common_utils(state: State, method: str, args: list[Any]) -> dict[str, Any]:
    if method == "getActiveTokens":
        return _common_ok([])  # no hardware tokens plugged in; the file storage is always offered
    if method == "changeLocale":
        return _common_ok(None)
    if method == "getKeyInfo":
        try:
            pair, alias = await _dialog(state)
        except DialogFailed as exc:
            return _common_error(exc.key)
        return _common_ok(key_info(pair, alias))
    if method in ("createCMSSignatureFromBase64", "createCAdESFromBase64"):
        if len(args) < 3:
            return _common_error("args.invalid")
        try:
            content = _b64(args[2])
        except ValueError:
            return _common_error("data.invalid")
        attached = bool(args[3]) if len(args) > 3 else False
        try:
            pair, _ = await _dialog(state)
        except DialogFailed as exc:
            return _common_error(exc.key)
        return _common_ok(await _sign(pair, content, attached))
    return _common_error("method.not.found")


def _flag(value: Any, default: bool) -> bool:
    # NCALayer's samples send these as strings ("true") and as booleans.
    if value is None:
        return default
    return value in (True, "true", "TRUE", "True")


async def basics(state: State, method: str, args: dict[str, Any]) -> dict[str, Any]:
    if method != "sign":
        return {"status": False, "code": "INVOCATION_ERROR", "message": f"no such method {method!r}"}
    params = args.get("signingParams") or {}
    if args.get("format", "cms") != "cms" or _flag(params.get("digested"), False):
        return {"status": False, "code": "INVALID_SIGNING_PARAMS", "message": "only CMS over the data itself"}
    data = args.get("data")
    items = data if isinstance(data, list) else [data]
    try:
        contents = [_b64(d) if _flag(params.get("decode"), True) else str(d).encode() for d in items]
    except ValueError as exc:
        return {"status": False, "code": "INVALID_SIGNING_PARAMS", "message": str(exc)}
    try:
        pair, _ = await _dialog(state)
    except DialogFailed as exc:
        if exc.key == CANCELED:
            return {"status": True, "body": {}}
        return {"status": False, "code": "SIGNING_FAILURE", "message": exc.key, "details": exc.key}
    attached = _flag(params.get("encapsulate"), True)
    return {"status": True, "body": {"result": [await _sign(pair, c, attached) for c in contents]}}


async def answer(state: State, text: str) -> dict[str, Any] | None:
    try:
        request = json.loads(text)
    except ValueError:
        return _common_error("request.invalid")
    if not isinstance(request, dict):
        return _common_error("request.invalid")
    module, method = str(request.get("module", "")), str(request.get("method", ""))
    state.log.append({"module": module, "method": method})
    args = request.get("args")
    if module == COMMON:
        reply = await common_utils(state, method, args if isinstance(args, list) else [])
    elif module == BASICS:
        reply = await basics(state, method, args if isinstance(args, dict) else {})
    else:
        return {"success": False, "errorCode": "MODULE_NOT_FOUND"}
    if "uuid" in request:
        reply["uuid"] = request["uuid"]
    return reply


async def websocket(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if state.fault == "not_running":
        raise web.HTTPServiceUnavailable()
    ws = web.WebSocketResponse(max_msg_size=MAX_DATA_B64 + 65536, heartbeat=None)
    await ws.prepare(request)
    await ws.send_json({"result": {"version": VERSION}})
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        if msg.data == "--heartbeat--":
            await ws.send_str("--heartbeat--")
            continue
        reply = await answer(state, msg.data)
        if reply is not None and not ws.closed:
            await ws.send_json(reply)
    return ws


async def add_keystore(request: web.Request) -> web.Response:
    body = await request.json()
    try:
        store = Keystore(str(body.get("name", "key.p12")), base64.b64decode(body["p12"]), str(body["password"]))
    except (KeyError, TypeError, binascii.Error, ValueError) as exc:
        raise web.HTTPBadRequest(text=f"need name, p12 (base64) and password: {exc}") from None
    state = request.app[STATE]
    state.keystores.append(store)
    return web.json_response({"index": len(state.keystores) - 1}, status=201)


async def clear_keystores(request: web.Request) -> web.Response:
    request.app[STATE].keystores.clear()
    return web.Response(status=204)


async def set_fault(request: web.Request) -> web.Response:
    fault = (await request.json()).get("fault")
    if fault is not None and fault not in FAULTS:
        raise web.HTTPBadRequest(text=f"fault must be one of {FAULTS} or null")
    request.app[STATE].fault = fault
    return web.json_response({"fault": fault})


async def set_user(request: web.Request) -> web.Response:
    body = await request.json()
    request.app[STATE].user = User(
        int(body.get("keystore", 0)), body.get("password"), max(0, int(body.get("delay_ms", 0)))
    )
    return web.json_response({"ok": True})


async def read_log(request: web.Request) -> web.Response:
    return web.json_response({"requests": request.app[STATE].log})


def create_app(state: State | None = None) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[STATE] = state or State()
    app.router.add_get("/", websocket)
    app.router.add_post("/control/keystores", add_keystore)
    app.router.add_delete("/control/keystores", clear_keystores)
    app.router.add_post("/control/fault", set_fault)
    app.router.add_post("/control/user", set_user)
    app.router.add_get("/control/log", read_log)
    return app
