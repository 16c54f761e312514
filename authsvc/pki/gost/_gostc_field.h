/* GOST R 34.10 verification arithmetic for NL 64-bit limbs, included by _gostc.c once per width
 * (NL = 4: 256-bit curves, NL = 8: 512-bit curves) with FN(x) naming the functions of that width.
 *
 * VARIABLE TIME ON PURPOSE: this file only verifies signatures. Every input (public key, digest,
 * signature) is public, so branches and table indices that depend on them leak nothing. Never use it
 * with a private key or a nonce.
 *
 * Field elements are NL little-endian limbs, fully reduced into [0, p). Two multiplications exist:
 * Montgomery (any odd p; elements kept as aR mod p) and, for p = 2^(64 NL) - c with a small c (the
 * tc26 512 A/C and CryptoPro-A / tc26 256 A primes), the pseudo-Mersenne one (elements kept as is;
 * the high half of a product folds back as hi * c). The Python side chooses and passes the
 * constants (R mod p, R^2 mod p: both 1 for a pseudo-Mersenne prime), so the rest is shared.
 */

typedef struct {
    limb p[NL];
    limb pm2[NL];    /* p - 2, the Fermat inversion exponent */
    limb one[NL];    /* 1 in the element representation */
    limb r2[NL];     /* R^2 mod p: mul(x, r2) enters the representation */
    limb a[NL];      /* curve a, represented */
    limb n0;         /* -p^-1 mod 2^64 (Montgomery only) */
    limb c;          /* 2^(64 NL) - p when pseudo-Mersenne, else 0 */
    int a_minus3;    /* a = -3: the cheaper doubling */
} FN(curve);

typedef struct { limb x[NL], y[NL]; } FN(affine);
typedef struct { limb x[NL], y[NL], z[NL]; } FN(jac);   /* (X/Z^2, Y/Z^3); Z = 0 is infinity */

static int FN(is_zero)(const limb *a) {
    limb acc = 0;
    for (int i = 0; i < NL; i++) acc |= a[i];
    return acc == 0;
}

static int FN(eq)(const limb *a, const limb *b) {
    for (int i = 0; i < NL; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* r = t - p if t (with an extra top limb) >= p, else t. */
static inline void FN(reduce_once)(limb *r, const limb *t, limb top, const limb *p) {
    limb d[NL];
    u128 borrow = 0;
    _Pragma("GCC unroll 8") for (int i = 0; i < NL; i++) {
        u128 x = (u128)t[i] - p[i] - borrow;
        d[i] = (limb)x;
        borrow = (x >> 64) & 1;
    }
    if (top || !borrow)
        memcpy(r, d, sizeof d);
    else if (r != t)
        memcpy(r, t, sizeof d);
}

static inline void FN(add)(limb *r, const limb *a, const limb *b, const FN(curve) *c) {
    limb t[NL];
    u128 carry = 0;
    _Pragma("GCC unroll 8") for (int i = 0; i < NL; i++) {
        u128 x = (u128)a[i] + b[i] + carry;
        t[i] = (limb)x;
        carry = x >> 64;
    }
    FN(reduce_once)(r, t, (limb)carry, c->p);
}

static inline void FN(sub)(limb *r, const limb *a, const limb *b, const FN(curve) *c) {
    u128 borrow = 0;
    limb t[NL];
    _Pragma("GCC unroll 8") for (int i = 0; i < NL; i++) {
        u128 x = (u128)a[i] - b[i] - borrow;
        t[i] = (limb)x;
        borrow = (x >> 64) & 1;
    }
    if (borrow) {
        u128 carry = 0;
        _Pragma("GCC unroll 8") for (int i = 0; i < NL; i++) {
            u128 x = (u128)t[i] + c->p[i] + carry;
            t[i] = (limb)x;
            carry = x >> 64;
        }
    }
    memcpy(r, t, sizeof t);
}

/* r = t mod p for a 2 NL-limb t and p = 2^(64 NL) - c: the high half times c folds back, twice. */
static inline void FN(fold)(limb *r, const limb *t, const FN(curve) *c) {
    limb lo[NL];
    limb carry = 0;
    _Pragma("GCC unroll 8") for (int j = 0; j < NL; j++) {
        u128 x = (u128)t[NL + j] * c->c + t[j] + carry;
        lo[j] = (limb)x;
        carry = (limb)(x >> 64);
    }
    /* carry < c + 1; fold carry * c once more, and a last wrap adds c again (cannot overflow). */
    u128 x = (u128)carry * c->c + lo[0];
    lo[0] = (limb)x;
    limb k = (limb)(x >> 64);
    for (int j = 1; j < NL && k; j++) {
        lo[j] += k;
        k = lo[j] == 0;
    }
    if (k) {
        x = (u128)lo[0] + c->c;
        lo[0] = (limb)x;
        k = (limb)(x >> 64);
        for (int j = 1; j < NL && k; j++) {
            lo[j] += k;
            k = lo[j] == 0;
        }
    }
    FN(reduce_once)(r, lo, 0, c->p);
}

static inline void FN(mul)(limb *r, const limb *a, const limb *b, const FN(curve) *c) {
    if (c->c) {
        /* Pseudo-Mersenne: the 2 NL-limb product, then hi * 2^(64 NL) = hi * c (mod p), twice. */
        limb t[2 * NL];
        memset(t, 0, sizeof t);
        _Pragma("GCC unroll 8") for (int i = 0; i < NL; i++) {
            limb carry = 0;
            _Pragma("GCC unroll 8") for (int j = 0; j < NL; j++) {
                u128 x = (u128)a[j] * b[i] + t[i + j] + carry;
                t[i + j] = (limb)x;
                carry = (limb)(x >> 64);
            }
            t[i + NL] = carry;
        }
        FN(fold)(r, t, c);
        return;
    }
    /* Montgomery, coarsely integrated operand scanning: t = (t + a * b[i] + m p) / 2^64 per limb. */
    limb t[NL + 2];
    memset(t, 0, sizeof t);
    _Pragma("GCC unroll 8") for (int i = 0; i < NL; i++) {
        limb carry = 0;
        _Pragma("GCC unroll 8") for (int j = 0; j < NL; j++) {
            u128 x = (u128)a[j] * b[i] + t[j] + carry;
            t[j] = (limb)x;
            carry = (limb)(x >> 64);
        }
        u128 x = (u128)t[NL] + carry;
        t[NL] = (limb)x;
        t[NL + 1] = (limb)(x >> 64);
        limb m = t[0] * c->n0;
        x = (u128)m * c->p[0] + t[0];
        carry = (limb)(x >> 64);
        _Pragma("GCC unroll 8") for (int j = 1; j < NL; j++) {
            x = (u128)m * c->p[j] + t[j] + carry;
            t[j - 1] = (limb)x;
            carry = (limb)(x >> 64);
        }
        x = (u128)t[NL] + carry;
        t[NL - 1] = (limb)x;
        t[NL] = t[NL + 1] + (limb)(x >> 64);
    }
    FN(reduce_once)(r, t, t[NL], c->p);
}

/* a^2: for a pseudo-Mersenne p the cross products once, doubled, plus the squares (36 products, not 64). */
static inline void FN(sqr)(limb *r, const limb *a, const FN(curve) *c) {
    if (!c->c) {
        FN(mul)(r, a, a, c);
        return;
    }
    limb t[2 * NL];
    memset(t, 0, sizeof t);
    _Pragma("GCC unroll 8") for (int i = 0; i < NL - 1; i++) {
        limb carry = 0;
        _Pragma("GCC unroll 8") for (int j = i + 1; j < NL; j++) {
            u128 x = (u128)a[i] * a[j] + t[i + j] + carry;
            t[i + j] = (limb)x;
            carry = (limb)(x >> 64);
        }
        t[i + NL] = carry;
    }
    _Pragma("GCC unroll 16") for (int i = 2 * NL - 1; i > 0; i--) t[i] = (t[i] << 1) | (t[i - 1] >> 63);
    t[0] <<= 1;
    limb carry = 0;
    _Pragma("GCC unroll 8") for (int i = 0; i < NL; i++) {
        u128 x = (u128)a[i] * a[i] + t[2 * i] + carry;
        t[2 * i] = (limb)x;
        x = (u128)t[2 * i + 1] + (limb)(x >> 64);
        t[2 * i + 1] = (limb)x;
        carry = (limb)(x >> 64);
    }
    FN(fold)(r, t, c);
}

/* a^(p-2) = a^-1 for a != 0 (Fermat; only a few per key table, none per verification). */
static void FN(inv)(limb *r, const limb *a, const FN(curve) *c) {
    limb acc[NL];
    memcpy(acc, c->one, sizeof acc);
    for (int i = NL * 64 - 1; i >= 0; i--) {
        FN(sqr)(acc, acc, c);
        if ((c->pm2[i / 64] >> (i % 64)) & 1) FN(mul)(acc, acc, a, c);
    }
    memcpy(r, acc, sizeof acc);
}

static void FN(dbl)(FN(jac) *r, const FN(jac) *pt, const FN(curve) *c) {
    if (FN(is_zero)(pt->z) || FN(is_zero)(pt->y)) {
        memset(r->z, 0, sizeof r->z);
        return;
    }
    limb t1[NL], t2[NL], m[NL], s[NL], yy[NL], x3[NL];
    if (c->a_minus3) {
        /* M = 3 (X - Z^2)(X + Z^2) */
        FN(sqr)(t1, pt->z, c);
        FN(sub)(t2, pt->x, t1, c);
        FN(add)(t1, pt->x, t1, c);
        FN(mul)(m, t1, t2, c);
        FN(add)(t1, m, m, c);
        FN(add)(m, t1, m, c);
    } else {
        /* M = 3 X^2 + a Z^4 */
        FN(sqr)(t1, pt->z, c);
        FN(sqr)(t1, t1, c);
        FN(mul)(t1, t1, c->a, c);
        FN(sqr)(t2, pt->x, c);
        FN(add)(m, t2, t2, c);
        FN(add)(m, m, t2, c);
        FN(add)(m, m, t1, c);
    }
    FN(sqr)(yy, pt->y, c);                /* Y^2 */
    FN(mul)(s, pt->x, yy, c);             /* S = 4 X Y^2 */
    FN(add)(s, s, s, c);
    FN(add)(s, s, s, c);
    FN(sqr)(x3, m, c);                    /* X3 = M^2 - 2 S */
    FN(sub)(x3, x3, s, c);
    FN(sub)(x3, x3, s, c);
    FN(mul)(r->z, pt->y, pt->z, c);       /* Z3 = 2 Y Z */
    FN(add)(r->z, r->z, r->z, c);
    FN(sqr)(yy, yy, c);                   /* 8 Y^4 */
    FN(add)(yy, yy, yy, c);
    FN(add)(yy, yy, yy, c);
    FN(add)(yy, yy, yy, c);
    FN(sub)(t1, s, x3, c);                /* Y3 = M (S - X3) - 8 Y^4 */
    FN(mul)(t1, m, t1, c);
    FN(sub)(r->y, t1, yy, c);
    memcpy(r->x, x3, sizeof x3);
}

/* r = pt + q (q affine, never infinity). */
static void FN(madd)(FN(jac) *r, const FN(jac) *pt, const FN(affine) *q, const FN(curve) *c) {
    if (FN(is_zero)(pt->z)) {
        memcpy(r->x, q->x, sizeof r->x);
        memcpy(r->y, q->y, sizeof r->y);
        memcpy(r->z, c->one, sizeof r->z);
        return;
    }
    limb zz[NL], u2[NL], s2[NL], h[NL], rr[NL], hh[NL], hhh[NL], v[NL], x3[NL];
    FN(sqr)(zz, pt->z, c);
    FN(mul)(u2, q->x, zz, c);
    FN(mul)(s2, q->y, zz, c);
    FN(mul)(s2, s2, pt->z, c);
    FN(sub)(h, u2, pt->x, c);
    FN(sub)(rr, s2, pt->y, c);
    if (FN(is_zero)(h)) {
        if (FN(is_zero)(rr)) {
            FN(dbl)(r, pt, c);
        } else {
            memset(r->z, 0, sizeof r->z);
        }
        return;
    }
    FN(sqr)(hh, h, c);
    FN(mul)(hhh, h, hh, c);
    FN(mul)(v, pt->x, hh, c);
    FN(sqr)(x3, rr, c);                   /* X3 = R^2 - H^3 - 2 V */
    FN(sub)(x3, x3, hhh, c);
    FN(sub)(x3, x3, v, c);
    FN(sub)(x3, x3, v, c);
    FN(mul)(r->z, pt->z, h, c);           /* Z3 = Z1 H */
    FN(sub)(v, v, x3, c);                 /* Y3 = R (V - X3) - Y1 H^3 */
    FN(mul)(v, rr, v, c);
    FN(mul)(hhh, pt->y, hhh, c);
    FN(sub)(r->y, v, hhh, c);
    memcpy(r->x, x3, sizeof x3);
}

/* Affine forms of n Jacobian points with one inversion (Montgomery's trick); 0 if any is infinity. */
static int FN(to_affine_batch)(FN(affine) *out, const FN(jac) *in, int n, const FN(curve) *c) {
    limb (*pre)[NL] = malloc(sizeof(limb[NL]) * (size_t)n);
    if (!pre) return 0;
    limb acc[NL], inv[NL], zi[NL], zi2[NL];
    memcpy(acc, c->one, sizeof acc);
    for (int i = 0; i < n; i++) {
        if (FN(is_zero)(in[i].z)) {
            free(pre);
            return 0;
        }
        memcpy(pre[i], acc, sizeof acc);
        FN(mul)(acc, acc, in[i].z, c);
    }
    FN(inv)(inv, acc, c);
    for (int i = n - 1; i >= 0; i--) {
        FN(mul)(zi, inv, pre[i], c);      /* 1 / Z_i */
        FN(mul)(inv, inv, in[i].z, c);
        FN(sqr)(zi2, zi, c);
        FN(mul)(out[i].x, in[i].x, zi2, c);
        FN(mul)(zi2, zi2, zi, c);
        FN(mul)(out[i].y, in[i].y, zi2, c);
    }
    free(pre);
    return 1;
}

/* The comb table of an affine point P (Lim-Lee: 8 teeth d = 8 NL bits apart, two blocks of d/2
 * columns): entry j - 1 for j = 1..255 is the sum over the set bits i of j of 2^(i d) P, and entry
 * 255 + j - 1 is 2^(d/2) times it. 0 if an entry is infinity (P of small order, or off the group);
 * the caller then uses another verifier. */
static int FN(comb_table)(FN(affine) *tab, const FN(affine) *pt, const FN(curve) *c) {
    enum { D = 8 * NL };
    FN(jac) base[16], *all = malloc(sizeof(FN(jac)) * 510);
    FN(affine) base_aff[16];
    if (!all) return 0;
    memcpy(base[0].x, pt->x, sizeof pt->x);
    memcpy(base[0].y, pt->y, sizeof pt->y);
    memcpy(base[0].z, c->one, sizeof base[0].z);
    /* base[2 i] = 2^(i d) P, base[2 i + 1] = 2^(i d + d/2) P */
    for (int i = 1; i < 16; i++) {
        base[i] = base[i - 1];
        for (int k = 0; k < D / 2; k++) FN(dbl)(&base[i], &base[i], c);
    }
    int ok = FN(to_affine_batch)(base_aff, base, 16, c);
    for (int half = 0; ok && half < 2; half++) {
        FN(jac) *out = all + 255 * half;
        for (int j = 1; j < 256; j++) {
            int top = 31 - __builtin_clz((unsigned)j);
            int rest = j & ~(1 << top);
            if (rest == 0)
                out[j - 1] = base[2 * top + half];
            else
                FN(madd)(&out[j - 1], &out[rest - 1], &base_aff[2 * top + half], c);
        }
    }
    ok = ok && FN(to_affine_batch)(tab, all, 510, c);
    free(all);
    return ok;
}

static int FN(cmp)(const limb *a, const limb *b) {
    for (int i = NL - 1; i >= 0; i--)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}

static limb FN(sub_raw)(limb *r, const limb *a, const limb *b) {
    u128 borrow = 0;
    for (int i = 0; i < NL; i++) {
        u128 x = (u128)a[i] - b[i] - borrow;
        r[i] = (limb)x;
        borrow = (x >> 64) & 1;
    }
    return (limb)borrow;
}

static void FN(add_raw)(limb *r, const limb *a, const limb *b) {
    u128 acc = 0;
    for (int i = 0; i < NL; i++) {
        acc = (u128)a[i] + b[i] + (acc >> 64);
        r[i] = (limb)acc;
    }
}

/* x / 2 mod m for x < m, m odd: (x + m) / 2 when x is odd, the carry of x + m shifted back in. */
static void FN(half_mod)(limb *x, const limb *m) {
    limb carry = 0;
    if (x[0] & 1) {
        u128 acc = 0;
        for (int i = 0; i < NL; i++) {
            acc = (u128)x[i] + m[i] + (acc >> 64);
            x[i] = (limb)acc;
        }
        carry = (limb)(acc >> 64);
    }
    for (int i = 0; i < NL - 1; i++) x[i] = (x[i] >> 1) | (x[i + 1] << 63);
    x[NL - 1] = (x[NL - 1] >> 1) | (carry << 63);
}

/* r = a^-1 mod m for an odd m and 0 < a < m with gcd 1 (m = q, a prime): the binary extended Euclid,
 * variable time (a is the public digest). 0 if no inverse was found. */
static int FN(inv_mod)(limb *r, const limb *a, const limb *m) {
    limb u[NL], v[NL], x1[NL], x2[NL], one[NL];
    memcpy(u, a, sizeof u);
    memcpy(v, m, sizeof v);
    memset(x1, 0, sizeof x1);
    memset(x2, 0, sizeof x2);
    memset(one, 0, sizeof one);
    x1[0] = one[0] = 1;
    if (FN(is_zero)(u)) return 0;
    while (FN(cmp)(u, one) != 0 && FN(cmp)(v, one) != 0) {
        while (!(u[0] & 1)) {
            for (int i = 0; i < NL - 1; i++) u[i] = (u[i] >> 1) | (u[i + 1] << 63);
            u[NL - 1] >>= 1;
            FN(half_mod)(x1, m);
        }
        while (!(v[0] & 1)) {
            for (int i = 0; i < NL - 1; i++) v[i] = (v[i] >> 1) | (v[i + 1] << 63);
            v[NL - 1] >>= 1;
            FN(half_mod)(x2, m);
        }
        if (FN(cmp)(u, v) >= 0) {
            FN(sub_raw)(u, u, v);
            if (FN(sub_raw)(x1, x1, x2)) FN(add_raw)(x1, x1, m); /* wraps back into [0, m) */
        } else {
            FN(sub_raw)(v, v, u);
            if (FN(sub_raw)(x2, x2, x1)) FN(add_raw)(x2, x2, m);
        }
        if (FN(is_zero)(u) || FN(is_zero)(v)) return 0; /* gcd > 1 */
    }
    memcpy(r, FN(cmp)(u, one) == 0 ? x1 : x2, sizeof u);
    return 1;
}

static inline unsigned FN(comb_index)(const limb *k, int col) {
    enum { D = 8 * NL };
    unsigned idx = 0;
    for (int i = 0; i < 8; i++) {
        int bit = i * D + col;
        idx |= (unsigned)((k[bit / 64] >> (bit % 64)) & 1) << i;
    }
    return idx;
}

/* u G + v Q from the two comb tables, then whether x of it is one of the candidates (represented x
 * values r + k q < p): X == cand Z^2 avoids the final inversion. */
static int FN(verify)(const FN(curve) *c, const FN(affine) *gtab, const FN(affine) *qtab, const limb *u,
                      const limb *v, const limb *cands, int ncands) {
    enum { D = 8 * NL };
    FN(jac) acc;
    memset(&acc, 0, sizeof acc);
    for (int col = D / 2 - 1; col >= 0; col--) {
        FN(dbl)(&acc, &acc, c);
        unsigned iu = FN(comb_index)(u, col + D / 2), iv = FN(comb_index)(v, col + D / 2);
        if (iu) FN(madd)(&acc, &acc, &gtab[255 + iu - 1], c);
        if (iv) FN(madd)(&acc, &acc, &qtab[255 + iv - 1], c);
        iu = FN(comb_index)(u, col), iv = FN(comb_index)(v, col);
        if (iu) FN(madd)(&acc, &acc, &gtab[iu - 1], c);
        if (iv) FN(madd)(&acc, &acc, &qtab[iv - 1], c);
    }
    if (FN(is_zero)(acc.z)) return 0;
    limb zz[NL], want[NL];
    FN(sqr)(zz, acc.z, c);
    for (int i = 0; i < ncands; i++) {
        FN(mul)(want, cands + (size_t)i * NL, c->r2, c);
        FN(mul)(want, want, zz, c);
        if (FN(eq)(want, acc.x)) return 1;
    }
    return 0;
}
