/* GOST R 34.10-2012 / 34.10-2001 signature verification in C (authsvc.pki.gost.native is its only user).
 *
 * Verification only, and variable time on purpose: every input is public (see _gostc_field.h). The
 * module holds no state: a curve context and the comb tables are bytes objects built here and kept
 * by the Python side (the generator's once per process, a public key's per key in an LRU), so there
 * is nothing to free and nothing shared between threads but immutable bytes. The GIL is released
 * around the arithmetic.
 *
 * Numbers cross the boundary as little-endian bytes of 8 NL bytes; the Python side computes the
 * scalars u = s/e, v = -r/e mod q (Python's pow is fast enough) and the candidates r + k q < p.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t limb;
typedef unsigned __int128 u128;

#define TABLE_ENTRIES 510 /* two comb blocks of 255 points (_gostc_field.h) */

#define NL 4
#define FN(x) x##_4
#include "_gostc_field.h"
#undef NL
#undef FN

#define NL 8
#define FN(x) x##_8
#include "_gostc_field.h"
#undef NL
#undef FN

static void load_limbs(limb *out, const unsigned char *in, int nl) {
    for (int i = 0; i < nl; i++) {
        limb v = 0;
        for (int b = 7; b >= 0; b--) v = (v << 8) | in[i * 8 + b];
        out[i] = v;
    }
}

static void store_limbs(unsigned char *out, const limb *in, int nl) {
    for (int i = 0; i < nl; i++)
        for (int b = 0; b < 8; b++) out[i * 8 + b] = (unsigned char)(in[i] >> (8 * b));
}

static int width(Py_ssize_t nbytes) { return nbytes == 32 ? 4 : nbytes == 64 ? 8 : 0; }

/* curve(p, pm2, one, r2, a, n0, c, a_minus3) -> bytes: all field values as 8 NL little-endian bytes. */
static PyObject *py_curve(PyObject *self, PyObject *args) {
    Py_buffer f[5];
    unsigned long long n0, pm_c;
    int a_minus3;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*KKp", &f[0], &f[1], &f[2], &f[3], &f[4], &n0, &pm_c, &a_minus3))
        return NULL;
    PyObject *res = NULL;
    int nl = width(f[0].len);
    for (int i = 1; i < 5; i++)
        if (f[i].len != f[0].len) nl = 0;
    if (nl == 4) {
        curve_4 c;
        memset(&c, 0, sizeof c);
        load_limbs(c.p, f[0].buf, 4); load_limbs(c.pm2, f[1].buf, 4); load_limbs(c.one, f[2].buf, 4);
        load_limbs(c.r2, f[3].buf, 4); load_limbs(c.a, f[4].buf, 4);
        c.n0 = n0; c.c = pm_c; c.a_minus3 = a_minus3;
        res = PyBytes_FromStringAndSize((const char *)&c, sizeof c);
    } else if (nl == 8) {
        curve_8 c;
        memset(&c, 0, sizeof c);
        load_limbs(c.p, f[0].buf, 8); load_limbs(c.pm2, f[1].buf, 8); load_limbs(c.one, f[2].buf, 8);
        load_limbs(c.r2, f[3].buf, 8); load_limbs(c.a, f[4].buf, 8);
        c.n0 = n0; c.c = pm_c; c.a_minus3 = a_minus3;
        res = PyBytes_FromStringAndSize((const char *)&c, sizeof c);
    } else {
        PyErr_SetString(PyExc_ValueError, "field values must all be 32 or 64 bytes");
    }
    for (int i = 0; i < 5; i++) PyBuffer_Release(&f[i]);
    return res;
}

static int curve_width(const Py_buffer *c) {
    return c->len == sizeof(curve_4) ? 4 : c->len == sizeof(curve_8) ? 8 : 0;
}

/* table(curve, x, y) -> bytes (TABLE_ENTRIES affine points, represented) or None if an entry is infinity.
 * x, y are plain coordinates; the caller has checked the point is on the curve. */
static PyObject *py_table(PyObject *self, PyObject *args) {
    Py_buffer cb, xb, yb;
    if (!PyArg_ParseTuple(args, "y*y*y*", &cb, &xb, &yb)) return NULL;
    PyObject *res = NULL;
    int nl = curve_width(&cb);
    if (nl == 0 || xb.len != 8 * nl || yb.len != 8 * nl) {
        PyErr_SetString(PyExc_ValueError, "bad curve or coordinate length");
        goto done;
    }
    size_t pt_size = nl == 4 ? sizeof(affine_4) : sizeof(affine_8);
    res = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(pt_size * TABLE_ENTRIES));
    if (!res) goto done;
    int ok;
    void *out = PyBytes_AS_STRING(res);
    limb x[8], y[8];
    load_limbs(x, xb.buf, nl);
    load_limbs(y, yb.buf, nl);
    Py_BEGIN_ALLOW_THREADS
    if (nl == 4) {
        const curve_4 *c = cb.buf;
        affine_4 pt;
        mul_4(pt.x, x, c->r2, c);
        mul_4(pt.y, y, c->r2, c);
        ok = comb_table_4(out, &pt, c);
    } else {
        const curve_8 *c = cb.buf;
        affine_8 pt;
        mul_8(pt.x, x, c->r2, c);
        mul_8(pt.y, y, c->r2, c);
        ok = comb_table_8(out, &pt, c);
    }
    Py_END_ALLOW_THREADS
    if (!ok) {
        Py_DECREF(res);
        res = Py_NewRef(Py_None);
    }
done:
    PyBuffer_Release(&cb);
    PyBuffer_Release(&xb);
    PyBuffer_Release(&yb);
    return res;
}

/* verify(curve, gtable, qtable, u, v, candidates) -> bool. */
static PyObject *py_verify(PyObject *self, PyObject *args) {
    Py_buffer b[6];
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5])) return NULL;
    PyObject *res = NULL;
    int nl = curve_width(&b[0]);
    size_t tab = TABLE_ENTRIES * (nl == 4 ? sizeof(affine_4) : sizeof(affine_8));
    if (nl == 0 || (size_t)b[1].len != tab || (size_t)b[2].len != tab || b[3].len != 8 * nl ||
        b[4].len != 8 * nl || b[5].len % (8 * nl) != 0 || b[5].len > 8 * 8 * nl) {
        PyErr_SetString(PyExc_ValueError, "bad verify arguments");
    } else {
        limb u[8], v[8], cands[64];
        int ncands = (int)(b[5].len / (8 * nl)), ok;
        load_limbs(u, b[3].buf, nl);
        load_limbs(v, b[4].buf, nl);
        for (int i = 0; i < ncands; i++) load_limbs(cands + i * nl, (const unsigned char *)b[5].buf + i * 8 * nl, nl);
        Py_BEGIN_ALLOW_THREADS
        if (nl == 4)
            ok = verify_4(b[0].buf, b[1].buf, b[2].buf, u, v, cands, ncands);
        else
            ok = verify_8(b[0].buf, b[1].buf, b[2].buf, u, v, cands, ncands);
        Py_END_ALLOW_THREADS
        res = PyBool_FromLong(ok);
    }
    for (int i = 0; i < 6; i++) PyBuffer_Release(&b[i]);
    return res;
}

/* mul(curve, a, b) -> bytes: one field multiplication, for the Python side's self-check. */
static PyObject *py_mul(PyObject *self, PyObject *args) {
    Py_buffer cb, ab, bb;
    if (!PyArg_ParseTuple(args, "y*y*y*", &cb, &ab, &bb)) return NULL;
    PyObject *res = NULL;
    int nl = curve_width(&cb);
    if (nl == 0 || ab.len != 8 * nl || bb.len != 8 * nl) {
        PyErr_SetString(PyExc_ValueError, "bad curve or operand length");
    } else {
        limb a[8], b[8], r[8];
        unsigned char out[64];
        load_limbs(a, ab.buf, nl);
        load_limbs(b, bb.buf, nl);
        if (nl == 4)
            mul_4(r, a, b, cb.buf);
        else
            mul_8(r, a, b, cb.buf);
        store_limbs(out, r, nl);
        res = PyBytes_FromStringAndSize((const char *)out, 8 * nl);
    }
    PyBuffer_Release(&cb);
    PyBuffer_Release(&ab);
    PyBuffer_Release(&bb);
    return res;
}

/* inv_mod(m, a) -> bytes or None: a^-1 mod an odd m, both 8 NL little-endian bytes, 0 < a < m. */
static PyObject *py_inv_mod(PyObject *self, PyObject *args) {
    Py_buffer mb, ab;
    if (!PyArg_ParseTuple(args, "y*y*", &mb, &ab)) return NULL;
    PyObject *res = NULL;
    int nl = width(mb.len);
    if (nl == 0 || ab.len != mb.len || !(((const unsigned char *)mb.buf)[0] & 1)) {
        PyErr_SetString(PyExc_ValueError, "bad modulus or operand");
    } else {
        limb m[8], a[8], r[8];
        unsigned char out[64];
        int ok;
        load_limbs(m, mb.buf, nl);
        load_limbs(a, ab.buf, nl);
        ok = nl == 4 ? (cmp_4(a, m) < 0 && inv_mod_4(r, a, m)) : (cmp_8(a, m) < 0 && inv_mod_8(r, a, m));
        if (ok) {
            store_limbs(out, r, nl);
            res = PyBytes_FromStringAndSize((const char *)out, 8 * nl);
        } else {
            res = Py_NewRef(Py_None);
        }
    }
    PyBuffer_Release(&mb);
    PyBuffer_Release(&ab);
    return res;
}

static PyMethodDef methods[] = {
    {"inv_mod", py_inv_mod, METH_VARARGS, "a^-1 mod an odd m, or None."},
    {"curve", py_curve, METH_VARARGS, "Pack a curve context."},
    {"table", py_table, METH_VARARGS, "The comb table of a point, or None."},
    {"verify", py_verify, METH_VARARGS, "Check u G + v Q against the x candidates."},
    {"mul", py_mul, METH_VARARGS, "One field multiplication (self-check)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_gostc", NULL, -1, methods};

PyMODINIT_FUNC PyInit__gostc(void) { return PyModule_Create(&module); }
