"""The page's static files as they are served, built once when the service starts: every reference one file
makes to another (``/hosted/static/sdk.js``) carries the other's content version (``…/sdk.js?v=<hash>``),
so a versioned address never changes content and a browser may keep it a year; each file is gzipped once
(level 9, no timestamp, so every process serves identical bytes under one entity tag). The unversioned
names — the page itself, and the web SDK as a lender's page embeds it — are revalidated on every use."""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

PREFIX: Final = "/hosted/static/"
TYPES: Final = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "sdk.js": "text/javascript",
    "i18n.js": "text/javascript",
    "style.css": "text/css",
}
_REF: Final = re.compile(rb"/hosted/static/([A-Za-z0-9_.-]+)(?=[\"'])")


@dataclass(frozen=True)
class Asset:
    name: str
    content_type: str
    body: bytes
    gzipped: bytes
    version: str  # of ``body``: the first 64 bits of its SHA-256, hex

    @property
    def url(self) -> str:
        return f"{PREFIX}{self.name}?v={self.version}"

    def etag(self, gzipped: bool) -> str:
        """A strong tag per form: the gzipped bytes are another representation than the plain ones."""
        return f'"{self.version}-gz"' if gzipped else f'"{self.version}"'


def _names(data: bytes) -> set[str]:
    return {m.decode() for m in _REF.findall(data)}


def build(folder: Path) -> dict[str, Asset]:
    """Every file of ``TYPES`` in ``folder``, those it names versioned first (a file's version covers the
    versions it names, so a change anywhere below reaches the page)."""
    raw = {name: (folder / name).read_bytes() for name in TYPES}
    built: dict[str, Asset] = {}
    while len(built) < len(raw):
        ready = [n for n in raw if n not in built and _names(raw[n]) & set(raw) <= set(built) | {n}]
        if not ready:
            raise ValueError(f"the hosted assets name each other in a cycle: {sorted(set(raw) - set(built))}")
        for name in ready:
            body = _REF.sub(lambda m: built[m[1].decode()].url.encode() if m[1].decode() in built else m[0], raw[name])
            built[name] = Asset(
                name,
                TYPES[name],
                body,
                gzip.compress(body, compresslevel=9, mtime=0),
                hashlib.sha256(body).hexdigest()[:16],
            )
    return built
