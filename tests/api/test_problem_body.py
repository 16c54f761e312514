"""A problem's body built from its (code, detail)'s encoded head is the text the whole document encodes to."""

from __future__ import annotations

import json

from authsvc import error_codes
from authsvc.api.problem import _ENCODE, problem_response, type_uri


def _whole(code: error_codes.Code, detail: str, **more: object) -> bytes:
    body = {
        "type": type_uri(code),
        "title": code.heading,
        "status": code.status,
        "detail": detail,
        "code": str(code),
        "hint": code.fix,
        **more,
    }
    return _ENCODE(body).encode()


def test_a_problem_from_its_encoded_head_reads_as_the_whole_document() -> None:
    code = error_codes.CLIENT_NOT_FOUND
    for rid in ("abc123", 'odd "quoted" ¤ id', "abc123"):  # the third from the kept head
        resp = problem_response(code, "no such client", request_id=rid)
        assert resp.body == _whole(code, "no such client", request_id=rid)
        assert json.loads(resp.body)["request_id"] == rid
        assert resp.status == 404 and resp.content_type == "application/problem+json"
    other = problem_response(code, "another detail ü", request_id="r1")  # another detail: another head
    assert other.body == _whole(code, "another detail ü", request_id="r1")


def test_extras_and_no_request_id_are_encoded_whole() -> None:
    code = error_codes.UNAUTHORIZED
    assert problem_response(code, "no key").body == _whole(code, "no key")
    with_extra = problem_response(code, "no key", request_id="r2", field="x", absent=None)
    assert with_extra.body == _whole(code, "no key", request_id="r2", field="x")
