"""Answers aiohttp gives before any middleware runs, as problem+json like every other error (issue 11 §11).

aiohttp's HTTP parser refuses a request line or header over its limits (8,190 bytes), a malformed header or
a bad method itself, in `RequestHandler.handle_error`, as ``text/plain`` and with a traceback in the log:
no middleware sees the request and aiohttp has no public hook for it (aio-libs/aiohttp#3287). The service's
servers therefore build their connections with `ProblemRequestHandler`, which answers these as the
catalogue's ``bad_request`` (400) with a request id and logs one line without a traceback (it is the
client's mistake). Installed per application by `answer_parser_errors`, so `authsvc serve` and the test
servers (both through `web.AppRunner`) behave alike.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from authsvc import error_codes
from authsvc.api.problem import problem_response

log = logging.getLogger("authsvc.http")


class ProblemRequestHandler(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status != 400 or not isinstance(exc, BadHttpMessage):
            return super().handle_error(request, status, exc, message)  # not the parser's: aiohttp's answer
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send the error answer")
        rid = uuid.uuid4().hex
        if isinstance(exc, LineTooLong):
            detail = "the request line or a header is longer than the server accepts"
        else:
            detail = "the HTTP request could not be parsed (request line, headers or body framing)"
        log.info("bad HTTP request", extra={"request_id": rid, "status": 400, "reason": type(exc).__name__})
        resp = problem_response(error_codes.BAD_REQUEST, detail, request_id=rid)
        resp.headers["X-Request-Id"] = rid
        resp.force_close()  # the parser lost its place in the stream: nothing after this can be trusted
        return resp


class ProblemServer(Server):
    """aiohttp's `Server`, making its connections' handlers `ProblemRequestHandler`s."""

    def __call__(self) -> RequestHandler:
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


def answer_parser_errors(app: web.Application) -> None:
    """Make the servers that run ``app`` answer parser errors as problem+json.

    `web.AppRunner` asks the application for its `Server` (``Application._make_handler``); the one it gets
    is made a `ProblemServer` (same state, one method more), for this application only."""
    make = app._make_handler

    def make_handler(**kwargs: Any) -> Server:
        server = make(**kwargs)
        server.__class__ = ProblemServer
        return server

    setattr(app, "_make_handler", make_handler)  # noqa: B010  (mypy refuses assigning to a method)
