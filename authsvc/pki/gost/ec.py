"""GOST R 34.10-2001/2012 signature arithmetic on plain Python ints.

Points are kept in Jacobian coordinates (X, Y, Z) ~ (X/Z², Y/Z³) so that no field inversion happens
inside a scalar multiplication; the point at infinity is any triple with Z = 0. Verification uses
Shamir's trick with a 2-bit joint window (u·G + v·Q in one pass of doublings), which brings a 512-bit
verify to a few milliseconds in CPython (gostcrypto's affine code needs ~320 ms; KZ-PKI.md §2).

Signing runs a Montgomery ladder over a fixed number of bits: the same sequence of field operations
for every nonce of a given curve ("constant-time-ish": CPython big ints are not constant time, which
is acceptable for the test-PKI simulator that signs with it).

The scheme (RFC 7091 §6): e = digest mod q (1 if 0); sign: r = x(kG) mod q, s = (rd + ke) mod q;
verify: v = e⁻¹, z1 = sv, z2 = −rv (mod q), accept iff x(z1·G + z2·Q) mod q = r.
"""

from __future__ import annotations

from authsvc.pki.gost.curves import Curve

Point = tuple[int, int]
_Jacobian = tuple[int, int, int]
_INFINITY: _Jacobian = (1, 1, 0)


def _double(c: Curve, pt: _Jacobian) -> _Jacobian:
    x, y, z = pt
    if z == 0 or y == 0:
        return _INFINITY
    p = c.p
    yy = y * y % p
    s = 4 * x * yy % p
    zz = z * z % p
    # For a = −3 (CryptoPro, tc26 512 A/B) M = 3(X − Z²)(X + Z²) saves a multiplication.
    m = 3 * (x - zz) * (x + zz) % p if c.a == p - 3 else (3 * x * x + c.a * zz * zz) % p
    x3 = (m * m - 2 * s) % p
    return x3, (m * (s - x3) - 8 * yy * yy) % p, 2 * y * z % p


def _add_affine(c: Curve, pt: _Jacobian, qx: int, qy: int) -> _Jacobian:
    """pt + (qx, qy), the second point affine (a "mixed" addition: 8M + 3S)."""
    x1, y1, z1 = pt
    if z1 == 0:
        return qx, qy, 1
    p = c.p
    zz = z1 * z1 % p
    h = (qx * zz - x1) % p
    r = (qy * zz * z1 - y1) % p
    if h == 0:
        return _double(c, pt) if r == 0 else _INFINITY
    hh = h * h % p
    hhh = h * hh % p
    v = x1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    return x3, (r * (v - x3) - y1 * hhh) % p, z1 * h % p


def _add(c: Curve, p1: _Jacobian, p2: _Jacobian) -> _Jacobian:
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    if z1 == 0:
        return p2
    if z2 == 0:
        return p1
    p = c.p
    z1z1 = z1 * z1 % p
    z2z2 = z2 * z2 % p
    u1 = x1 * z2z2 % p
    s1 = y1 * z2 * z2z2 % p
    h = (x2 * z1z1 - u1) % p
    r = (y2 * z1 * z1z1 - s1) % p
    if h == 0:
        return _double(c, p1) if r == 0 else _INFINITY
    hh = h * h % p
    hhh = h * hh % p
    v = u1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    return x3, (r * (v - x3) - s1 * hhh) % p, z1 * z2 * h % p


def _to_affine(c: Curve, pt: _Jacobian) -> Point | None:
    x, y, z = pt
    if z == 0:
        return None
    zi = pow(z, -1, c.p)
    zi2 = zi * zi % c.p
    return x * zi2 % c.p, y * zi2 * zi % c.p


def _ladder(c: Curve, k: int, base: Point) -> Point | None:
    """k·base by a Montgomery ladder over exactly q.bit_length() + 1 bits."""
    bits = c.q.bit_length() + 1
    # k + q or k + 2q has bit ``bits - 1`` set, so the loop length never depends on k's size.
    k = k % c.q + c.q
    if k.bit_length() < bits:
        k += c.q
    r0: _Jacobian = _INFINITY
    r1: _Jacobian = (base[0], base[1], 1)
    for i in range(bits - 1, -1, -1):
        if (k >> i) & 1:
            r0, r1 = _add(c, r0, r1), _double(c, r1)
        else:
            r1, r0 = _add(c, r0, r1), _double(c, r0)
    return _to_affine(c, r0)


def scalar_mult(c: Curve, k: int, point: Point) -> Point | None:
    """k·point (None for the point at infinity)."""
    return _ladder(c, k, point)


def public_point(c: Curve, d: int) -> Point:
    """The public key Q = d·G of a private scalar 0 < d < q."""
    if not 0 < d < c.q:
        raise ValueError("private key scalar out of range")
    q = _ladder(c, d, (c.gx, c.gy))
    if q is None:  # unreachable for 0 < d < q on a prime-order subgroup
        raise ValueError("private key scalar gives the point at infinity")
    return q


def _joint_table(c: Curve, q: Point) -> list[Point | None]:
    """i·G + j·Q for i, j in 0..3 at index 4i + j, affine (one inversion per entry, 15 in all)."""
    g: _Jacobian = (c.gx, c.gy, 1)
    qj: _Jacobian = (q[0], q[1], 1)
    gs = [_INFINITY, g, _double(c, g)]
    gs.append(_add(c, gs[2], g))
    qs = [_INFINITY, qj, _double(c, qj)]
    qs.append(_add(c, qs[2], qj))
    return [_to_affine(c, _add(c, gs[i], qs[j])) for i in range(4) for j in range(4)]


def _shamir(c: Curve, u: int, v: int, q: Point) -> Point | None:
    """u·G + v·Q in one pass, two bits of each scalar per step."""
    table = _joint_table(c, q)
    acc: _Jacobian = _INFINITY
    top = max(u.bit_length(), v.bit_length())
    top += top & 1
    for i in range(top - 2, -2, -2):
        acc = _double(c, _double(c, acc))
        entry = table[(((u >> i) & 3) << 2) | ((v >> i) & 3)]
        if entry is not None:
            acc = _add_affine(c, acc, entry[0], entry[1])
    return _to_affine(c, acc)


def in_subgroup(c: Curve, q: Point) -> bool:
    """True if q·point is the point at infinity; always so on curves of cofactor 1."""
    return c.cofactor == 1 or _shamir(c, 0, c.q, q) is None


def digest_to_e(c: Curve, e: int) -> int:
    """The standard's e: the digest integer mod q, replaced by 1 when that is zero."""
    e %= c.q
    return e or 1


def verify_raw(c: Curve, q: Point, e: int, r: int, s: int) -> bool:
    """Check (r, s) over the digest integer ``e`` for public key ``q``. Never raises for bad values."""
    if not (0 < r < c.q and 0 < s < c.q) or not c.contains(q[0], q[1]):
        return False
    e = digest_to_e(c, e)
    v = pow(e, -1, c.q)
    z1 = s * v % c.q
    z2 = (c.q - r) * v % c.q
    point = _shamir(c, z1, z2, q)
    return point is not None and point[0] % c.q == r


def sign_raw(c: Curve, d: int, e: int, k: int) -> tuple[int, int] | None:
    """(r, s) with nonce k, or None when k is unusable (r or s zero): the caller draws another."""
    if not 0 < k < c.q:
        return None
    e = digest_to_e(c, e)
    point = _ladder(c, k, (c.gx, c.gy))
    if point is None:
        return None
    r = point[0] % c.q
    s = (r * d + k * e) % c.q
    if r == 0 or s == 0:
        return None
    return r, s
