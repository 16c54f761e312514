"""NCA PKCS#12 keystores: legacy PBE (RFC 7292) opened without OpenSSL's legacy provider.

NCA writes its .p12 files with pbeWithSHAAnd3-KeyTripleDES-CBC for the key bag, 40-bit RC2 for the
certificate bag and an HMAC-SHA-1 MAC (KZ-PKI.md §2); pyca/cryptography refuses the GOST ones. This
module verifies the MAC (so a wrong password is reported as such, never as garbage), derives keys
with the RFC 7292 appendix B KDF and decrypts both bags. PBES2 (PBKDF2 + AES) bags, which newer tools
write, are accepted too. GOST keys come back as :class:`GostPrivateKey`; other keys (RSA) as their
PKCS#8 DER for pyca to load.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import algos, cms, core, keys, pkcs12
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from authsvc import error_codes
from authsvc.errors import AuthsvcError, ValidationFailed
from authsvc.pki.gost import oids
from authsvc.pki.gost.keys import GostPrivateKey, pkcs8_algorithm_oid, private_key_from_pkcs8
from authsvc.pki.gost.rc2 import decrypt_cbc as rc2_decrypt_cbc

# PKCS#12 PBE OID -> (cipher, key bytes, RC2 effective bits).
_PBE: dict[str, tuple[str, int, int]] = {
    "1.2.840.113549.1.12.1.3": ("3des", 24, 0),
    "1.2.840.113549.1.12.1.4": ("3des", 16, 0),
    "1.2.840.113549.1.12.1.5": ("rc2", 16, 128),
    "1.2.840.113549.1.12.1.6": ("rc2", 5, 40),
}
_PBES2 = "1.2.840.113549.1.5.13"
# A keystore chooses its own iteration count: bound it so a hostile file cannot pin a CPU for long
# (NCA writes 1024; OpenSSL and pyca write 2048 to 20000).
_MAX_ITERATIONS = 1_000_000
_HASH_BLOCK = {"sha1": 64, "sha224": 64, "sha256": 64, "sha384": 128, "sha512": 128}


@dataclass(slots=True)
class Pkcs12Contents:
    gost_keys: list[GostPrivateKey] = field(default_factory=list)
    other_keys_pkcs8: list[bytes] = field(default_factory=list)  # e.g. RSA PrivateKeyInfo DER
    certificates: list[bytes] = field(default_factory=list)  # X.509 DER, in bag order
    pkcs8_der: list[bytes] = field(default_factory=list)  # every decrypted key, in bag order


def _password_bytes(password: str) -> bytes:
    # RFC 7292 B.1: BMPString (UTF-16BE) with a two-byte terminator.
    return password.encode("utf-16-be") + b"\x00\x00" if password else b""


def pkcs12_kdf(hash_name: str, password: bytes, salt: bytes, purpose: int, iterations: int, size: int) -> bytes:
    """RFC 7292 appendix B.2; purpose 1 = key, 2 = IV, 3 = MAC key."""
    v = _HASH_BLOCK[hash_name]
    if not 1 <= iterations <= _MAX_ITERATIONS:
        raise ValidationFailed(f"keystore asks for {iterations} KDF iterations", code=error_codes.UNSUPPORTED_KEYSTORE)

    def stretch(data: bytes) -> bytes:
        # Copies of ``data`` cut to the next multiple of v bytes (empty stays empty).
        length = v * ((len(data) + v - 1) // v)
        return (data * (length // len(data) + 1))[:length] if data else b""

    i_block = bytearray(stretch(salt) + stretch(password))
    d = bytes([purpose]) * v
    out = b""
    while len(out) < size:
        a = hashlib.new(hash_name, d + bytes(i_block)).digest()
        for _ in range(iterations - 1):
            a = hashlib.new(hash_name, a).digest()
        out += a
        b = int.from_bytes((a * (v // len(a) + 1))[:v], "big")
        for off in range(0, len(i_block), v):
            chunk = (int.from_bytes(i_block[off : off + v], "big") + b + 1) % (1 << (8 * v))
            i_block[off : off + v] = chunk.to_bytes(v, "big")
    return out[:size]


def _unpad(data: bytes, block: int) -> bytes:
    n = data[-1] if data else 0
    if not 1 <= n <= block or data[-n:] != bytes([n]) * n:
        raise ValidationFailed(
            "keystore content does not decrypt: wrong password?", code=error_codes.BAD_KEYSTORE_PASSWORD
        )
    return data[:-n]


def _cbc(cipher: str, key: bytes, iv: bytes, data: bytes) -> bytes:
    """3DES- or AES-CBC decryption through pyca (RC2 goes to our own :mod:`rc2`)."""
    algo: Any = TripleDES(key) if cipher == "3des" else algorithms.AES(key)
    decryptor = Cipher(algo, modes.CBC(iv)).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def _decrypt(alg: algos.EncryptionAlgorithm, password: str, data: bytes) -> bytes:
    oid = alg["algorithm"].dotted
    if oid in _PBE:
        cipher, key_len, rc2_bits = _PBE[oid]
        params = alg["parameters"]
        salt, iterations = params["salt"].native, params["iterations"].native
        pw = _password_bytes(password)
        key = pkcs12_kdf("sha1", pw, salt, 1, iterations, key_len)
        iv = pkcs12_kdf("sha1", pw, salt, 2, iterations, 8)
        if len(data) % 8:
            raise ValidationFailed("keystore ciphertext is not whole blocks", code=error_codes.BAD_KEYSTORE)
        plain = rc2_decrypt_cbc(key, rc2_bits, iv, data) if cipher == "rc2" else _cbc(cipher, key, iv, data)
        return _unpad(plain, 8)
    if oid == _PBES2 and alg.kdf == "pbkdf2" and alg.encryption_cipher in ("aes", "tripledes"):
        if not 1 <= alg.kdf_iterations <= _MAX_ITERATIONS:
            raise ValidationFailed(
                "keystore asks for too many PBKDF2 iterations", code=error_codes.UNSUPPORTED_KEYSTORE
            )
        key = hashlib.pbkdf2_hmac(
            alg.kdf_hmac, password.encode("utf-8"), alg.kdf_salt, alg.kdf_iterations, alg.key_length
        )
        cipher = "aes" if alg.encryption_cipher == "aes" else "3des"
        return _unpad(_cbc(cipher, key, alg.encryption_iv, data), alg.encryption_block_size)
    raise ValidationFailed(f"unsupported keystore encryption {oid}", code=error_codes.UNSUPPORTED_KEYSTORE)


def _check_mac(pfx: pkcs12.Pfx, password: str, content: bytes) -> None:
    mac_data = pfx["mac_data"]
    if isinstance(mac_data, core.Void):
        return  # integrity by public-key mode or none: nothing to check with a password
    hash_name = mac_data["mac"]["digest_algorithm"]["algorithm"].native
    if hash_name not in _HASH_BLOCK:
        raise ValidationFailed(f"unsupported keystore MAC hash {hash_name}", code=error_codes.UNSUPPORTED_KEYSTORE)
    size = hashlib.new(hash_name).digest_size
    key = pkcs12_kdf(
        hash_name, _password_bytes(password), mac_data["mac_salt"].native, 3, mac_data["iterations"].native, size
    )
    expected = hmac.new(key, content, hash_name).digest()
    if not hmac.compare_digest(expected, mac_data["mac"]["digest"].native):
        raise ValidationFailed(
            "keystore password is wrong or the file is damaged", code=error_codes.BAD_KEYSTORE_PASSWORD
        )


def _read_bags(safe_contents: bytes, password: str, out: Pkcs12Contents) -> None:
    for bag in pkcs12.SafeContents.load(safe_contents):
        bag_id = bag["bag_id"].dotted
        value = bag["bag_value"]
        if bag_id == "1.2.840.113549.1.12.10.1.2":  # pkcs8ShroudedKeyBag
            info = keys.EncryptedPrivateKeyInfo.load(value.untag().dump())
            _add_key(_decrypt(info["encryption_algorithm"], password, info["encrypted_data"].native), out)
        elif bag_id == "1.2.840.113549.1.12.10.1.1":  # keyBag
            _add_key(value.untag().dump(), out)
        elif bag_id == "1.2.840.113549.1.12.10.1.3":  # certBag
            cert_bag = pkcs12.CertBag.load(value.untag().dump())
            if cert_bag["cert_id"].dotted == "1.2.840.113549.1.9.22.1":  # x509Certificate
                out.certificates.append(cert_bag["cert_value"].parsed.dump())
        elif bag_id == "1.2.840.113549.1.12.10.1.6":  # safeContentsBag
            _read_bags(value.untag().dump(), password, out)


def _add_key(pkcs8_der: bytes, out: Pkcs12Contents) -> None:
    out.pkcs8_der.append(pkcs8_der)
    if pkcs8_algorithm_oid(pkcs8_der) in oids.KEY_ALGORITHMS:
        out.gost_keys.append(private_key_from_pkcs8(pkcs8_der))
    else:
        out.other_keys_pkcs8.append(pkcs8_der)


def load_pkcs12(data: bytes, password: str) -> Pkcs12Contents:
    """Every key and certificate of a password-protected PKCS#12 file.

    Raises :class:`ValidationFailed`: code ``bad_keystore_password`` for a wrong password,
    ``bad_keystore``/``unsupported_keystore`` for anything unreadable.
    """
    try:
        pfx = pkcs12.Pfx.load(bytes(data), strict=True)
        auth_safe = pfx["auth_safe"]
        if auth_safe["content_type"].native != "data":
            raise ValidationFailed("keystore is not password-integrity PKCS#12", code=error_codes.UNSUPPORTED_KEYSTORE)
        content = auth_safe["content"].native
        _check_mac(pfx, password, content)
        out = Pkcs12Contents()
        for info in pkcs12.AuthenticatedSafe.load(content):
            kind = info["content_type"].native
            if kind == "data":
                _read_bags(info["content"].native, password, out)
            elif kind == "encrypted_data":
                enc = info["content"]["encrypted_content_info"]
                plain = _decrypt(enc["content_encryption_algorithm"], password, enc["encrypted_content"].native)
                _read_bags(plain, password, out)
            else:
                raise ValidationFailed(f"unsupported keystore content {kind}", code=error_codes.UNSUPPORTED_KEYSTORE)
        return out
    except AuthsvcError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise ValidationFailed(
            f"keystore is not a readable PKCS#12 file: {exc}", code=error_codes.BAD_KEYSTORE
        ) from exc


def load_nca_pkcs12(data: bytes, password: str) -> tuple[GostPrivateKey | None, list[bytes]]:
    """(the GOST private key or None, the certificates' DER) of an NCA keystore."""
    contents = load_pkcs12(data, password)
    return (contents.gost_keys[0] if contents.gost_keys else None), contents.certificates


__all__ = ["Pkcs12Contents", "load_nca_pkcs12", "load_pkcs12", "pkcs12_kdf"]
_ = cms  # asn1crypto.cms registers the content types pkcs12 parsing relies on
