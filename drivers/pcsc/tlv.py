"""The few BER-TLV reads the host needs from PIV answers (SP 800-73-4 part 2 §3.3)."""

from __future__ import annotations

from drivers.pcsc.errors import ProtocolError


def encode(tag: int, value: bytes) -> bytes:
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    elif n <= 0xFF:
        length = bytes([0x81, n])
    else:
        length = bytes([0x82]) + n.to_bytes(2, "big")
    return tag_bytes + length + value


def objects(data: bytes) -> dict[int, bytes]:
    """Tag → value of the objects at one level (the first of a repeated tag wins)."""
    out: dict[int, bytes] = {}
    i = 0
    while i < len(data):
        start = i
        i += 1
        if data[start] & 0x1F == 0x1F:
            while i < len(data) and data[i] & 0x80:
                i += 1
            i += 1
        if i >= len(data):
            raise ProtocolError("truncated BER-TLV tag in the card's answer")
        tag = int.from_bytes(data[start:i], "big")
        first = data[i]
        i += 1
        length = first
        if first >= 0x80:
            count = first & 0x7F
            if not 1 <= count <= 3 or i + count > len(data):
                raise ProtocolError("bad BER-TLV length in the card's answer")
            length = int.from_bytes(data[i : i + count], "big")
            i += count
        if i + length > len(data):
            raise ProtocolError("truncated BER-TLV value in the card's answer")
        out.setdefault(tag, data[i : i + length])
        i += length
    return out


def value(data: bytes, tag: int) -> bytes:
    """The value of `tag` at this level; ProtocolError if it is missing."""
    found = objects(data).get(tag)
    if found is None:
        raise ProtocolError(f"the card's answer lacks tag {tag:X}")
    return found
