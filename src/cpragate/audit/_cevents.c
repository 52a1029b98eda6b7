/* cpragate.audit._cevents: the audit writer's event rows (canonical body, chain hash, row) in C.
 *
 * Why native: compiled Python paid per event ~30k instructions besides the chain's SHA-256:
 * per field a cache lookup for the JSON of a string, a call and a bytes object; round(t, 3)
 * (which formats and parses the number), orjson calls for the nested objects and the
 * floats, hashlib's EVP contexts (bench/AUDIT_RESULTS.md, session 12). Here the body is
 * written into one reused buffer, each value escaped or formatted in place, behind the
 * chain hash's prefix, and hashed in a context on the stack.
 *
 * Contract (the pure-Python reference is cpragate.audit.events._build_rows_py, which the
 * tests compare with this on random and odd records): build_rows(todo, cache, instance,
 * prev, seq, row_type) returns exactly the rows _build_rows_py returns, or raises what it
 * raises. An event this code does not take in its common shape (a record that is not a
 * list of the usual types, a value it would have to call out for, a string with a lone
 * surrogate...) is built by _build_rows_py itself (setup()'s ``slow``), alone, with the
 * chain carried on: so every odd case keeps the Python's bytes and exceptions.
 *
 * Values are written as orjson writes them: strings with '"', '\\' and the control
 * characters escaped (\b \t \n \f \r, else \u00xx), the rest UTF-8 as it is; integers
 * within 64 bits in decimal; a float that is a whole number of thousandths (timestamps,
 * durations) as its shortest decimal (see put_float); anything else by orjson.dumps itself
 * (setup()'s ``dumps``); nested objects with their keys sorted by UTF-8 bytes, as orjson's
 * OPT_SORT_KEYS (code point order).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define MAX_LIST 64 /* events.py _MAX_LIST */
#define MAX_DEPTH 32 /* nested objects written here; deeper ones are left to the Python */
#define SLOW 1       /* "not in the common shape": the event is built by the Python twin */

static PyObject *g_dumps;     /* orjson.dumps */
static PyObject *g_sha256;    /* hashlib.sha256 */
static PyObject *g_hexdigest; /* its objects' hexdigest (an unbound method) */
static PyObject *g_slow;      /* events._build_rows_py */
/* OpenSSL's SHA256_Init/Update/Final, from the libcrypto hashlib's _hashlib uses (events.py
 * finds them), or NULL: then g_sha256 and g_hexdigest. hashlib makes, copies and frees EVP
 * contexts per hash and digest (~6k instructions a row besides the hashing; the one-shot
 * SHA256() fetches the algorithm per call); these hash in a context on the stack, with the
 * same CPU code (SHA-NI where the CPU has it). */
typedef int (*sha_init_fn)(void *ctx);
typedef int (*sha_update_fn)(void *ctx, const void *data, size_t n);
typedef int (*sha_final_fn)(unsigned char *md, void *ctx);
static sha_init_fn g_sha_init;
static sha_update_fn g_sha_update;
static sha_final_fn g_sha_final;
#define SHA_CTX_ROOM 256 /* SHA256_CTX is 112 bytes; room to spare, aligned below */
static PyObject *s_interrupted, *s_unknown, *s_allow, *s_deny, *s_error, *s_denied, *s_unresolved, *s_pii;

/* ---- a growable byte buffer, reused from event to event -------------------------------- */

typedef struct {
    char *p;
    Py_ssize_t len, cap;
} Buf;


static int grow(Buf *b, Py_ssize_t need) {
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + need) {
        cap *= 2;
    }
    char *p = PyMem_Realloc(b->p, (size_t)cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

#define RESERVE(b, n) (((b)->len + (n) <= (b)->cap) ? 0 : grow((b), (n)))

static inline int put(Buf *b, const char *s, Py_ssize_t n) {
    if (RESERVE(b, n) < 0) {
        return -1;
    }
    memcpy(b->p + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

#define PUTS(b, lit) put((b), (lit), (Py_ssize_t)(sizeof(lit) - 1))

/* ---- strings ------------------------------------------------------------------------------- */

/* What escaping a byte below 0x80 takes: 0 none, 1 a short escape, 2 \u00xx. */
static unsigned char ESC[128];
static char SHORT[128];
static const char HEX[] = "0123456789abcdef";

/* The UTF-8 of at most ``limit`` code points of ``s`` (an exact str), JSON-escaped when
 * ``json`` (without the quotes). SLOW for a lone surrogate (orjson refuses those). */
static int put_chars(Buf *b, PyObject *s, Py_ssize_t limit, int json) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (limit >= 0 && n > limit) {
        n = limit;
    }
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    if (PyUnicode_IS_ASCII(s)) { /* the usual string: copied as it is unless it needs escapes */
        const Py_UCS1 *u = data;
        Py_ssize_t i = 0;
        if (json) {
            while (i < n && !ESC[u[i]]) {
                i++;
            }
        } else {
            i = n;
        }
        if (i == n) {
            return put(b, (const char *)u, n);
        }
    }
    /* at most 6 bytes out per code point (\u00xx), 4 for UTF-8 */
    if (RESERVE(b, 6 * n) < 0) {
        return -1;
    }
    char *o = b->p + b->len;
    if (kind == PyUnicode_1BYTE_KIND) {
        const Py_UCS1 *u = data;
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_UCS1 c = u[i];
            if (c < 0x80) {
                if (json && ESC[c]) {
                    *o++ = '\\';
                    if (ESC[c] == 1) {
                        *o++ = SHORT[c];
                    } else {
                        *o++ = 'u'; *o++ = '0'; *o++ = '0'; *o++ = HEX[c >> 4]; *o++ = HEX[c & 15];
                    }
                } else {
                    *o++ = (char)c;
                }
            } else {
                *o++ = (char)(0xC0 | (c >> 6));
                *o++ = (char)(0x80 | (c & 0x3F));
            }
        }
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (c < 0x80) {
                if (json && ESC[c]) {
                    *o++ = '\\';
                    if (ESC[c] == 1) {
                        *o++ = SHORT[c];
                    } else {
                        *o++ = 'u'; *o++ = '0'; *o++ = '0'; *o++ = HEX[c >> 4]; *o++ = HEX[c & 15];
                    }
                } else {
                    *o++ = (char)c;
                }
            } else if (c < 0x800) {
                *o++ = (char)(0xC0 | (c >> 6));
                *o++ = (char)(0x80 | (c & 0x3F));
            } else if (c < 0x10000) {
                if (c >= 0xD800 && c <= 0xDFFF) {
                    return SLOW;
                }
                *o++ = (char)(0xE0 | (c >> 12));
                *o++ = (char)(0x80 | ((c >> 6) & 0x3F));
                *o++ = (char)(0x80 | (c & 0x3F));
            } else {
                *o++ = (char)(0xF0 | (c >> 18));
                *o++ = (char)(0x80 | ((c >> 12) & 0x3F));
                *o++ = (char)(0x80 | ((c >> 6) & 0x3F));
                *o++ = (char)(0x80 | (c & 0x3F));
            }
        }
    }
    b->len = o - b->p;
    return 0;
}

/* An ASCII str needing no escape (the usual one), quoted, with ``tail`` after it; else 1. */
static inline int put_plain(Buf *b, PyObject *s, const char *tail, Py_ssize_t ntail) {
    if (!PyUnicode_IS_ASCII(s)) {
        return 1;
    }
    const Py_UCS1 *u = PyUnicode_1BYTE_DATA(s);
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (ESC[u[i]]) {
            return 1;
        }
    }
    if (RESERVE(b, n + 2 + ntail) < 0) {
        return -1;
    }
    char *o = b->p + b->len;
    *o++ = '"';
    memcpy(o, u, (size_t)n);
    o += n;
    *o++ = '"';
    memcpy(o, tail, (size_t)ntail);
    b->len += n + 2 + ntail;
    return 0;
}

/* A JSON string (an exact str). */
static int put_str(Buf *b, PyObject *s) {
    int r = put_plain(b, s, "", 0);
    if (r <= 0) {
        return r;
    }
    if (PUTS(b, "\"") < 0) {
        return -1;
    }
    if ((r = put_chars(b, s, -1, 1)) != 0) {
        return r;
    }
    return PUTS(b, "\"");
}

/* A field ``str if isinstance(v, str) else None``: its JSON, SLOW for a str subclass. */
static int put_opt_str(Buf *b, PyObject *v) {
    if (PyUnicode_CheckExact(v)) {
        return put_str(b, v);
    }
    if (PyUnicode_Check(v)) {
        return SLOW;
    }
    return PUTS(b, "null");
}

/* The field itself, as put_opt_str judges it (a new reference to v, or to None). */
static PyObject *opt_str(PyObject *v) {
    return Py_NewRef(PyUnicode_CheckExact(v) ? v : Py_None);
}

static inline int str_eq(PyObject *a, PyObject *b) {
    if (a == b) {
        return 1;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(a);
    return n == PyUnicode_GET_LENGTH(b) && PyUnicode_KIND(a) == PyUnicode_KIND(b) &&
           memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)(n * PyUnicode_KIND(a))) == 0;
}

/* ---- numbers ------------------------------------------------------------------------------- */

/* Decimal digits of u before ``end`` (snprintf costs ~700 instructions a number). */
static inline char *digits(char *end, unsigned long long u) {
    do {
        *--end = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    return end;
}

static int put_ll(Buf *b, long long v) {
    char tmp[24];
    char *e = tmp + sizeof tmp;
    char *o = digits(e, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
    if (v < 0) {
        *--o = '-';
    }
    return put(b, o, e - o);
}

/* Whether orjson can write ``v`` without running any Python code: None, bool and exact
 * int, float and str, in exact lists, tuples and dicts with exact str keys. Anything else
 * (a subclass, an Enum, a datetime with a tzinfo, a dataclass ...) may call back into
 * Python, which could change or free what this module holds borrowed: such an event is
 * built by the Python twin instead (SLOW). */
static int plain(PyObject *v, int depth) {
    if (v == Py_None || v == Py_True || v == Py_False || PyLong_CheckExact(v) || PyFloat_CheckExact(v) ||
        PyUnicode_CheckExact(v)) {
        return 1;
    }
    if (depth > MAX_DEPTH) {
        return 0;
    }
    if (PyList_CheckExact(v) || PyTuple_CheckExact(v)) {
        Py_ssize_t n = PySequence_Fast_GET_SIZE(v);
        PyObject **items = PySequence_Fast_ITEMS(v);
        for (Py_ssize_t i = 0; i < n; i++) {
            if (!plain(items[i], depth + 1)) {
                return 0;
            }
        }
        return 1;
    }
    if (PyDict_CheckExact(v)) {
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(v, &pos, &key, &value)) {
            if (!PyUnicode_CheckExact(key) || !plain(value, depth + 1)) {
                return 0;
            }
        }
        return 1;
    }
    return 0;
}

/* orjson.dumps(v) appended, for a plain value only (see plain()); SLOW when it is not plain
 * or orjson raises (the Python twin then writes or raises it, from the same value). */
static int put_dumps(Buf *b, PyObject *v) {
    if (!plain(v, 0)) {
        return SLOW;
    }
    PyObject *out = PyObject_CallOneArg(g_dumps, v);
    if (out == NULL) {
        if (PyErr_ExceptionMatches(PyExc_MemoryError)) {
            return -1;
        }
        PyErr_Clear();
        return SLOW;
    }
    int r = PyBytes_Check(out) ? put(b, PyBytes_AS_STRING(out), PyBytes_GET_SIZE(out)) : SLOW;
    Py_DECREF(out);
    return r;
}

/* A whole number k of thousandths (|k| < 10**15) as a decimal: "1767225600.123", "1.2",
 * "0.0". */
static int put_thousandths(Buf *b, long long k, int negative) {
    char tmp[40];
    char *e = tmp + sizeof tmp, *o = e;
    unsigned long long u = (unsigned long long)(k < 0 ? -k : k);
    unsigned frac = (unsigned)(u % 1000);
    u /= 1000;
    /* the fraction without its trailing zeros, at least one digit */
    char f[3] = {(char)('0' + frac / 100), (char)('0' + frac / 10 % 10), (char)('0' + frac % 10)};
    int nf = 3;
    while (nf > 1 && f[nf - 1] == '0') {
        nf--;
    }
    for (int i = nf - 1; i >= 0; i--) {
        *--o = f[i];
    }
    *--o = '.';
    o = digits(o, u);
    if (negative) {
        *--o = '-';
    }
    return put(b, o, e - o);
}

/* orjson's JSON of a float. A finite x within ±10**12 that is the double nearest to a whole
 * number k of thousandths (k / 1000.0 == x: IEEE division is correctly rounded) is written
 * as that decimal: it has at most 15 significant digits, and two decimals of at most 15
 * digits never round to the same double, so no shorter decimal gives x back, which is what
 * orjson's shortest representation writes (plain, not exponent, in this range). Others by
 * orjson itself. */
static int put_float(Buf *b, PyObject *obj, double x) {
    if (x == 0.0) {
        return signbit(x) ? PUTS(b, "-0.0") : PUTS(b, "0.0");
    }
    if (x > -1e12 && x < 1e12) {
        double p = x * 1000.0;
        long long k = llrint(p);
        if ((double)k / 1000.0 == x) {
            return put_thousandths(b, k, x < 0);
        }
    }
    if (!isfinite(x)) {
        return PUTS(b, "null");
    }
    if (obj != NULL) {
        return put_dumps(b, obj);
    }
    PyObject *f = PyFloat_FromDouble(x);
    if (f == NULL) {
        return -1;
    }
    int r = put_dumps(b, f);
    Py_DECREF(f);
    return r;
}

/* An exact int as orjson writes it (decimal within its 64-bit range; beyond, orjson's
 * error, so SLOW). */
static int put_int(Buf *b, PyObject *v) {
#if PY_VERSION_HEX < 0x030C0000 /* 3.12 changed the layout: there, the call below */
    Py_ssize_t size = Py_SIZE(v); /* up to 3.11 an int is a signed count of 30-bit digits */
    if (size >= -1 && size <= 1) {
        long long x = size ? (long long)((PyLongObject *)v)->ob_digit[0] : 0;
        return put_ll(b, size < 0 ? -x : x);
    }
#endif
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow == 0) {
        if (x == -1 && PyErr_Occurred()) {
            return -1;
        }
        return put_ll(b, x);
    }
    if (overflow > 0) {
        unsigned long long u = PyLong_AsUnsignedLongLong(v);
        if (u == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            return SLOW;
        }
        char tmp[24];
        char *e = tmp + sizeof tmp, *o = digits(e, u);
        return put(b, o, e - o);
    }
    return SLOW;
}

/* _jv: any value of a record, as orjson writes it without sorting. */
static int put_value(Buf *b, PyObject *v) {
    if (v == Py_None) {
        return PUTS(b, "null");
    }
    if (PyLong_CheckExact(v)) {
        return put_int(b, v);
    }
    if (PyUnicode_CheckExact(v)) {
        return put_str(b, v);
    }
    if (PyFloat_CheckExact(v)) {
        return put_float(b, v, PyFloat_AS_DOUBLE(v));
    }
    if (v == Py_True) {
        return PUTS(b, "true");
    }
    if (v == Py_False) {
        return PUTS(b, "false");
    }
    return put_dumps(b, v);
}

/* ---- nested objects with sorted keys (pii, checks) --------------------------------------- */

typedef struct {
    const char *k; /* the key's UTF-8 (its own bytes, or in ``keys``) */
    Py_ssize_t n;
    PyObject *key, *value;
} Item;

static int put_sorted(Buf *b, Buf *keys, PyObject *v, int depth);

static int key_cmp(const Item *a, const Item *c) {
    Py_ssize_t n = a->n < c->n ? a->n : c->n;
    int r = memcmp(a->k, c->k, (size_t)n);
    return r ? r : (a->n < c->n ? -1 : a->n > c->n);
}


/* A dict's items (``skip``: a key left out, "pii" for checks) as orjson's sorted object
 * (``keys``: scratch for the UTF-8 of keys that are not ASCII). */
static int put_sorted_dict(Buf *b, Buf *keys, PyObject *d, PyObject *skip, int depth) {
    Py_ssize_t n = PyDict_GET_SIZE(d), pos = 0, m = 0;
    Item stack[16];
    Item *items = n <= 16 ? stack : PyMem_Malloc(sizeof(Item) * (size_t)n);
    if (items == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    PyObject *key, *value;
    Py_ssize_t keys0 = keys->len;
    int r = 0;
    while (PyDict_Next(d, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key)) {
            r = SLOW; /* orjson: "Dict key must be str" (or a subclass: the Python decides) */
            goto done;
        }
        if (skip != NULL && str_eq(key, skip)) {
            continue;
        }
        if (PyUnicode_IS_ASCII(key)) { /* its own bytes are its UTF-8 */
            items[m].k = PyUnicode_DATA(key);
            items[m].n = -1 - PyUnicode_GET_LENGTH(key); /* < 0: a pointer, not an offset */
        } else {
            Py_ssize_t at = keys->len;
            if ((r = put_chars(keys, key, -1, 0)) != 0) {
                goto done;
            }
            items[m].k = (const char *)(intptr_t)at; /* an offset until the buffer stops moving */
            items[m].n = keys->len - at;
        }
        items[m].key = key;
        items[m].value = value;
        m++;
    }
    for (Py_ssize_t i = 0; i < m; i++) {
        if (items[i].n < 0) {
            items[i].n = -1 - items[i].n;
        } else {
            items[i].k = keys->p + (intptr_t)items[i].k;
        }
    }
    for (Py_ssize_t i = 1; i < m; i++) { /* insertion sort: a handful of keys */
        Item t = items[i];
        Py_ssize_t j = i;
        while (j > 0 && key_cmp(&items[j - 1], &t) > 0) {
            items[j] = items[j - 1];
            j--;
        }
        items[j] = t;
    }
    if ((r = PUTS(b, "{")) != 0) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < m; i++) {
        if (i && (r = PUTS(b, ",")) != 0) {
            goto done;
        }
        r = put_plain(b, items[i].key, ":", 1);
        if (r > 0 && ((r = put_str(b, items[i].key)) == 0)) {
            r = PUTS(b, ":");
        }
        if (r != 0) {
            goto done;
        }
        PyObject *v = items[i].value;
        if (PyLong_CheckExact(v)) { /* the usual value: a count */
            r = put_int(b, v);
        } else {
            r = put_sorted(b, keys, v, depth + 1);
        }
        if (r != 0) {
            goto done;
        }
    }
    r = PUTS(b, "}");
done:
    keys->len = keys0;
    if (items != stack) {
        PyMem_Free(items);
    }
    return r;
}

/* orjson.dumps(v, option=OPT_SORT_KEYS) appended. The dict's items are borrowed: nothing
 * here runs Python code that could change them (keys are exact str, values are written,
 * not called, except by orjson, on plain values only: see plain()). */
static int put_sorted(Buf *b, Buf *keys, PyObject *v, int depth) {
    if (depth > MAX_DEPTH) {
        return SLOW;
    }
    if (PyDict_CheckExact(v)) {
        return put_sorted_dict(b, keys, v, NULL, depth);
    }
    if (PyList_CheckExact(v) || PyTuple_CheckExact(v)) {
        Py_ssize_t n = PySequence_Fast_GET_SIZE(v);
        PyObject **items = PySequence_Fast_ITEMS(v);
        int r;
        if ((r = PUTS(b, "[")) != 0) {
            return r;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            if (i && (r = PUTS(b, ",")) != 0) {
                return r;
            }
            if ((r = put_sorted(b, keys, items[i], depth + 1)) != 0) {
                return r;
            }
        }
        return PUTS(b, "]");
    }
    if (v == Py_None || PyLong_CheckExact(v) || PyUnicode_CheckExact(v) || PyFloat_CheckExact(v) || v == Py_True ||
        v == Py_False) {
        return put_value(b, v);
    }
    return SLOW; /* not plain (plain() would refuse it): the Python twin writes it */
}

/* ---- the event ------------------------------------------------------------------------------ */

/* iso(t)'s last second, formatted (events.py iso; only 0 <= t < year 10000 here). */
static long long iso_sec = -1;
static char iso_prefix[32];

static int put_iso(Buf *b, double t) {
    long long sec = (long long)t;
    int ms = (int)((t - (double)sec) * 1000.0);
    if (ms < 0 || ms >= 1000) {
        return SLOW;
    }
    if (sec != iso_sec) {
        time_t tt = (time_t)sec;
        struct tm tm;
        if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999) {
            return SLOW;
        }
        snprintf(iso_prefix, sizeof iso_prefix, "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        iso_sec = sec;
    }
    char tail[6] = {(char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z', '"', 0};
    if (PUTS(b, "\"") < 0 || put(b, iso_prefix, 20) < 0) {
        return -1;
    }
    return put(b, tail, 5);
}

/* round(t, 3) for 0 <= t < 2**43 / 1000 (the float and k, its thousandths), or SLOW near a
 * tie: t * 1000 is then off the exact product by at most 2**-10, so a product at least
 * 2**-9 from the halfway point rounds as the exact one (half to even: round()'s). */
static int round3(double t, double *out, long long *k) {
    double p = t * 1000.0;
    double r = nearbyint(p);
    double d = p - r;
    if (d > 0.5 - 0x1p-9 || d < -(0.5 - 0x1p-9)) {
        return SLOW;
    }
    *k = (long long)r;
    *out = r / 1000.0;
    return 0;
}

/* decision_of(outcome, decisions) for proper decisions (three exact str each): the
 * decision (borrowed) and the rule's parts (borrowed; f NULL: "", r NULL or empty: f alone). */
static void decision_of(PyObject *outcome, PyObject *decisions, PyObject **decision, PyObject **f, PyObject **r) {
    Py_ssize_t n = PyList_GET_SIZE(decisions);
    *f = *r = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *d = PyList_GET_ITEM(decisions, i);
        if (str_eq(PyList_GET_ITEM(d, 1), s_deny)) {
            *decision = str_eq(outcome, s_error) ? s_error : s_deny;
            *f = PyList_GET_ITEM(d, 0);
            *r = PyList_GET_ITEM(d, 2);
            return;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *d = PyList_GET_ITEM(decisions, i);
        if (str_eq(PyList_GET_ITEM(d, 1), s_error)) {
            *decision = s_error;
            *f = PyList_GET_ITEM(d, 0);
            *r = PyList_GET_ITEM(d, 2);
            return;
        }
    }
    if (str_eq(outcome, s_denied)) {
        *decision = s_deny;
    } else if (str_eq(outcome, s_error)) {
        *decision = s_error;
    } else {
        *decision = s_allow;
    }
}

/* ``lookup``'s pseudonym among the event's subjects (subj: its lookups, pseud: theirs), or
 * NULL: events.py's ``pseud.get(lk)``. */
static PyObject *pseud_of(PyObject *lk, PyObject *subj, PyObject **pseud) {
    Py_ssize_t n = PyList_GET_SIZE(subj);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (str_eq(PyList_GET_ITEM(subj, i), lk)) {
            return pseud[i];
        }
    }
    return NULL;
}

/* Replace every "{name}" in ``path`` by tok (str.replace: left to right, not overlapping).
 * UTF-8 substrings match exactly where their code points do. */

static int path_replace(Buf *path, Buf *pat, Buf *rep, Buf *tmp, PyObject *name, PyObject *tok, PyObject *lk) {
    int r;
    pat->len = rep->len = tmp->len = 0;
    if ((r = PUTS(pat, "{")) != 0 || (r = put_chars(pat, name, -1, 0)) != 0 || (r = PUTS(pat, "}")) != 0) {
        return r;
    }
    const char *s = path->p;
    Py_ssize_t n = path->len, i = 0, m = pat->len;
    const char *hit = n >= m ? memmem(s, (size_t)n, pat->p, (size_t)m) : NULL;
    if (hit == NULL) {
        return 0;
    }
    if (tok != NULL) {
        r = put_chars(rep, tok, -1, 0);
    } else if ((r = PUTS(rep, "~")) == 0) { /* param_token(lk): "~" + lk[:16] */
        r = put_chars(rep, lk, 16, 0);
    }
    if (r != 0) {
        return r;
    }
    while (hit != NULL) {
        Py_ssize_t at = hit - s;
        if ((r = put(tmp, s + i, at - i)) != 0 || (r = put(tmp, rep->p, rep->len)) != 0) {
            return r;
        }
        i = at + m;
        hit = n - i >= m ? memmem(s + i, (size_t)(n - i), pat->p, (size_t)m) : NULL;
    }
    if ((r = put(tmp, s + i, n - i)) != 0) {
        return r;
    }
    Buf t = *path; /* the result becomes the path; the old path's memory the next scratch */
    *path = *tmp;
    *tmp = t;
    return 0;
}

/* ``path``'s UTF-8 as a JSON string. */
static int put_path(Buf *b, const Buf *path) {
    if (RESERVE(b, 6 * path->len + 2) < 0) {
        return -1;
    }
    char *o = b->p + b->len;
    *o++ = '"';
    for (Py_ssize_t i = 0; i < path->len; i++) {
        unsigned char c = (unsigned char)path->p[i];
        if (c < 0x80 && ESC[c]) {
            *o++ = '\\';
            if (ESC[c] == 1) {
                *o++ = SHORT[c];
            } else {
                *o++ = 'u'; *o++ = '0'; *o++ = '0'; *o++ = HEX[c >> 4]; *o++ = HEX[c & 15];
            }
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    b->len = o - b->p;
    return 0;
}

/* The SHA-256 of data as hexdigest() writes it (a new str). */
static PyObject *hex_sha256(const char *data, Py_ssize_t n) {
    if (g_sha_init != NULL) {
        _Alignas(16) unsigned char ctx[SHA_CTX_ROOM];
        unsigned char md[32];
        if (g_sha_init(ctx) != 1 || g_sha_update(ctx, data, (size_t)n) != 1 || g_sha_final(md, ctx) != 1) {
            PyErr_SetString(PyExc_RuntimeError, "SHA256 failed");
            return NULL;
        }
        PyObject *h = PyUnicode_New(64, 127);
        if (h == NULL) {
            return NULL;
        }
        Py_UCS1 *o = PyUnicode_1BYTE_DATA(h);
        for (int i = 0; i < 32; i++) {
            o[2 * i] = (Py_UCS1)HEX[md[i] >> 4];
            o[2 * i + 1] = (Py_UCS1)HEX[md[i] & 15];
        }
        return h;
    }
    PyObject *hin = PyBytes_FromStringAndSize(data, n);
    PyObject *hobj = hin ? PyObject_CallOneArg(g_sha256, hin) : NULL;
    Py_XDECREF(hin);
    PyObject *h = hobj ? PyObject_CallOneArg(g_hexdigest, hobj) : NULL;
    Py_XDECREF(hobj);
    return h;
}

/* A proper decision (events.py _proper): a list of three exact str. */
static inline int proper(PyObject *d) {
    return PyList_CheckExact(d) && PyList_GET_SIZE(d) == 3 && PyUnicode_CheckExact(PyList_GET_ITEM(d, 0)) &&
           PyUnicode_CheckExact(PyList_GET_ITEM(d, 1)) && PyUnicode_CheckExact(PyList_GET_ITEM(d, 2));
}

/* One build_rows call's state. The buffers are the call's own, not the module's: the
 * hashlib fallback releases the GIL for long inputs, and the Python twin runs Python code
 * between events, so another thread may build rows meanwhile. */
typedef struct {
    PyObject *instance, *cache, *row_type;
    Buf inst;      /* "\n" + the instance's UTF-8 + "\n" */
    Buf inst_json; /* its JSON */
    Buf buf;       /* the hash input: prefix + body */
    Buf path;      /* a path with its parameters filled in (UTF-8) */
    Buf pat, rep, tmp, keys;
} Batch;

static void batch_free(Batch *bt) {
    Buf *bufs[] = {&bt->inst, &bt->inst_json, &bt->buf, &bt->path, &bt->pat, &bt->rep, &bt->tmp, &bt->keys};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        PyMem_Free(bufs[i]->p);
        bufs[i]->p = NULL;
    }
}

static PyObject *new_row(PyObject *row_type, PyObject **fields) {
    PyTypeObject *tp = (PyTypeObject *)row_type;
    PyObject *row = tp == &PyTuple_Type ? PyTuple_New(13) : tp->tp_alloc(tp, 13);
    if (row == NULL) {
        for (int i = 0; i < 13; i++) {
            Py_DECREF(fields[i]);
        }
        return NULL;
    }
    for (int i = 0; i < 13; i++) {
        PyTuple_SET_ITEM(row, i, fields[i]); /* the references are the row's */
    }
    return row;
}

/* (The subject cache is the writer's own: exact str keys only, so its lookups run no Python
 * code. The hashlib fallback of hex_sha256, used only where OpenSSL's functions are not,
 * calls Python and may release the GIL for long inputs; the other threads never touch a
 * handed record, whose items are read again after it.) */

/* One event in its common shape: its row (a new reference) in *row, or SLOW (nothing made,
 * no error set), or -1 (an error set). ``prev`` is the chain's head (an ASCII str). The
 * record lists are held by ``item`` (referenced by the caller), and records are never
 * changed once handed over (storage/audit_spool.py). No Python code of ours runs here before
 * the row is made: orjson is called on plain values only (plain()), every other value makes
 * the event SLOW. What can still run is outside the records' reach: an allocation may run
 * the cyclic GC (finalizers of unrelated garbage), and the hashlib fallback releases the
 * GIL for long inputs (the other threads never touch a handed record). */
static int event_row(Batch *bt, PyObject *item, PyObject *prev, long long seq, PyObject **row) {
    if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 3) {
        return SLOW;
    }
    PyObject *bkey = PyTuple_GET_ITEM(item, 0), *begin = PyTuple_GET_ITEM(item, 1), *c = PyTuple_GET_ITEM(item, 2);
    if (!PyList_CheckExact(begin) || PyList_GET_SIZE(begin) < 13) {
        return SLOW; /* no begin (an orphan completion), or an odd one */
    }
    if (c == Py_None) {
        c = NULL;
    } else if (!PyList_CheckExact(c) || PyList_GET_SIZE(c) < 12) {
        return SLOW;
    }
    PyObject **b = ((PyListObject *)begin)->ob_item;
    PyObject **cv = c ? ((PyListObject *)c)->ob_item : NULL;
    int r;

    /* subjects: the begin's list of str (the completion adds none) */
    PyObject *subj = b[7];
    if (!PyList_CheckExact(subj) || PyList_GET_SIZE(subj) > MAX_LIST) {
        return SLOW;
    }
    if (c && cv[8] != Py_None && !(PyList_CheckExact(cv[8]) && PyList_GET_SIZE(cv[8]) == 0)) {
        return SLOW;
    }
    Py_ssize_t ns = PyList_GET_SIZE(subj);
    for (Py_ssize_t i = 0; i < ns; i++) {
        if (!PyUnicode_CheckExact(PyList_GET_ITEM(subj, i))) {
            return SLOW;
        }
    }

    /* template */
    PyObject *template = b[4];
    if (!PyUnicode_CheckExact(template)) {
        if (PyUnicode_Check(template)) {
            return SLOW;
        }
        template = Py_None;
    }
    PyObject *ps = b[6];
    if (template != Py_None) {
        if (!PyList_CheckExact(ps) || PyList_GET_SIZE(ps) > MAX_LIST) {
            return SLOW;
        }
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(ps); i++) {
            PyObject *pair = PyList_GET_ITEM(ps, i);
            if (!PyList_CheckExact(pair) || PyList_GET_SIZE(pair) < 2 ||
                !PyUnicode_CheckExact(PyList_GET_ITEM(pair, 0)) || !PyUnicode_CheckExact(PyList_GET_ITEM(pair, 1))) {
                return SLOW;
            }
        }
    }

    /* time */
    double t;
    PyObject *bt1 = b[1];
    if (PyFloat_CheckExact(bt1)) {
        t = PyFloat_AS_DOUBLE(bt1);
    } else if (PyLong_Check(bt1) || PyFloat_Check(bt1)) {
        return SLOW; /* an int (float() of it), a bool, a subclass */
    } else if (c && PyFloat_CheckExact(cv[2])) {
        t = PyFloat_AS_DOUBLE(cv[2]);
    } else if (c && (PyLong_Check(cv[2]) || PyFloat_Check(cv[2]))) {
        return SLOW;
    } else {
        t = 0.0;
    }
    if (!(t >= 0.0 && t < 8.0e9) || signbit(t)) {
        return SLOW;
    }
    double tr;
    long long tk;
    if (round3(t, &tr, &tk) != 0) {
        return SLOW;
    }

    /* the completion's fields */
    PyObject *outcome, *status = Py_None, *error = Py_None, *decisions = NULL, *ann = NULL;
    PyObject *decision = s_allow, *rule_f = NULL, *rule_r = NULL;
    if (c) {
        outcome = cv[4];
        if (PyUnicode_CheckExact(outcome)) {
            if (PyUnicode_GET_LENGTH(outcome) == 0) {
                outcome = s_unknown;
            }
        } else if (PyUnicode_Check(outcome)) {
            return SLOW;
        } else {
            outcome = s_unknown;
        }
        if (PyLong_CheckExact(cv[3])) {
            status = cv[3];
        } else if (PyLong_Check(cv[3])) {
            return SLOW; /* a bool (compiled, the Python's int-typed status makes True 1), a subclass */
        }
        if (PyUnicode_CheckExact(cv[5])) {
            error = cv[5];
        } else if (PyUnicode_Check(cv[5])) {
            return SLOW;
        }
        decisions = cv[6];
        if (decisions == Py_None) {
            decisions = NULL;
        } else if (!PyList_CheckExact(decisions) || PyList_GET_SIZE(decisions) > MAX_LIST) {
            return SLOW;
        } else {
            for (Py_ssize_t i = 0; i < PyList_GET_SIZE(decisions); i++) {
                if (!proper(PyList_GET_ITEM(decisions, i))) {
                    return SLOW;
                }
            }
        }
        ann = cv[7];
        if (!PyDict_CheckExact(ann)) {
            if (PyDict_Check(ann)) {
                return SLOW;
            }
            ann = NULL;
        }
        if (str_eq(outcome, s_interrupted)) {
            decision = s_allow; /* rule "" */
        } else if (decisions != NULL) {
            decision_of(outcome, decisions, &decision, &rule_f, &rule_r);
        } else {
            decision = str_eq(outcome, s_denied) ? s_deny : str_eq(outcome, s_error) ? s_error : s_allow;
        }
    } else {
        outcome = s_interrupted;
    }
    int personal;
    if (b[12] == Py_True) {
        personal = 1;
    } else if (b[12] == Py_False || b[12] == Py_None) {
        personal = 0;
    } else {
        return SLOW;
    }

    /* the subjects resolved (lookup -> pseudonym through the cache), held by a new tuple:
     * the first object made, before anything could run and change the cache */
    PyObject *subjects = PyTuple_New(ns);
    if (subjects == NULL) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < ns; i++) {
        PyObject *hit = PyDict_GetItemWithError(bt->cache, PyList_GET_ITEM(subj, i));
        PyObject *p;
        if (hit == NULL) {
            if (PyErr_Occurred()) {
                Py_DECREF(subjects);
                return -1;
            }
            p = s_unresolved;
        } else if (PyTuple_CheckExact(hit) && PyTuple_GET_SIZE(hit) >= 1 &&
                   PyUnicode_CheckExact(PyTuple_GET_ITEM(hit, 0))) {
            p = PyTuple_GET_ITEM(hit, 0);
        } else {
            Py_DECREF(subjects);
            return SLOW;
        }
        PyTuple_SET_ITEM(subjects, i, Py_NewRef(p));
    }
    PyObject **pseud = ((PyTupleObject *)subjects)->ob_item;

#define TRY(x) if ((r = (x)) != 0) goto out
    /* the path: the template with its parameters filled in (a subject's pseudonym, else
     * the parameter's token) */
    if (template != Py_None) {
        bt->path.len = 0;
        TRY(put_chars(&bt->path, template, -1, 0));
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(ps); i++) {
            PyObject *pair = PyList_GET_ITEM(ps, i);
            PyObject *name = PyList_GET_ITEM(pair, 0), *lk = PyList_GET_ITEM(pair, 1);
            PyObject *tok = pseud_of(lk, subj, pseud);
            if (tok != NULL && PyUnicode_GET_LENGTH(tok) == 0) {
                tok = NULL; /* `pseud.get(lk) or param_token(lk)` */
            }
            TRY(path_replace(&bt->path, &bt->pat, &bt->rep, &bt->tmp, name, tok, lk));
        }
    }

    /* the hash input: prev "\n" instance "\n" seq "\n", then the body */
    Buf *o = &bt->buf;
    o->len = 0;
    TRY(put(o, PyUnicode_DATA(prev), PyUnicode_GET_LENGTH(prev)));
    TRY(put(o, bt->inst.p, bt->inst.len));
    TRY(put_ll(o, seq));
    TRY(PUTS(o, "\n"));
    Py_ssize_t body_at = o->len;
    TRY(PUTS(o, "{\"auth\":"));
    TRY(put_opt_str(o, b[9]));
    TRY(PUTS(o, ",\"bytes_in\":"));
    TRY(c ? put_value(o, cv[9]) : PUTS(o, "null"));
    TRY(PUTS(o, ",\"bytes_out\":"));
    TRY(c ? put_value(o, cv[10]) : PUTS(o, "null"));
    TRY(PUTS(o, ",\"checks\":"));
    PyObject *pii = NULL;
    if (ann != NULL) {
        /* "pii" found by walking the keys, not by a hashed lookup: a key that is not an
         * exact str could run its __eq__ (Python code) while we hold the records' items */
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(ann, &pos, &key, &value)) {
            if (!PyUnicode_CheckExact(key)) {
                r = SLOW;
                goto out;
            }
            if (pii == NULL && str_eq(key, s_pii)) {
                pii = value;
            }
        }
        if (PyDict_GET_SIZE(ann) > (pii != NULL)) {
            TRY(put_sorted_dict(o, &bt->keys, ann, s_pii, 0));
        } else {
            TRY(PUTS(o, "null"));
        }
    } else {
        TRY(PUTS(o, "null"));
    }
    TRY(PUTS(o, ",\"client_ip\":"));
    TRY(put_opt_str(o, b[11]));
    TRY(PUTS(o, ",\"consumer\":"));
    TRY(put_opt_str(o, b[8]));
    TRY(PUTS(o, ",\"decision\":"));
    TRY(put_str(o, decision));
    TRY(PUTS(o, ",\"decisions\":["));
    if (decisions != NULL) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(decisions); i++) {
            PyObject *d = PyList_GET_ITEM(decisions, i);
            TRY(i ? PUTS(o, ",[") : PUTS(o, "["));
            TRY(put_str(o, PyList_GET_ITEM(d, 0)));
            TRY(PUTS(o, ","));
            TRY(put_str(o, PyList_GET_ITEM(d, 1)));
            TRY(PUTS(o, ","));
            TRY(put_str(o, PyList_GET_ITEM(d, 2)));
            TRY(PUTS(o, "]"));
        }
    }
    TRY(PUTS(o, "],\"error\":"));
    TRY(error == Py_None ? PUTS(o, "null") : put_str(o, error));
    TRY(PUTS(o, ",\"id\":"));
    TRY(put_opt_str(o, b[2]));
    TRY(PUTS(o, ",\"instance\":"));
    TRY(put(o, bt->inst_json.p, bt->inst_json.len));
    TRY(PUTS(o, ",\"latency_ms\":"));
    TRY(c ? put_value(o, cv[11]) : PUTS(o, "null"));
    TRY(PUTS(o, ",\"method\":"));
    TRY(put_opt_str(o, b[3]));
    TRY(PUTS(o, ",\"outcome\":"));
    TRY(put_str(o, outcome));
    TRY(PUTS(o, ",\"path\":"));
    TRY(template == Py_None ? PUTS(o, "null") : put_path(o, &bt->path));
    TRY(personal ? PUTS(o, ",\"personal\":true,\"pii\":") : PUTS(o, ",\"personal\":false,\"pii\":"));
    TRY(pii == NULL ? PUTS(o, "null") : put_sorted(o, &bt->keys, pii, 0));
    TRY(PUTS(o, ",\"purpose\":"));
    TRY(put_opt_str(o, b[10]));
    TRY(PUTS(o, ",\"route\":"));
    TRY(template == Py_None ? PUTS(o, "null") : put_str(o, template));
    TRY(PUTS(o, ",\"route_name\":"));
    TRY(put_opt_str(o, b[5]));
    TRY(PUTS(o, ",\"rule\":\""));
    if (rule_f != NULL) {
        TRY(put_chars(o, rule_f, -1, 1));
        if (PyUnicode_GET_LENGTH(rule_r)) {
            TRY(PUTS(o, ":"));
            TRY(put_chars(o, rule_r, -1, 1));
        }
    }
    TRY(PUTS(o, "\",\"seq\":"));
    TRY(put_ll(o, seq));
    TRY(PUTS(o, ",\"status\":"));
    TRY(put_value(o, status));
    TRY(PUTS(o, ",\"subjects\":["));
    for (Py_ssize_t i = 0; i < ns; i++) {
        if (i) {
            TRY(PUTS(o, ","));
        }
        TRY(put_str(o, pseud[i]));
    }
    TRY(PUTS(o, "],\"t\":"));
    TRY(tk == 0 ? PUTS(o, "0.0") : put_thousandths(o, tk, 0));
    TRY(PUTS(o, ",\"ts\":"));
    TRY(put_iso(o, t));
    TRY(PUTS(o, ",\"v\":1}"));
#undef TRY

    /* the row: (instance, seq, bkey, ts, consumer, route, decision, outcome, status,
     * subjects, body, prev, hash) */
    {
        PyObject *f[13] = {NULL};
        f[12] = hex_sha256(o->p, o->len);
        if (f[12] == NULL) {
            r = -1;
            goto out;
        }
        if (!PyUnicode_CheckExact(f[12]) || !PyUnicode_IS_ASCII(f[12])) {
            Py_DECREF(f[12]);
            PyErr_SetString(PyExc_TypeError, "hexdigest is not an ASCII str");
            r = -1;
            goto out;
        }
        f[0] = Py_NewRef(bt->instance);
        f[1] = PyLong_FromLongLong(seq);
        f[2] = Py_NewRef(bkey);
        f[3] = PyFloat_FromDouble(tr);
        f[4] = opt_str(b[8]);
        f[5] = Py_NewRef(template);
        f[6] = Py_NewRef(decision);
        f[7] = Py_NewRef(outcome);
        f[8] = Py_NewRef(status);
        f[9] = subjects;
        subjects = NULL; /* the row's */
        f[10] = PyBytes_FromStringAndSize(o->p + body_at, o->len - body_at);
        f[11] = Py_NewRef(prev);
        for (int i = 0; i < 13; i++) {
            if (f[i] == NULL) {
                for (int j = 0; j < 13; j++) {
                    Py_XDECREF(f[j]);
                }
                return -1;
            }
        }
        /* The subjects tuple holds str only and the row atoms only (str, int, float, bytes,
         * None) and that tuple: neither can be part of a cycle, so neither is left for the
         * cyclic GC to walk while the batch waits to be written (it would untrack them at
         * its first pass itself). */
        PyObject_GC_UnTrack(f[9]);
        int atoms = PyLong_CheckExact(bkey);
        *row = new_row(bt->row_type, f);
        if (*row != NULL && atoms && PyObject_GC_IsTracked(*row)) {
            PyObject_GC_UnTrack(*row);
        }
        return *row == NULL ? -1 : 0;
    }
out:
    Py_XDECREF(subjects);
    return r;
}

/* The Python twin on one event: [row] = slow([item], cache, instance, prev, seq, row_type). */
static PyObject *slow_row(Batch *bt, PyObject *item, PyObject *prev, long long seq) {
    PyObject *one = PyList_New(1);
    if (one == NULL) {
        return NULL;
    }
    PyList_SET_ITEM(one, 0, Py_NewRef(item));
    PyObject *s = PyLong_FromLongLong(seq);
    if (s == NULL) {
        Py_DECREF(one);
        return NULL;
    }
    PyObject *args[6] = {one, bt->cache, bt->instance, prev, s, bt->row_type};
    PyObject *rows = PyObject_Vectorcall(g_slow, args, 6, NULL);
    Py_DECREF(one);
    Py_DECREF(s);
    if (rows == NULL) {
        return NULL;
    }
    if (!PyList_CheckExact(rows) || PyList_GET_SIZE(rows) != 1) {
        Py_DECREF(rows);
        PyErr_SetString(PyExc_TypeError, "the Python event builder did not return one row");
        return NULL;
    }
    PyObject *row = Py_NewRef(PyList_GET_ITEM(rows, 0));
    Py_DECREF(rows);
    return row;
}

static PyObject *build_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "build_rows(todo, cache, instance, prev, seq, row_type)");
        return NULL;
    }
    if (g_slow == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_cevents.setup() was not called");
        return NULL;
    }
    PyObject *todo = args[0], *cache = args[1], *instance = args[2], *prev = args[3], *seqo = args[4];
    PyObject *row_type = args[5];
    int ok = PyList_CheckExact(todo) && PyDict_CheckExact(cache) && PyUnicode_CheckExact(instance) &&
             PyUnicode_CheckExact(prev) && PyUnicode_IS_ASCII(prev) && PyLong_CheckExact(seqo) &&
             PyType_Check(row_type) && PyType_IsSubtype((PyTypeObject *)row_type, &PyTuple_Type) &&
             ((PyTypeObject *)row_type)->tp_itemsize == sizeof(PyObject *) &&
             ((PyTypeObject *)row_type)->tp_dictoffset == 0; /* no __dict__: untracking a row is sound */
    long long seq = 0;
    if (ok) {
        int overflow;
        seq = PyLong_AsLongLongAndOverflow(seqo, &overflow);
        if (seq == -1 && PyErr_Occurred()) {
            return NULL;
        }
        ok = overflow == 0 && seq < ((long long)1 << 62) - PyList_GET_SIZE(todo);
    }
    Batch bt = {instance, cache, row_type, {0}, {0}, {0}, {0}, {0}, {0}, {0}, {0}};
    if (ok) {
        int r = PUTS(&bt.inst, "\n");
        if (r == 0) {
            r = put_chars(&bt.inst, instance, -1, 0);
        }
        if (r == 0) {
            r = PUTS(&bt.inst, "\n");
        }
        if (r == 0) {
            r = put_str(&bt.inst_json, instance);
        }
        if (r < 0) {
            batch_free(&bt);
            return NULL;
        }
        ok = r == 0;
    }
    if (!ok) { /* odd arguments: the Python decides everything (and raises what it raises) */
        batch_free(&bt);
        PyObject *a[6] = {todo, cache, instance, prev, seqo, row_type};
        return PyObject_Vectorcall(g_slow, a, 6, NULL);
    }
    Py_ssize_t n = PyList_GET_SIZE(todo);
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        goto fail;
    }
    Py_INCREF(prev);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(todo) && i < n; i++) {
        PyObject *item = Py_NewRef(PyList_GET_ITEM(todo, i));
        PyObject *row = NULL;
        seq += 1;
        int r = event_row(&bt, item, prev, seq, &row);
        if (r == SLOW) {
            row = slow_row(&bt, item, prev, seq - 1);
            r = row == NULL ? -1 : 0;
            if (r == 0 && !(PyTuple_Check(row) && PyTuple_GET_SIZE(row) == 13 &&
                            PyUnicode_CheckExact(PyTuple_GET_ITEM(row, 12)) &&
                            PyUnicode_IS_ASCII(PyTuple_GET_ITEM(row, 12)))) {
                Py_CLEAR(row);
                PyErr_SetString(PyExc_TypeError, "the Python event builder's row has no ASCII hash");
                r = -1;
            }
        }
        Py_DECREF(item);
        if (r != 0 || PyList_Append(out, row) < 0) {
            Py_XDECREF(row);
            Py_DECREF(prev);
            goto fail;
        }
        Py_SETREF(prev, Py_NewRef(PyTuple_GET_ITEM(row, 12)));
        Py_DECREF(row);
    }
    Py_DECREF(prev);
    batch_free(&bt);
    return out;
fail:
    Py_XDECREF(out);
    batch_free(&bt);
    return NULL;
}

/* sqlite_params(rows, instance): events._sqlite_params_py's (events, subjects) parameter
 * lists, None when a row is another instance's, or NotImplemented for rows not as
 * build_rows makes them (the Python twin then decides). One pass, no intermediate list. */
/* sqlite_params on a snapshot of the rows (a tuple: allocations below may run the cyclic
 * GC, and nothing it runs can then change what the two passes walk). */
static PyObject *params_of(PyObject *rows, PyObject *instance) {
    Py_ssize_t n = PyTuple_GET_SIZE(rows), nsubj = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyTuple_GET_ITEM(rows, i);
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != 13 || !PyBytes_CheckExact(PyTuple_GET_ITEM(row, 10))) {
            Py_RETURN_NOTIMPLEMENTED;
        }
        PyObject *inst = PyTuple_GET_ITEM(row, 0), *subs = PyTuple_GET_ITEM(row, 9);
        if (!PyUnicode_CheckExact(inst) || !PyTuple_CheckExact(subs)) {
            Py_RETURN_NOTIMPLEMENTED;
        }
        if (!str_eq(inst, instance)) {
            Py_RETURN_NONE;
        }
        nsubj += PyTuple_GET_SIZE(subs);
    }
    PyObject *ev = PyList_New(11 * n), *sub = PyList_New(3 * nsubj);
    if (ev == NULL || sub == NULL) {
        Py_XDECREF(ev);
        Py_XDECREF(sub);
        return NULL;
    }
    Py_ssize_t at = 0, sat = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyTuple_GET_ITEM(rows, i);
        /* (instance 0, seq 1, bkey 2, ts 3, consumer 4, route 5, decision 6, outcome 7,
         * status 8, subjects 9, body 10, prev 11, hash 12): all but the instance and the
         * subjects, the body as bytearray (the same BLOB; the sqlite3 module binds bytes
         * only after asking for an adapter, ~3k instructions) */
        for (int k = 1; k <= 12; k++) {
            PyObject *v = PyTuple_GET_ITEM(row, k);
            if (k == 9) {
                continue;
            }
            if (k == 10) {
                v = PyByteArray_FromStringAndSize(PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v));
                if (v == NULL) {
                    Py_DECREF(ev);
                    Py_DECREF(sub);
                    return NULL;
                }
            } else {
                Py_INCREF(v);
            }
            PyList_SET_ITEM(ev, at++, v);
        }
        PyObject *subs = PyTuple_GET_ITEM(row, 9);
        for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(subs); j++) {
            PyList_SET_ITEM(sub, sat++, Py_NewRef(PyTuple_GET_ITEM(subs, j)));
            PyList_SET_ITEM(sub, sat++, Py_NewRef(PyTuple_GET_ITEM(row, 1)));
            PyList_SET_ITEM(sub, sat++, Py_NewRef(PyTuple_GET_ITEM(row, 3)));
        }
    }
    PyObject *out = PyTuple_Pack(2, ev, sub);
    Py_DECREF(ev);
    Py_DECREF(sub);
    return out;
}

static PyObject *sqlite_params(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "sqlite_params(rows, instance)");
        return NULL;
    }
    PyObject *rows = args[0], *instance = args[1];
    if (!PyList_CheckExact(rows) || !PyUnicode_CheckExact(instance)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *snap = PyList_AsTuple(rows);
    if (snap == NULL) {
        return NULL;
    }
    PyObject *out = params_of(snap, instance);
    Py_DECREF(snap);
    return out;
}

static PyObject *setup(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "setup(dumps, sha256, hexdigest, slow, init, update, final)");
        return NULL;
    }
    PyObject **slots[4] = {&g_dumps, &g_sha256, &g_hexdigest, &g_slow};
    for (int i = 0; i < 4; i++) {
        Py_XSETREF(*slots[i], Py_NewRef(args[i]));
    }
    /* OpenSSL's functions, if given, only when they hash as hashlib does (empty, one block,
     * several) */
    g_sha_init = NULL;
    g_sha_update = NULL;
    g_sha_final = NULL;
    void *addr[3];
    for (int i = 0; i < 3; i++) {
        addr[i] = PyLong_AsVoidPtr(args[4 + i]);
        if (addr[i] == NULL && PyErr_Occurred()) {
            return NULL;
        }
    }
    if (addr[0] != NULL && addr[1] != NULL && addr[2] != NULL) {
        static const char *probes[] = {"", "abc", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"
                                       "\n\xc3\xa9 a longer input, over two blocks of sixty-four bytes, padded"};
        int same = 1;
        for (size_t i = 0; same && i < sizeof probes / sizeof probes[0]; i++) {
            Py_ssize_t n = (Py_ssize_t)strlen(probes[i]);
            PyObject *want = hex_sha256(probes[i], n);
            if (want == NULL) {
                return NULL;
            }
            g_sha_init = (sha_init_fn)addr[0];
            g_sha_update = (sha_update_fn)addr[1];
            g_sha_final = (sha_final_fn)addr[2];
            PyObject *got = hex_sha256(probes[i], n);
            g_sha_init = NULL;
            if (got == NULL) { /* OpenSSL's functions failed: hashlib it is */
                Py_DECREF(want);
                if (!PyErr_ExceptionMatches(PyExc_RuntimeError)) {
                    return NULL; /* a MemoryError is not a verdict on OpenSSL */
                }
                PyErr_Clear();
                same = 0;
                break;
            }
            same = PyUnicode_Compare(want, got) == 0;
            Py_DECREF(want);
            Py_DECREF(got);
        }
        if (same) {
            g_sha_init = (sha_init_fn)addr[0];
        } else {
            g_sha_update = NULL;
            g_sha_final = NULL;
        }
    }
    return PyBool_FromLong(g_sha_init != NULL);
}

static PyMethodDef methods[] = {
    {"build_rows", (PyCFunction)(void (*)(void))build_rows, METH_FASTCALL,
     "build_rows(todo, cache, instance, prev, seq, row_type): events._build_rows_py's rows."},
    {"sqlite_params", (PyCFunction)(void (*)(void))sqlite_params, METH_FASTCALL,
     "sqlite_params(rows, instance): events._sqlite_params_py's parameter lists (NotImplemented: ask it)."},
    {"setup", (PyCFunction)(void (*)(void))setup, METH_FASTCALL,
     "setup(dumps, sha256, hexdigest, slow, init, update, final): what build_rows calls; "
     "True when it hashes with OpenSSL's SHA256_Init/Update/Final at those addresses (0: hashlib)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_cevents", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__cevents(void) {
    for (int c = 0; c < 0x20; c++) {
        ESC[c] = 2;
    }
    ESC['"'] = 1, SHORT['"'] = '"';
    ESC['\\'] = 1, SHORT['\\'] = '\\';
    ESC['\b'] = 1, SHORT['\b'] = 'b';
    ESC['\t'] = 1, SHORT['\t'] = 't';
    ESC['\n'] = 1, SHORT['\n'] = 'n';
    ESC['\f'] = 1, SHORT['\f'] = 'f';
    ESC['\r'] = 1, SHORT['\r'] = 'r';
    struct {
        PyObject **slot;
        const char *text;
    } strs[] = {{&s_interrupted, "interrupted"}, {&s_unknown, "unknown"}, {&s_allow, "allow"},
                {&s_deny, "deny"}, {&s_error, "error"}, {&s_denied, "denied"},
                {&s_unresolved, "s_unresolved"}, {&s_pii, "pii"}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        if (*strs[i].slot == NULL && (*strs[i].slot = PyUnicode_InternFromString(strs[i].text)) == NULL) {
            return NULL;
        }
    }
    return PyModule_Create(&module);
}
