"""Compact, persistent index of a CRL's revoked serials (R-7.1, KZ-PKI.md §4).

NCANode ran out of memory on NCA's 19 MB GOST CRL because it materialised every entry as objects. Here
the ``revokedCertificates`` list is walked straight from the DER (no per-entry ASN.1 objects) into three
flat arrays sorted by serial: fixed-width serial keys, revocation times and reason codes. A lookup is a
bisect over the key blob (~20 slice comparisons for 500,000 entries), and the index is written to disk
in a versioned format with a SHA-256 trailer so a restart never re-parses the CRL.

Also holds the minimal DER reader the other revocation modules share (asn1crypto chokes on some NCA
encodings, e.g. an empty id-pkix-ocsp-nocheck value).
"""

from __future__ import annotations

import bisect
import calendar
import hashlib
import json
import mmap
import os
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, overload

# Anything indexable like bytes: bytes, or an mmap of a downloaded CRL file (RSS stays low).
Buffer = bytes | bytearray | memoryview | mmap.mmap

__all__ = [
    "Buffer",
    "CertParts",
    "CrlIndex",
    "DerError",
    "IndexFileError",
    "RevokedEntry",
    "build_index",
    "canonical_serial",
    "cert_parts",
    "certificate_der",
    "collect_sort_keys",
    "der_children",
    "der_content",
    "der_fields",
    "der_header",
    "raw_extensions",
    "walk_revoked",
]

_MAGIC: Final = b"AUTHSVC-CRLIDX\n"
_FORMAT_VERSION: Final = 1
_TIME_BIAS: Final = 1 << 39  # revocation times as unsigned 40-bit seconds around 1970
_TIME_BITS: Final = 40
_REASON_OID_TLV: Final = b"\x06\x03\x55\x1d\x15"  # id-ce-cRLReasons
_CERT_ISSUER_OID_TLV: Final = b"\x06\x03\x55\x1d\x1d"  # id-ce-certificateIssuer (indirect CRLs)
_DEFAULT_SERIAL_WIDTH: Final = 21  # RFC 5280: at most 20 octets, plus a sign octet some CAs add
_MAX_SERIAL_WIDTH: Final = 64


class DerError(ValueError):
    """Malformed DER; callers turn it into their own error with a stable code."""


class IndexFileError(ValueError):
    """A saved index file is truncated, corrupted or of an unknown format version (rebuild it)."""


# --- minimal DER reader ------------------------------------------------------------------------------
def der_header(buf: Buffer, pos: int, end: int | None = None) -> tuple[int, int, int]:
    """(tag byte, content start, content end) of the TLV at ``pos``; definite lengths only (DER)."""
    limit = len(buf) if end is None else end
    if pos + 2 > limit:
        raise DerError("truncated DER header")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte DER tags are not used in revocation objects")
    length = buf[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > limit:
            raise DerError("unsupported or truncated DER length")
        length = int.from_bytes(buf[pos : pos + count], "big")
        pos += count
    if pos + length > limit:
        raise DerError("DER value runs past its container")
    return tag, pos, pos + length


def der_children(buf: Buffer, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield (tag, tlv start, content start, content end) for each TLV in ``buf[start:end]``."""
    pos = start
    while pos < end:
        tag, cstart, cend = der_header(buf, pos, end)
        yield tag, pos, cstart, cend
        pos = cend


def der_fields(der: bytes) -> list[bytes]:
    """The complete TLVs inside the outer SEQUENCE of ``der`` (which must span all of it).

    Signed structures are verified over these raw bytes: asn1crypto re-encodes a value whose length
    octets end in 0x80 (it mistakes them for an indefinite length), which can alter signed bytes.
    """
    tag, start, end = der_header(der, 0)
    if tag != 0x30 or end != len(der):
        raise DerError("not a single DER SEQUENCE")
    return [der[pos:cend] for _tag, pos, _cstart, cend in der_children(der, start, end)]


def der_content(tlv: bytes) -> bytes:
    """The content octets of one complete TLV."""
    _, start, end = der_header(tlv, 0)
    if end != len(tlv):
        raise DerError("trailing bytes after a DER value")
    return tlv[start:end]


@dataclass(frozen=True, slots=True)
class CertParts:
    """Raw pieces of a certificate needed to check signatures made by it or on it."""

    tbs: bytes
    signature_algorithm: bytes
    signature: bytes
    issuer: bytes  # the Name TLVs, as signed
    subject: bytes
    spki: bytes
    public_key_bits: bytes  # subjectPublicKey without the unused-bits octet (OCSP key hashes)


def cert_parts(cert_der: bytes) -> CertParts:
    """Split a DER certificate into its signed part, signature and public key, without re-encoding."""
    outer = der_fields(cert_der)
    if len(outer) != 3:
        raise DerError("a certificate has three parts")
    bits = der_content(outer[2])
    tbs = der_fields(outer[0])
    offset = 1 if tbs and tbs[0][:1] == b"\xa0" else 0
    if len(tbs) < offset + 6:
        raise DerError("truncated tbsCertificate")
    spki = tbs[offset + 5]
    spki_fields = der_fields(spki)
    if len(spki_fields) != 2 or spki_fields[1][:1] != b"\x03":
        raise DerError("malformed SubjectPublicKeyInfo")
    key_bits = der_content(spki_fields[1])
    if not bits or not key_bits:
        raise DerError("empty signature or key")
    return CertParts(outer[0], outer[1], bits[1:], tbs[offset + 2], tbs[offset + 4], spki, key_bits[1:])


def certificate_der(cert: Any) -> bytes:
    """The original DER of a parsed asn1crypto certificate (or the bytes given).

    ``dump()`` re-encodes any value whose length octets end in 0x80 (asn1crypto takes them for an
    indefinite length); re-encoding a GOST certificate can fail or change bytes, so the DER is rebuilt
    from the untouched ``contents`` instead.
    """
    if isinstance(cert, bytes | bytearray):
        return bytes(cert)
    contents = cert.contents
    if contents is None:  # built in memory, never parsed: dump() is the only encoding there is
        return bytes(cert.dump())
    size = len(contents)
    if size < 0x80:
        return bytes((0x30, size)) + bytes(contents)
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((0x30, 0x80 | len(octets))) + octets + bytes(contents)


def raw_extensions(cert_der: bytes) -> dict[str, tuple[bool, bytes]]:
    """A certificate's extensions as {OID: (critical, extnValue octets)}, read from the DER directly.

    asn1crypto fails on some NCA encodings (an empty id-pkix-ocsp-nocheck value, KZ-PKI.md §1), so
    extension-driven checks read the raw values and parse only the ones they need.
    """
    from asn1crypto import core  # local: keeps this module import-light for worker processes

    _, cstart, cend = der_header(cert_der, 0)
    _, tstart, tend = der_header(cert_der, cstart, cend)
    result: dict[str, tuple[bool, bytes]] = {}
    for tag, _pos, start, end in der_children(cert_der, tstart, tend):
        if tag != 0xA3:
            continue
        _, sstart, send = der_header(cert_der, start, end)
        for _t, _p, estart, eend in der_children(cert_der, sstart, send):
            parts = list(der_children(cert_der, estart, eend))
            if len(parts) not in (2, 3) or parts[0][0] != 0x06 or parts[-1][0] != 0x04:
                raise DerError("malformed certificate extension")
            oid = core.ObjectIdentifier.load(bytes(cert_der[parts[0][1] : parts[0][3]])).dotted
            critical = len(parts) == 3 and parts[1][0] == 0x01 and cert_der[parts[1][2]] != 0
            result[oid] = (critical, bytes(cert_der[parts[-1][2] : parts[-1][3]]))
    return result


def canonical_serial(value: int) -> bytes:
    """Minimal two's-complement octets of a serial number, as DER encodes an INTEGER's content."""
    magnitude = value if value >= 0 else ~value  # -0x80 fits in one octet, +0x80 needs two
    return value.to_bytes(magnitude.bit_length() // 8 + 1, "big", signed=True)


def _canonical_octets(raw: bytes | bytearray | memoryview) -> bytes:
    """Strip the redundant sign octets a non-DER encoder may leave, so lookups by int always match."""
    data = bytes(raw)
    while len(data) > 1 and ((data[0] == 0 and data[1] < 0x80) or (data[0] == 0xFF and data[1] >= 0x80)):
        data = data[1:]
    return data


_day_cache: dict[bytes, int] = {}


def _der_time(buf: Buffer, tag: int, start: int, end: int) -> int:
    """Seconds since 1970 of a UTCTime/GeneralizedTime 'Z' value; days are cached (CRLs repeat them)."""
    text = bytes(buf[start:end])
    if tag == 0x17 and len(text) == 13 and text[12:] == b"Z":
        year2 = int(text[0:2])
        day_key, rest = (b"19" if year2 >= 50 else b"20") + text[0:6], text[6:12]
    elif tag == 0x18 and len(text) == 15 and text[14:] == b"Z":
        day_key, rest = text[0:8], text[8:14]
    else:
        raise DerError("revocation time is not a UTC 'Z' time")
    day = _day_cache.get(day_key)
    if day is None:
        try:
            day = calendar.timegm((int(day_key[0:4]), int(day_key[4:6]), int(day_key[6:8]), 0, 0, 0))
        except ValueError as exc:
            raise DerError("revocation time is not a date") from exc
        if len(_day_cache) < 100_000:
            _day_cache[day_key] = day
    if not rest.isdigit():
        raise DerError("revocation time is not numeric")
    return day + int(rest[0:2]) * 3600 + int(rest[2:4]) * 60 + int(rest[4:6])


def _entry_reason(buf: Buffer, start: int, end: int) -> int:
    """The CRLReason in an entry's extensions (-1 if absent); refuses indirect-CRL entries."""
    _, cstart, cend = der_header(buf, start, end)  # Extensions SEQUENCE
    for _tag, _s, estart, eend in der_children(buf, cstart, cend):
        _, _, oend = der_header(buf, estart, eend)
        oid_tlv = bytes(buf[estart:oend])
        if oid_tlv == _CERT_ISSUER_OID_TLV:
            raise DerError("indirect CRL entries (certificateIssuer) are not supported")
        if oid_tlv != _REASON_OID_TLV:
            continue
        pos = oend
        tag, vstart, vend = der_header(buf, pos, eend)
        if tag == 0x01:  # critical BOOLEAN
            tag, vstart, vend = der_header(buf, vend, eend)
        if tag != 0x04:
            raise DerError("CRL entry extension value is not an OCTET STRING")
        etag, rstart, rend = der_header(buf, vstart, vend)
        if etag != 0x0A or rend - rstart != 1:
            raise DerError("CRL reason is not a one-octet ENUMERATED")
        reason = buf[rstart]
        if reason > 10 or reason == 7:
            raise DerError(f"CRL reason code {reason} is not defined")
        return int(reason)
    return -1


def walk_revoked(buf: Buffer, start: int, end: int, width: int) -> tuple[list[int], int]:
    """Packed sort keys of every entry of ``revokedCertificates`` content ``buf[start:end]``.

    Each key is ``serial octets (left-padded to width) | octet count | time | reason`` as one int, so a
    single ``list.sort`` orders everything without per-entry tuples (memory, KZ-PKI.md §4). Returns the
    keys and the longest serial seen: if it exceeds ``width`` the caller walks again, wider.
    """
    keys: list[int] = []
    append = keys.append
    longest = 0
    pos = start
    while pos < end:
        tag, cstart, cend = der_header(buf, pos, end)
        if tag != 0x30:
            raise DerError("revoked certificate entry is not a SEQUENCE")
        stag, sstart, send = der_header(buf, cstart, cend)
        if stag != 0x02 or send == sstart:
            raise DerError("revoked certificate serial is not an INTEGER")
        octets = _canonical_octets(buf[sstart:send])
        size = len(octets)
        longest = max(longest, size)
        ttag, tstart, tend = der_header(buf, send, cend)
        seconds = _der_time(buf, ttag, tstart, tend)
        reason = _entry_reason(buf, tend, cend) if tend < cend else -1
        if size <= width:
            serial_key = (int.from_bytes(octets, "big") << 8) | size
            append((((serial_key << _TIME_BITS) | (seconds + _TIME_BIAS)) << 8) | (reason + 1))
        pos = cend
    return keys, longest


@dataclass(frozen=True, slots=True)
class RevokedEntry:
    """One revoked serial: when (seconds since 1970, UTC) and why (RFC 5280 CRLReason, None if absent)."""

    serial: int
    revoked_at: int
    reason: int | None


class _KeyView(Sequence[bytes]):
    """The key blob seen as a sorted sequence of fixed-width keys, for :mod:`bisect`."""

    __slots__ = ("_blob", "_count", "_width")

    def __init__(self, blob: bytes | bytearray, width: int, count: int) -> None:
        self._blob, self._width, self._count = blob, width, count

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...
    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(index, slice):
            raise TypeError("key views are not sliceable")
        start = index * self._width
        return bytes(self._blob[start : start + self._width])


class CrlIndex:
    """Sorted revoked serials of one CRL plus its metadata (a JSON-able dict chosen by the caller)."""

    __slots__ = ("_keys", "_reasons", "_times", "_view", "_width", "meta")

    def __init__(
        self, keys: bytes | bytearray, width: int, times: array[int], reasons: bytes, meta: dict[str, Any]
    ) -> None:
        count = len(times)
        if len(keys) != count * width or len(reasons) != count:
            raise IndexFileError("CRL index arrays disagree in length")
        self._keys, self._width, self._times, self._reasons = keys, width, times, reasons
        self._view = _KeyView(keys, width, count)
        self.meta = meta

    @classmethod
    def from_sort_keys(cls, packed: list[int], serial_width: int, meta: dict[str, Any]) -> CrlIndex:
        """Build from :func:`walk_revoked` output; sorts ``packed`` in place (then clears it)."""
        packed.sort()
        width = serial_width + 1
        keys = bytearray(len(packed) * width)
        times = array("q", bytes(8 * len(packed)))
        reasons = bytearray(len(packed))
        time_mask = (1 << _TIME_BITS) - 1
        previous = -1
        count = 0
        for value in packed:
            serial_key = value >> (_TIME_BITS + 8)
            if serial_key == previous:
                continue  # a serial listed twice: the earliest revocation wins (sorted by time)
            previous = serial_key
            offset = count * width
            keys[offset : offset + width] = serial_key.to_bytes(width, "big")
            times[count] = ((value >> 8) & time_mask) - _TIME_BIAS
            reasons[count] = value & 0xFF
            count += 1
        packed.clear()
        del keys[count * width :], times[count:], reasons[count:]
        return cls(keys, width, times, bytes(reasons), meta)

    def __len__(self) -> int:
        return len(self._times)

    @property
    def serial_width(self) -> int:
        return self._width - 1

    def lookup(self, serial: int) -> RevokedEntry | None:
        """The entry for ``serial``, or None if the CRL does not list it."""
        octets = canonical_serial(serial)
        if len(octets) > self._width - 1:
            return None
        key = octets.rjust(self._width - 1, b"\0") + bytes((len(octets),))
        pos = bisect.bisect_left(self._view, key)
        if pos == len(self._times) or self._view[pos] != key:
            return None
        reason = self._reasons[pos] - 1
        return RevokedEntry(serial, self._times[pos], None if reason < 0 else reason)

    def entries(self) -> Iterator[RevokedEntry]:
        """Every entry in serial order (tests and diagnostics; not for the request path)."""
        for pos in range(len(self._times)):
            key = self._view[pos]
            size = key[-1]
            serial = int.from_bytes(key[-1 - size : -1], "big", signed=True)
            reason = self._reasons[pos] - 1
            yield RevokedEntry(serial, self._times[pos], None if reason < 0 else reason)

    # --- persistence --------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write atomically (temporary file + rename): a crash never leaves a half-written index."""
        header = json.dumps(
            {"version": _FORMAT_VERSION, "width": self._width, "count": len(self), "meta": self.meta},
            sort_keys=True,
        ).encode()
        times = self._times.tobytes() if _little_endian() else _swapped(self._times)
        parts = [_MAGIC, len(header).to_bytes(4, "big"), header, self._keys, times, self._reasons]
        digest = hashlib.sha256()
        for part in parts:
            digest.update(part)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        with tmp.open("wb") as handle:
            for part in parts:
                handle.write(part)
            handle.write(digest.digest())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> CrlIndex:
        """Read and check an index written by :meth:`save`; raises :class:`IndexFileError` if unusable."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IndexFileError(f"cannot read CRL index {path.name}: {exc.strerror}") from exc
        if len(data) < len(_MAGIC) + 4 + 32 or not data.startswith(_MAGIC):
            raise IndexFileError(f"{path.name} is not a CRL index file")
        body, trailer = data[:-32], data[-32:]
        if hashlib.sha256(body).digest() != trailer:
            raise IndexFileError(f"CRL index {path.name} fails its checksum")
        pos = len(_MAGIC)
        header_len = int.from_bytes(body[pos : pos + 4], "big")
        pos += 4
        try:
            header = json.loads(body[pos : pos + header_len])
            version, width, count = int(header["version"]), int(header["width"]), int(header["count"])
            meta = dict(header["meta"])
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexFileError(f"CRL index {path.name} has an unreadable header") from exc
        if version != _FORMAT_VERSION:
            raise IndexFileError(f"CRL index {path.name} has format version {version}, not {_FORMAT_VERSION}")
        if not 2 <= width <= _MAX_SERIAL_WIDTH + 1 or count < 0:
            raise IndexFileError(f"CRL index {path.name} has an impossible shape")
        pos += header_len
        sizes = (count * width, count * 8, count)
        if pos + sum(sizes) != len(body):
            raise IndexFileError(f"CRL index {path.name} has the wrong length")
        keys = body[pos : pos + sizes[0]]
        pos += sizes[0]
        times = array("q")
        times.frombytes(body[pos : pos + sizes[1]])
        if not _little_endian():
            times.byteswap()
        pos += sizes[1]
        return cls(keys, width, times, body[pos:], meta)


def _little_endian() -> bool:
    return array("q", [1]).tobytes()[0] == 1


def _swapped(values: array[int]) -> bytes:
    copy = array("q", values)
    copy.byteswap()
    return copy.tobytes()


def collect_sort_keys(buf: Buffer, start: int, end: int) -> tuple[list[int], int]:
    """:func:`walk_revoked` at the usual width, again wider only if a serial exceeds it."""
    keys, longest = walk_revoked(buf, start, end, _DEFAULT_SERIAL_WIDTH)
    if longest <= _DEFAULT_SERIAL_WIDTH:
        return keys, _DEFAULT_SERIAL_WIDTH
    if longest > _MAX_SERIAL_WIDTH:
        raise DerError(f"a revoked serial is {longest} octets long")
    del keys
    keys, _ = walk_revoked(buf, start, end, longest)
    return keys, longest


def build_index(buf: Buffer, start: int, end: int, meta: dict[str, Any]) -> CrlIndex:
    """Index the ``revokedCertificates`` content ``buf[start:end]``."""
    keys, width = collect_sort_keys(buf, start, end)
    return CrlIndex.from_sort_keys(keys, width, meta)
