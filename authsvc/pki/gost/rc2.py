"""RC2 decryption (RFC 2268) with any effective key length.

NCA keystores encrypt their certificate bag with pbeWithSHAAnd40BitRC2-CBC; pyca/cryptography's RC2
accepts only 128-bit keys and OpenSSL 3 hides RC2 in its legacy provider (KZ-PKI.md §2), so this
small decrypt-only implementation opens them. It protects nothing of ours: 40-bit RC2 is broken and
is read only because NCA writes it.
"""

from __future__ import annotations

_PITABLE = bytes.fromhex(
    "d978f9c419ddb5ed28e9fd794aa0d89dc67e37832b76538e624c6488448bfba2"
    "179a59f587b34f1361456d8d09817d32bd8f40eb86b77b0bf09521225c6b4e82"
    "54d66593ce60b21c7356c014a78cf1dc1275ca1f3bbee4d1423dd430a33cb626"
    "6fbf0eda4669075727f21d9bbc944303f811c7f690ef3ee706c3d52fc8661ed7"
    "08e8eade8052eef784aa72ac354d6a2a961ad2715a1549744b9fd05e0418a4ec"
    "c2e0416e0f51cbcc2491af50a1f47039997c3a8523b8b47afc02365b25559731"
    "2d5dfa98e38a92ae05df2910676cbac9d300e6cfe19ea82c6316013f58e289a9"
    "0d38341bab33ffb0bb480c5fb9b1cd2ec5f3db47e5a59c770aa62068fe7fc1ad"
)
_M16 = 0xFFFF


def expand_key(key: bytes, effective_bits: int) -> list[int]:
    """The 64 16-bit subkeys K[0..63] of RFC 2268 §2."""
    t = len(key)
    if not 1 <= t <= 128 or not 1 <= effective_bits <= 1024:
        raise ValueError("RC2 key must be 1..128 bytes with 1..1024 effective bits")
    buf = bytearray(128)
    buf[:t] = key
    for i in range(t, 128):
        buf[i] = _PITABLE[(buf[i - 1] + buf[i - t]) & 0xFF]
    t8 = (effective_bits + 7) // 8
    tm = 0xFF % (1 << (8 + effective_bits - 8 * t8))
    buf[128 - t8] = _PITABLE[buf[128 - t8] & tm]
    for i in range(127 - t8, -1, -1):
        buf[i] = _PITABLE[buf[i + 1] ^ buf[i + t8]]
    return [buf[2 * i] | buf[2 * i + 1] << 8 for i in range(64)]


def _decrypt_block(k: list[int], block: bytes) -> bytes:
    r = [int.from_bytes(block[i : i + 2], "little") for i in range(0, 8, 2)]
    j = 63
    shifts = (1, 2, 3, 5)

    def unmix() -> None:
        nonlocal j
        for i in (3, 2, 1, 0):
            s = shifts[i]
            x = r[i]
            x = ((x >> s) | (x << (16 - s))) & _M16
            x -= k[j] + (r[i - 1] & r[i - 2]) + (~r[i - 1] & r[i - 3])
            r[i] = x & _M16
            j -= 1

    def unmash() -> None:
        for i in (3, 2, 1, 0):
            r[i] = (r[i] - k[r[i - 1] & 63]) & _M16

    # Decryption runs encryption's 5 mix, mash, 6 mix, mash, 5 mix backwards.
    for rounds in (5, None, 6, None, 5):
        if rounds is None:
            unmash()
        else:
            for _ in range(rounds):
                unmix()
    return b"".join(x.to_bytes(2, "little") for x in r)


def decrypt_cbc(key: bytes, effective_bits: int, iv: bytes, data: bytes) -> bytes:
    """RC2-CBC decryption without removing padding. ValueError on a bad length."""
    if len(iv) != 8 or len(data) % 8:
        raise ValueError("RC2-CBC needs an 8-byte IV and whole 8-byte blocks")
    k = expand_key(key, effective_bits)
    out = bytearray()
    prev = iv
    for off in range(0, len(data), 8):
        block = data[off : off + 8]
        plain = _decrypt_block(k, block)
        out += bytes(a ^ b for a, b in zip(plain, prev, strict=True))
        prev = block
    return bytes(out)
