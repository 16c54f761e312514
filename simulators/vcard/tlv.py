"""BER-TLV as PIV uses it (SP 800-73-4 part 2 §3.3): one- to three-byte tags, definite lengths."""

from __future__ import annotations


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n <= 0xFF:
        return bytes([0x81, n])
    if n <= 0xFFFF:
        return bytes([0x82]) + n.to_bytes(2, "big")
    return bytes([0x83]) + n.to_bytes(3, "big")


def tlv(tag: int, value: bytes) -> bytes:
    """One data object; `tag` is the tag's bytes read as a big-endian number (0x5FC105, 0x7C, ...)."""
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    return tag_bytes + encode_length(len(value)) + value


def parse(data: bytes) -> list[tuple[int, bytes]]:
    """The data objects at one level of `data`, in order. ValueError on a truncated object."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        if data[i] in (0x00, 0xFF):  # padding between objects (ISO 7816-4 §5.2.2)
            i += 1
            continue
        start = i
        i += 1
        if data[start] & 0x1F == 0x1F:  # multi-byte tag: follow-on bytes while b8 is set
            while i < len(data) and data[i] & 0x80:
                i += 1
            i += 1
        if i >= len(data):
            raise ValueError("truncated BER-TLV tag")
        tag = int.from_bytes(data[start:i], "big")
        first = data[i]
        i += 1
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if count == 0 or count > 3 or i + count > len(data):
                raise ValueError("bad BER-TLV length")
            length = int.from_bytes(data[i : i + count], "big")
            i += count
        if i + length > len(data):
            raise ValueError("truncated BER-TLV value")
        out.append((tag, data[i : i + length]))
        i += length
    return out


def find(data: bytes, tag: int) -> bytes | None:
    """The value of the first object with `tag` at this level, or None."""
    for t, value in parse(data):
        if t == tag:
            return value
    return None
