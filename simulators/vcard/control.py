"""The emulator's control channel, local HTTP (JSON):

GET  /status   {"inserted", "connected", "port", "pin_tries_left", "puk_tries_left", "apdus", ...}
POST /insert   put the card into the vpcd reader (waits until vpcd accepted it)
POST /remove   pull it out; {"during": "general-authenticate"} pulls it out when the next
               GENERAL AUTHENTICATE arrives, before answering (a card yanked mid-signature)"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from simulators.vcard.vpcd import VirtualReaderLink

LINK_KEY: Final = web.AppKey("vcard_link", VirtualReaderLink)
INSERT_WAIT_KEY: Final = web.AppKey("vcard_insert_wait", float)
DURING: Final = {"general-authenticate": 0x87, "verify": 0x20, "get-data": 0xCB, "select": 0xA4}


def _status(link: VirtualReaderLink) -> dict[str, Any]:
    applet = link.card.applet
    return {
        "inserted": link.inserted,
        "connected": link.connected,
        "host": link.host,
        "port": link.port,
        "holder": applet.profile.holder,
        "slots": [f"{s:02X}" for s in sorted(applet.keys)],
        "pin_tries_left": applet.pin.left,
        "puk_tries_left": applet.puk.left,
        "apdus": link.stats.apdus,
        "insertions": link.stats.insertions,
        "removals": link.stats.removals,
    }


def _problem(status: int, code: str, detail: str) -> web.Response:
    body = {"type": "about:blank", "title": code.replace("_", " "), "status": status, "detail": detail, "code": code}
    return web.json_response(body, status=status, content_type="application/problem+json")


async def status(request: web.Request) -> web.Response:
    return web.json_response(_status(request.app[LINK_KEY]))


async def insert(request: web.Request) -> web.Response:
    link = request.app[LINK_KEY]
    await link.insert(wait=request.app[INSERT_WAIT_KEY])
    if not link.connected:
        return _problem(503, "vpcd_unreachable", f"no vpcd reader accepted the card on {link.host}:{link.port}")
    return web.json_response(_status(link))


async def remove(request: web.Request) -> web.Response:
    link = request.app[LINK_KEY]
    body: Any = {}
    if request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            return _problem(400, "invalid_json", "the body is not JSON")
    during = body.get("during") if isinstance(body, dict) else None
    if during is None:
        await link.remove()
    elif during in DURING:
        link.remove_on_ins = DURING[during]
    else:
        return _problem(400, "invalid_during", f"during must be one of {sorted(DURING)}")
    return web.json_response(_status(link))


def create_app(link: VirtualReaderLink, *, insert_wait: float = 10.0) -> web.Application:
    """`insert_wait`: how long POST /insert waits for vpcd to accept the card before answering 503
    (the card stays inserted and keeps trying, as a card left in a reader whose pcscd is down)."""
    app = web.Application()
    app[LINK_KEY] = link
    app[INSERT_WAIT_KEY] = insert_wait
    app.router.add_get("/status", status)
    app.router.add_post("/insert", insert)
    app.router.add_post("/remove", remove)
    return app
