"""Flow links and the page's steps, without HTTP or SQL."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from authsvc import error_codes
from authsvc.errors import ValidationFailed

# The step methods the page can drive, in the order it offers them.
PAGE_METHODS: Final = ("liveness", "eds", "otp_sms")
FRAME_MS: Final = 34.0  # one frame at 30 Hz: a painted flash further than this from its time is late


def new_secret() -> str:
    """An opaque URL token or session id: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def check_return_url(url: str | None, allowed: Sequence[str]) -> str | None:
    """``url`` if it starts with one of the lender's allowed prefixes (compared after parsing, so
    ``https://lender.kz.evil.com`` does not pass as ``https://lender.kz``); 422 otherwise."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.username or parts.password:
        raise ValidationFailed("return_url must be an absolute http(s) URL", code=error_codes.RETURN_URL_NOT_ALLOWED)
    for prefix in allowed:
        p = urlsplit(prefix)
        same_origin = (parts.scheme, parts.netloc.lower()) == (p.scheme, p.netloc.lower())
        if same_origin and parts.path.startswith(p.path or "/"):
            return url
    raise ValidationFailed(
        "return_url is not on this lender's allow-list ([hosted] return_urls)", code=error_codes.RETURN_URL_NOT_ALLOWED
    )


def offered_steps(next_methods: Iterable[str] | None, passed: Iterable[str]) -> list[str]:
    """The page's steps still to take: those of ``next_methods`` the page can drive (all of them while the
    identification does not say), less the methods already passed."""
    done = set(passed)
    wanted = PAGE_METHODS if next_methods is None else tuple(m for m in PAGE_METHODS if m in set(next_methods))
    return [m for m in wanted if m not in done]


def flash_timing(script: Mapping[str, Any], painted: bytes | None) -> dict[str, Any]:
    """The page's painted flash times (ms from the start of recording, one per flash, JSON) against the
    script's: the offsets and the largest, and whether each is within one frame."""
    scheduled = [float(f["start_ms"]) for f in script.get("flashes", [])]
    try:
        times = [float(t) for t in json.loads(painted)] if painted else []
    except (ValueError, TypeError):
        times = []
    if len(times) != len(scheduled):
        return {"script_ms": scheduled, "painted_ms": times, "offsets_ms": [], "max_offset_ms": None, "on_time": False}
    offsets = [round(t - s, 2) for t, s in zip(times, scheduled, strict=True)]
    worst = max((abs(o) for o in offsets), default=0.0)
    return {
        "script_ms": scheduled,
        "painted_ms": times,
        "offsets_ms": offsets,
        "max_offset_ms": worst,
        "on_time": worst <= FRAME_MS,
    }
