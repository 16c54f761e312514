"""The delivery signature (`authsvc.webhooks.signing`): the documented algorithm, computed here from its
description with the standard library, and the lenders' `verify` helper with its tolerance window."""

from __future__ import annotations

import hashlib
import hmac

from authsvc.webhooks import signing

SECRET = "whsec_test-secret"
BODY = b'{"id":"d1","event":"identification.completed","created_at":"2026-11-21T10:00:00+00:00","data":{}}'
T = 1_795_000_000


def documented(secret: str, t: int, body: bytes) -> str:
    """README: hex HMAC-SHA256 with the secret string as key over "<t>.<raw body>"."""
    return hmac.new(secret.encode("utf-8"), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def test_header_is_t_and_v1_of_the_documented_hmac() -> None:
    assert signing.header([SECRET], T, BODY) == f"t={T},v1={documented(SECRET, T, BODY)}"


def test_verify_accepts_a_fresh_signature_and_refuses_a_wrong_secret_or_body() -> None:
    header = signing.header([SECRET], T, BODY)
    assert signing.verify(SECRET, BODY, header, now=T + 10)
    assert not signing.verify("whsec_other", BODY, header, now=T + 10)
    assert not signing.verify(SECRET, BODY.replace(b"completed", b"failed"), header, now=T + 10)


def test_tolerance_window_refuses_old_and_future_timestamps() -> None:
    header = signing.header([SECRET], T, BODY)
    assert signing.verify(SECRET, BODY, header, now=T + 300)
    assert not signing.verify(SECRET, BODY, header, now=T + 301)
    assert not signing.verify(SECRET, BODY, header, now=T - 301)
    assert signing.verify(SECRET, BODY, header, now=T + 3000, tolerance_s=3600)


def test_any_of_several_v1_matches_during_a_rotation() -> None:
    header = signing.header(["whsec_new", "whsec_old"], T, BODY)
    assert header.count("v1=") == 2
    assert signing.verify("whsec_new", BODY, header, now=T)
    assert signing.verify("whsec_old", BODY, header, now=T)
    assert not signing.verify("whsec_neither", BODY, header, now=T)


def test_malformed_headers_are_refused_without_raising() -> None:
    good = documented(SECRET, T, BODY)
    for header in [
        "",
        "t=",
        f"v1={good}",
        f"t=abc,v1={good}",
        f"t={T}",
        f"t={T},v0={good}",
        "garbage",
        f"t=-{T},v1={good}",
    ]:
        assert not signing.verify(SECRET, BODY, header, now=T), header


def test_the_readme_helper_agrees() -> None:
    """The verify function the README gives lenders, run as printed."""
    import re
    import time
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    found = re.search(r"```python\n(import hashlib, hmac, time\n.*?)```", readme, re.S)
    assert found is not None
    namespace: dict[str, object] = {}
    exec(compile(found.group(1), "README.md", "exec"), namespace)  # our own documentation
    readme_verify = namespace["verify"]
    assert callable(readme_verify)
    now = int(time.time())
    header = signing.header(["whsec_new", "whsec_old"], now, BODY)
    assert readme_verify("whsec_new", BODY, header) and readme_verify("whsec_old", BODY, header)
    assert not readme_verify("whsec_other", BODY, header)
    assert not readme_verify("whsec_new", BODY + b"x", header)
    assert not readme_verify("whsec_new", BODY, signing.header(["whsec_new"], now - 301, BODY))
