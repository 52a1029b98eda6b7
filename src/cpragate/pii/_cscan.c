/* cpragate.pii._cscan: the free-text pass's candidate prefilter in one C loop.
 *
 * Why native: compiled Python pays ~300-600 instructions per C call, and the prefilter
 * regex (textscan._CAND) costs ~570 instructions per digit or capital letter it tries,
 * plus several C calls per candidate to classify it (a slice, a dot count, a separator
 * count). Here one call returns every candidate of a document's joined text with what
 * the Python loop needs to dispatch it (bench/PII_RESULTS.md, "Fourth round").
 *
 * Contract (the pure-Python reference is textscan._candidates_py; tests compare both on
 * random and corpus text): candidates(text) returns a list of tuples
 *
 *     (start, end, kind, dots, n, ctx_lo)
 *
 * one per match of textscan._CAND.finditer(text), in order, where kind is the matching
 * alternative (1 = letter-led, 2 = digit/+/( run, 3 = house number + capitalized word,
 * 4 = short decimal + comma + number); dots is the number of "." in text[start:end] and n
 * its length without the separators " ().+/-" (both 0 for kinds 1 and 3); ctx_lo is
 * where textscan._context's window starts (max(0, start - 48), moved past the last NUL
 * before start).
 *
 * walk() (below) is the second half: Engine._walk over a parsed document in C.
 *
 * Every character class below is the regex's: ASCII ranges, except \d and \s, which
 * are Unicode in a str pattern (Py_UNICODE_ISDECIMAL / Py_UNICODE_ISSPACE, as in sre).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>

#define CONTEXT_CHARS 48

#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_UPPER(c) ((c) >= 'A' && (c) <= 'Z')
#define IS_LOWER(c) ((c) >= 'a' && (c) <= 'z')
#define IS_WORD(c) (IS_DIGIT(c) || IS_UPPER(c) || IS_LOWER(c) || (c) == '_')
#define IS_START(c) (IS_DIGIT(c) || IS_UPPER(c) || (c) == '+' || (c) == '(')
/* [0-9 ().+/\-] */
#define IS_RUN(c) (IS_DIGIT(c) || (c) == ' ' || (c) == '(' || (c) == ')' || (c) == '.' || (c) == '+' || \
                   (c) == '/' || (c) == '-')
/* the separators textscan deletes before counting digits: " ().+/-" */
#define IS_SEP(c) ((c) == ' ' || (c) == '(' || (c) == ')' || (c) == '.' || (c) == '+' || (c) == '/' || (c) == '-')

/* \d and \w of a str pattern; ASCII answered inline (the Unicode database lookups are calls) */
#define IS_DECIMAL(c) ((c) < 128 ? IS_DIGIT(c) : Py_UNICODE_ISDECIMAL(c))
#define IS_UWORD(c) ((c) < 128 ? IS_WORD(c) : (Py_UNICODE_ISALNUM(c) || (c) == '_'))

/* Per-byte classes for the scans' skip loops over 1-byte (Latin-1) text: a character that
 * can start a prefilter candidate (IS_START), a capital (IS_UPPER), a letter that can start
 * a birth-date cue word (b, B, d, D). Filled by PyInit__cscan from the macros above. */
enum { CLS_START = 1, CLS_UPPER = 2, CLS_DOB = 4 };
static unsigned char CLS[256];

/* The skip loops over 1-byte text test sixteen bytes at a time: block(p) gives a bit per
 * byte of s[p:p + 16] that may be of the class (every byte that is has its bit; with SSE2,
 * which every x86-64 CPU has, exactly those of the filter's ranges), the class table then
 * decides each flagged byte. Without SSE2 (or GCC/Clang builtins) two eight-byte words
 * are tested at once (SWAR) and a block that may hold one is read byte by byte. */
#if defined(__SSE2__) && defined(__GNUC__) && !defined(CSCAN_NO_SIMD) /* (-DCSCAN_NO_SIMD: tests of the fallback) */
#include <emmintrin.h>
#define BLOCK_BITS 1

static inline __m128i in_range(__m128i x, char lo, char hi) {
    /* signed compares: bytes >= 128 are negative, below any ASCII lo */
    return _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8((char)(lo - 1))), _mm_cmpgt_epi8(_mm_set1_epi8((char)(hi + 1)), x));
}
/* candidate starts: a superset, "(" to "9" (digits, "(" and "+" among them) or a capital */
static inline unsigned block_start(const Py_UCS1 *p) {
    __m128i x = _mm_loadu_si128((const __m128i *)p);
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(in_range(x, '(', '9'), in_range(x, 'A', 'Z')));
}
static inline unsigned block_upper(const Py_UCS1 *p) {
    return (unsigned)_mm_movemask_epi8(in_range(_mm_loadu_si128((const __m128i *)p), 'A', 'Z'));
}
/* b, B, d or D: a byte | 0x20 is 'b' or 'd' exactly for these four */
static inline unsigned block_dob(const Py_UCS1 *p) {
    __m128i y = _mm_or_si128(_mm_loadu_si128((const __m128i *)p), _mm_set1_epi8(0x20));
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(y, _mm_set1_epi8('b')), _mm_cmpeq_epi8(y, _mm_set1_epi8('d'))));
}
#else
#define BLOCK_BITS 0
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t load8(const Py_UCS1 *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* nonzero when a byte of x is in [lo, hi] (hi < 128): the low seven bits of each byte plus
 * 0x80 - lo carry into the high bit when >= lo, plus 0x7f - hi when > hi; no carry crosses
 * a byte; bytes >= 128 are masked out by ~x. */
static inline uint64_t bytes_in(uint64_t x, unsigned lo, unsigned hi) {
    uint64_t y = x & ~HIGHS;
    uint64_t a = y + ONES * (0x80 - lo), b = y + ONES * (0x7f - hi);
    return a & ~b & ~x & HIGHS;
}

/* nonzero when a byte of x is 0 */
static inline uint64_t zero_byte(uint64_t x) { return (x - ONES) & ~x & HIGHS; }

static inline uint64_t swar_start(uint64_t x) { return bytes_in(x, '(', '9') | bytes_in(x, 'A', 'Z'); }
static inline uint64_t swar_dob(uint64_t x) {
    uint64_t y = x | ONES * 0x20;
    return zero_byte(y ^ ONES * 'b') | zero_byte(y ^ ONES * 'd');
}
static inline unsigned block_start(const Py_UCS1 *p) { return (swar_start(load8(p)) | swar_start(load8(p + 8))) != 0; }
static inline unsigned block_upper(const Py_UCS1 *p) {
    return (bytes_in(load8(p), 'A', 'Z') | bytes_in(load8(p + 8), 'A', 'Z')) != 0;
}
static inline unsigned block_dob(const Py_UCS1 *p) { return (swar_dob(load8(p)) | swar_dob(load8(p + 8))) != 0; }
#endif

/* the first i in [p, end) with CLS[s[i]] & mask, or end */
static inline Py_ssize_t skip_to(const Py_UCS1 *s, Py_ssize_t p, Py_ssize_t end, unsigned char mask,
                                 unsigned (*block)(const Py_UCS1 *)) {
    while (p + 16 <= end) {
        unsigned m = block(s + p);
#if BLOCK_BITS
        while (m != 0) {
            int k = __builtin_ctz(m);
            if (CLS[s[p + k]] & mask)
                return p + k;
            m &= m - 1;
        }
#else
        if (m != 0)
            for (int k = 0; k < 16; k++)
                if (CLS[s[p + k]] & mask)
                    return p + k;
#endif
        p += 16;
    }
    while (p < end && !(CLS[s[p]] & mask))
        p++;
    return p;
}

/* (a, b) as a tuple of two ints (Py_BuildValue parses its format on every call) */
static PyObject *pair(Py_ssize_t a, Py_ssize_t b) {
    PyObject *x = PyLong_FromSsize_t(a), *y = x == NULL ? NULL : PyLong_FromSsize_t(b);
    PyObject *t = y == NULL ? NULL : PyTuple_New(2);
    if (t == NULL) {
        Py_XDECREF(x);
        Py_XDECREF(y);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, x);
    PyTuple_SET_ITEM(t, 1, y);
    return t;
}

/* Appends (a, b) to the list out; -1 with an exception set on failure. */
static int append_pair(PyObject *out, Py_ssize_t a, Py_ssize_t b) {
    PyObject *t = pair(a, b);
    if (t == NULL)
        return -1;
    int r = PyList_Append(out, t);
    Py_DECREF(t);
    return r;
}

/* a tuple of n ints */
static PyObject *int_tuple(const Py_ssize_t *v, Py_ssize_t n) {
    PyObject *t = PyTuple_New(n);
    if (t == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *x = PyLong_FromSsize_t(v[i]);
        if (x == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, x);
    }
    return t;
}

typedef struct {
    int kind;
    const void *data;
    Py_ssize_t len;
} Text;

static inline Py_UCS4 at(const Text *t, Py_ssize_t i) {
    return i < t->len ? PyUnicode_READ(t->kind, t->data, i) : 0;
}

/* (?!\d{3}-\d\d-\d\dT) at p: true when an ISO timestamp's date part starts there. */
static int iso_timestamp_at(const Text *t, Py_ssize_t p) {
    static const char shape[] = "ddd-dd-ddT";
    for (int i = 0; i < 10; i++) {
        Py_UCS4 c = at(t, p + i);
        if (p + i >= t->len)
            return 0;
        if (shape[i] == 'd') {
            if (!IS_DECIMAL(c))
                return 0;
        } else if (c != (Py_UCS4)shape[i]) {
            return 0;
        }
    }
    return 1;
}

/* The end of _CAND's match at s (whose first character is already a start character
 * after a non-word character), or -1; *alt is the alternative that matched. */
static Py_ssize_t match_at(const Text *t, Py_ssize_t s, int *alt) {
    Py_UCS4 c = at(t, s);
    Py_ssize_t p = s + 1;
    if (IS_UPPER(c)) {
        /* [A-Z]?[0-9]{2}[0-9A-Z -]{4,} */
        Py_ssize_t q = IS_UPPER(at(t, p)) && p < t->len ? p + 1 : p;
        if (q + 1 < t->len && IS_DIGIT(at(t, q)) && IS_DIGIT(at(t, q + 1))) {
            Py_ssize_t r = q + 2;
            while (r < t->len) {
                Py_UCS4 x = at(t, r);
                if (!(IS_DIGIT(x) || IS_UPPER(x) || x == ' ' || x == '-'))
                    break;
                r++;
            }
            if (r - (q + 2) >= 4) {
                *alt = 1;
                return r;
            }
        }
        return -1;
    }
    /* c is one of [0-9+(] */
    if (!iso_timestamp_at(t, p)) {
        /* [0-9 ().+/\-]{5,}[0-9]: the last digit of the run at offset >= 5 */
        Py_ssize_t r = p;
        Py_ssize_t last = -1;
        while (r < t->len) {
            Py_UCS4 x = at(t, r);
            if (!IS_RUN(x))
                break;
            if (IS_DIGIT(x) && r - p >= 5)
                last = r;
            r++;
        }
        if (last != -1) {
            *alt = 2;
            return last + 1;
        }
    }
    if (!IS_DIGIT(c))
        return -1;
    /* [0-9]{0,5}\s[A-Z][a-z] */
    Py_ssize_t d = p;
    while (d < t->len && IS_DIGIT(at(t, d)))
        d++;
    if (d - p <= 5 && d + 2 < t->len && Py_UNICODE_ISSPACE(at(t, d)) && IS_UPPER(at(t, d + 1)) &&
        IS_LOWER(at(t, d + 2))) {
        *alt = 3;
        return d + 3;
    }
    /* [0-9]{0,2}\.[0-9]{2,}\s*,\s*-?[0-9] */
    if (d - p <= 2 && d < t->len && at(t, d) == '.') {
        Py_ssize_t r = d + 1;
        while (r < t->len && IS_DIGIT(at(t, r)))
            r++;
        if (r - (d + 1) >= 2) {
            while (r < t->len && Py_UNICODE_ISSPACE(at(t, r)))
                r++;
            if (r < t->len && at(t, r) == ',') {
                r++;
                while (r < t->len && Py_UNICODE_ISSPACE(at(t, r)))
                    r++;
                if (r < t->len && at(t, r) == '-' && r + 1 < t->len && IS_DIGIT(at(t, r + 1))) {
                    *alt = 4;
                    return r + 2;
                }
                if (r < t->len && IS_DIGIT(at(t, r))) {
                    *alt = 4;
                    return r + 1;
                }
            }
        }
    }
    return -1;
}

/* The prefilter's position between candidates: cand_next() resumes from it. */
typedef struct {
    Py_ssize_t s;       /* where the search goes on */
    Py_ssize_t nul;     /* the last NUL seen before s */
    Py_ssize_t scanned; /* NULs are tracked up to here */
    const Py_UCS1 *bytes;
} CandPos;

static void cand_init(const Text *t, CandPos *c) {
    c->s = 0;
    c->nul = -1;
    c->scanned = 0;
    c->bytes = t->kind == PyUnicode_1BYTE_KIND ? (const Py_UCS1 *)t->data : NULL;
}

/* The next candidate (start, end, kind, dots, n, ctx_lo) into f: 1, or 0 at the end. */
static int cand_next(const Text *t, CandPos *c, Py_ssize_t f[6]) {
    Py_ssize_t s = c->s;
    while (s < t->len) {
        if (c->bytes != NULL) {
            /* the characters no candidate starts at, skipped without the kind switch */
            s = skip_to(c->bytes, s, t->len, CLS_START, block_start);
            if (s == t->len)
                break;
        }
        Py_UCS4 ch0 = PyUnicode_READ(t->kind, t->data, s);
        if (!IS_START(ch0) || (s > 0 && IS_WORD(PyUnicode_READ(t->kind, t->data, s - 1)))) {
            s++;
            continue;
        }
        int alt = 0;
        Py_ssize_t e = match_at(t, s, &alt);
        if (e < 0) {
            s++;
            continue;
        }
        Py_ssize_t dots = 0, n = 0;
        if (alt == 2 || alt == 4) {
            for (Py_ssize_t i = s; i < e; i++) {
                Py_UCS4 x = PyUnicode_READ(t->kind, t->data, i);
                dots += x == '.';
                n += !IS_SEP(x);
            }
        }
        for (; c->scanned < s; c->scanned++)
            if (PyUnicode_READ(t->kind, t->data, c->scanned) == 0)
                c->nul = c->scanned;
        Py_ssize_t lo = s > CONTEXT_CHARS ? s - CONTEXT_CHARS : 0;
        if (c->nul >= lo)
            lo = c->nul + 1;
        f[0] = s;
        f[1] = e;
        f[2] = alt;
        f[3] = dots;
        f[4] = n;
        f[5] = lo;
        c->s = e;
        return 1;
    }
    c->s = s;
    return 0;
}

static PyObject *candidates(PyObject *self, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "candidates() takes a str");
        return NULL;
    }
    Text t = {PyUnicode_KIND(arg), PyUnicode_DATA(arg), PyUnicode_GET_LENGTH(arg)};
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    CandPos c;
    cand_init(&t, &c);
    Py_ssize_t fields[6];
    while (cand_next(&t, &c, fields)) {
        PyObject *item = int_tuple(fields, 6);
        if (item == NULL || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(item);
    }
    return out;
}


/* ------------------------------------------------------------------ the walk
 *
 * walk(engine, root, loc, hits, texts, refs[, paths]): Engine._walk(root, loc, None, None,
 * hits, texts, refs) in C, statement for statement (engine.py's _walk, _walk_dict and _walk_list
 * are the reference; tests compare both on the corpora and on random documents). What
 * is not plain dict/list/str bookkeeping is delegated to the engine's own methods, with
 * the same arguments and in the same order: key signals on a cache miss (_signal), the
 * telling-key validators (sig[2]), big ints (_bare_int), coordinates (_geo_fields,
 * _geo_value, _geo_list), person names (_person_container, _value_matches, _spi).
 *
 * setup(personal, numeric_ok, address, person, geo) hands over engine.py's constants once.
 * Two cases are answered here without the engine's method: a telling key's value under
 * value_matcher (below), and _geo_fields for a lat and a lng key that both hold floats
 * whose precision the arithmetic proves (geo_fields_fast; anything else: the method).
 * With paths false (Engine.process_value: only scan_json and previews read a hit's
 * location), a field hit made here has None for its value's location (h[2]) instead of a
 * new (loc, key) tuple; everything else is the same.
 */

/* x's value, for an int that is a small code (a key signal's, a value_matcher's kind): an
 * exact int of at most one digit read straight from CPython 3.11's layout (PyLong_AsLong
 * otherwise, and on other versions). -1 with an error set as PyLong_AsLong. */
static inline long small_code(PyObject *x) {
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
    if (PyLong_CheckExact(x)) {
        Py_ssize_t size = Py_SIZE(x);
        if (size == 0)
            return 0;
        if (size == 1)
            return (long)((PyLongObject *)x)->ob_digit[0];
    }
#endif
    return PyLong_AsLong(x);
}

/* Key signal codes: engine.py's _NONE, _ENTITY, _LAT, _LNG, _PAIR, _NAME, _IGNORE. */
enum { SIG_NONE, SIG_ENTITY, SIG_LAT, SIG_LNG, SIG_PAIR, SIG_NAME, SIG_IGNORE };

static PyObject *PERSONAL;   /* engine._PERSONAL */
static PyObject *NUMERIC_OK; /* engine._NUMERIC_OK */
static PyObject *E_ADDRESS;  /* Entity.STREET_ADDRESS */
static PyObject *E_PERSON;   /* Entity.PERSON */
static PyObject *E_GEO;      /* Entity.GEOLOCATION */
static PyObject *S_FIELD;    /* "field" */
static PyObject *S_SIGNAL, *S_BARE_INT, *S_GEO_FIELDS, *S_GEO_VALUE, *S_GEO_LIST, *S_PERSON_CONTAINER,
    *S_VALUE_MATCHES, *S_SPI, *S_WALK_STATE;

typedef struct {
    PyObject *engine, *sigs, *recognizers, *hits, *texts, *refs;
    PyObject *person_match; /* engine._person_match: _value_matches(PERSON, v) as one callable, or None */
    int person_on;
    int geo_on;
    int paths; /* field hits with their value's location (else None: see above) */
} Walk;

static int walk_dict(Walk *w, PyObject *node, PyObject *loc, PyObject *container_key);
static int walk_list(Walk *w, PyObject *node, PyObject *loc, PyObject *container_key, PyObject *sig);

/* A new tuple of the n objects in items (new references taken); PyTuple_Pack without
 * its varargs loop. */
static PyObject *tuple_of(PyObject *const *items, Py_ssize_t n) {
    PyObject *t = PyTuple_New(n);
    if (t == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(t, i, Py_NewRef(items[i]));
    return t;
}

/* texts.append(v); refs.append((node, k, loc)) */
static int add_text(Walk *w, PyObject *v, PyObject *node, PyObject *k, PyObject *loc) {
    if (PyList_Append(w->texts, v) < 0)
        return -1;
    PyObject *items[3] = {node, k, loc};
    PyObject *ref = tuple_of(items, 3);
    if (ref == NULL)
        return -1;
    int r = PyList_Append(w->refs, ref);
    Py_DECREF(ref);
    return r;
}

/* hits.append((node, k, vloc, entity, spi, None, "field", extra)) */
static int add_hit(Walk *w, PyObject *node, PyObject *k, PyObject *vloc, PyObject *entity, PyObject *spi,
                   PyObject *extra) {
    PyObject *items[8] = {node, k, vloc, entity, spi, Py_None, S_FIELD, extra};
    PyObject *h = tuple_of(items, 8);
    if (h == NULL)
        return -1;
    int r = PyList_Append(w->hits, h);
    Py_DECREF(h);
    return r;
}

/* hits.append((node, k, (loc, k), entity, spi, None, "field", None)) */
static int add_field_hit(Walk *w, PyObject *node, PyObject *k, PyObject *loc, PyObject *entity, PyObject *spi) {
    if (!w->paths)
        return add_hit(w, node, k, Py_None, entity, spi, Py_None);
    PyObject *items[2] = {loc, k};
    PyObject *vloc = tuple_of(items, 2);
    if (vloc == NULL)
        return -1;
    int r = add_hit(w, node, k, vloc, entity, spi, Py_None);
    Py_DECREF(vloc);
    return r;
}

/* engine.<name>(args...) with the result's truth value, or -1. */
static int call_truth(PyObject *result) {
    if (result == NULL)
        return -1;
    int r = PyObject_IsTrue(result);
    Py_DECREF(result);
    return r;
}

/* A telling key's matcher as a truth value: a value_matcher (below) answered without the
 * call, its bool or a second truth test (match_int); any other callable called. */
static PyMethodDef match_fast_def;
static int match_int(PyObject *state, PyObject *value);

static int match_call(PyObject *matcher, PyObject *value) {
    if (PyCFunction_CheckExact(matcher) && ((PyCFunctionObject *)matcher)->m_ml == &match_fast_def)
        return match_int(PyCFunction_GET_SELF(matcher), value);
    return call_truth(PyObject_CallOneArg(matcher, value));
}

static int is_num(PyObject *x) { return PyFloat_CheckExact(x) || PyLong_CheckExact(x); }

/* _decimals_at_least(x, 4)'s arithmetic for a float (engine.py): 1 when it proves four or
 * more decimals, 0 when repr() would have to decide. The same IEEE operations in the same
 * order as the Python lines (no -ffast-math, no FMA: the module is built with neither). */
static int decimals4_proved(double f) {
    double a = f < 0.0 ? -f : f;
    if (!(1e-4 <= a && a < 1e6))
        return 0;
    double k = a * 1000.0;
    double frac = k - (double)(long long)k;
    return 1e-6 < frac && frac < 0.999999;
}

/* Engine._geo_fields(node, loc, lat_k, lng_k, hits) when both keys hold floats: 1 done,
 * 0 another case (the engine's method decides, as when precision needs repr()), -1 error.
 * lat_k and lng_k are borrowed keys of node. */
static int geo_fields_fast(Walk *w, PyObject *node, PyObject *loc, PyObject *lat_k, PyObject *lng_k) {
    if (lat_k == NULL || lng_k == NULL || E_GEO == NULL)
        return 0;
    PyObject *a = PyDict_GetItemWithError(node, lat_k), *b = a == NULL ? NULL : PyDict_GetItemWithError(node, lng_k);
    if (b == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (!PyFloat_CheckExact(a) || !PyFloat_CheckExact(b))
        return 0;
    if (!w->geo_on)
        return 1;
    double lat = PyFloat_AS_DOUBLE(a), lng = PyFloat_AS_DOUBLE(b);
    /* validators.latlng_valid */
    if (!(-90.0 <= lat && lat <= 90.0 && -180.0 <= lng && lng <= 180.0 && !(lat == 0 && lng == 0)))
        return 1;
    if (!decimals4_proved(lat) && !decimals4_proved(lng))
        return 0;
    return add_hit(w, node, lat_k, loc, E_GEO, Py_True, lng_k) < 0 ? -1 : 1;
}

/* The key signal cache's entries found by the key's identity (engine._sigs[k], then
 * Engine._signal(k) on a miss, are the reference). orjson hands out the same str object
 * for a key it has seen (its key cache), so a walk over a document of a known shape finds
 * each key's signal here without hashing and probing a dict (~100 instructions a key).
 * Direct-mapped by the key's address; each slot holds its key, its signal and the sigs
 * dict it came from (strong references: none of the three can be freed and its address
 * reused while a slot names it). A signal is a pure function of the key and the engine
 * (the dict only caches Engine._signal), so an entry stays right after engine._sigs
 * evicts it. Field names only (as engine._sigs holds them), never values. */
#define SIG_SLOTS 1024
typedef struct {
    PyObject *owner, *key, *sig; /* strong, or all NULL */
} SigSlot;
static SigSlot sig_slots[SIG_SLOTS];

/* Two ways per key: the slot of its address (pymalloc blocks are 16-byte aligned; the
 * pool offset folded in, so keys at one offset of different pools part) and its pair. */
static inline SigSlot *sig_slot_of(PyObject *k) {
    uintptr_t a = (uintptr_t)k;
    return &sig_slots[((a >> 4) ^ (a >> 12)) & (SIG_SLOTS - 2)];
}

/* engine._sigs.get(k) (w->sigs): a new reference, or NULL (none, or an error set). */
static PyObject *sig_get(Walk *w, PyObject *k) {
    SigSlot *slot = sig_slot_of(k);
    if (slot->key == k && slot->owner == w->sigs)
        return Py_NewRef(slot->sig);
    if (slot[1].key == k && slot[1].owner == w->sigs)
        return Py_NewRef(slot[1].sig);
    PyObject *sig = PyDict_GetItemWithError(w->sigs, k);
    if (sig == NULL)
        return NULL;
    Py_INCREF(sig);
    /* Least recently stored out: the first way's entry moves to the second (whose entry
     * goes), the new one takes the first, so every entry ages out as keys come and go
     * (a key is a field name, or a map's key, which may be data). New state is in place
     * before the old references go (a __del__ they run may call back in here). */
    SigSlot old = slot[1];
    slot[1] = slot[0];
    slot->owner = Py_NewRef(w->sigs);
    slot->key = Py_NewRef(k);
    slot->sig = Py_NewRef(sig);
    Py_XDECREF(old.owner);
    Py_XDECREF(old.key);
    Py_XDECREF(old.sig);
    return sig;
}

/* sig_forget(owner): drop every entry stored from the dict ``owner`` (an engine's _sigs,
 * when the engine clears it), or every entry (None: an engine is made, so those of
 * engines it replaces go with them). */
static PyObject *sig_forget(PyObject *self, PyObject *owner) {
    (void)self;
    for (Py_ssize_t i = 0; i < SIG_SLOTS; i++) {
        SigSlot *slot = &sig_slots[i];
        if (slot->key == NULL || (owner != Py_None && slot->owner != owner))
            continue;
        SigSlot old = *slot;
        slot->owner = slot->key = slot->sig = NULL;
        Py_XDECREF(old.owner);
        Py_XDECREF(old.key);
        Py_XDECREF(old.sig);
    }
    Py_RETURN_NONE;
}

/* sig_held(): how many entries the table holds (tests). */
static PyObject *sig_held(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < SIG_SLOTS; i++)
        n += sig_slots[i].key != NULL;
    return PyLong_FromSsize_t(n);
}

/* Descend into v at (loc, k): a dict or list, with _walk_dict/_walk_list's arguments. */
static int descend(Walk *w, PyObject *v, PyObject *loc, PyObject *k, PyObject *container_key, PyObject *list_sig) {
    PyObject *two[2] = {loc, k};
    PyObject *child = tuple_of(two, 2);
    if (child == NULL)
        return -1;
    int r = PyDict_CheckExact(v) ? walk_dict(w, v, child, container_key)
                                 : walk_list(w, v, child, container_key, list_sig);
    Py_DECREF(child);
    return r;
}

static int walk_dict(Walk *w, PyObject *node, PyObject *loc, PyObject *container_key) {
    PyObject *lat_k = NULL, *lng_k = NULL; /* borrowed from node */
    PyObject *names = NULL;
    int personal = 0;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    int rc = -1;
    while (PyDict_Next(node, &pos, &k, &v)) {
        Py_INCREF(k);
        Py_INCREF(v);
        PyObject *sig = sig_get(w, k);
        if (sig == NULL) {
            if (PyErr_Occurred())
                goto item_fail;
            sig = PyObject_CallMethodOneArg(w->engine, S_SIGNAL, k);
            if (sig == NULL)
                goto item_fail;
        }
        if (!PyTuple_CheckExact(sig) || PyTuple_GET_SIZE(sig) != 4) {
            PyErr_SetString(PyExc_TypeError, "a key signal must be a 4-tuple");
            goto sig_fail;
        }
        long code = small_code(PyTuple_GET_ITEM(sig, 0));
        if (code == -1 && PyErr_Occurred())
            goto sig_fail;
        int r = 0;
        if (code == SIG_NONE) {
            if (PyUnicode_CheckExact(v)) {
                if (PyUnicode_GET_LENGTH(v) > 5)
                    r = add_text(w, v, node, k, loc);
            } else if (PyDict_CheckExact(v) || PyList_CheckExact(v)) {
                r = descend(w, v, loc, k, k, Py_None);
            } else if (PyLong_CheckExact(v)) {
                int overflow;
                long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
                if (x == -1 && PyErr_Occurred())
                    r = -1;
                else if (overflow || x > 999999999999LL || x < -999999999999LL) {
                    PyObject *res = PyObject_CallMethodObjArgs(w->engine, S_BARE_INT, node, k, loc, v, w->hits, NULL);
                    r = res == NULL ? -1 : 0;
                    Py_XDECREF(res);
                }
            }
        } else if (code == SIG_ENTITY) {
            PyObject *entity = PyTuple_GET_ITEM(sig, 1);
            PyObject *matcher = PyTuple_GET_ITEM(sig, 2);
            if (PyUnicode_CheckExact(v)) {
                int ok = match_call(matcher, v);
                if (ok < 0) {
                    r = -1;
                } else if (ok) {
                    r = add_field_hit(w, node, k, loc, entity, PyTuple_GET_ITEM(sig, 3));
                    if (r == 0 && !personal) {
                        personal = PySet_Contains(PERSONAL, entity);
                        if (personal < 0)
                            r = -1;
                    }
                } else {
                    r = add_text(w, v, node, k, loc);
                }
            } else if (PyLong_CheckExact(v)) {
                int numeric = PySet_Contains(NUMERIC_OK, entity);
                if (numeric < 0) {
                    r = -1;
                } else if (numeric) {
                    PyObject *text = PyObject_Str(v);
                    int ok = text == NULL ? -1 : call_truth(PyObject_CallOneArg(matcher, text));
                    Py_XDECREF(text);
                    if (ok < 0)
                        r = -1;
                    else if (ok)
                        r = add_field_hit(w, node, k, loc, entity, PyTuple_GET_ITEM(sig, 3));
                }
            } else if (PyDict_CheckExact(v)) {
                int addr = PyObject_RichCompareBool(entity, E_ADDRESS, Py_EQ);
                if (addr < 0)
                    r = -1;
                else {
                    if (addr)
                        personal = 1;
                    r = descend(w, v, loc, k, k, Py_None);
                }
            } else if (PyList_CheckExact(v)) {
                r = descend(w, v, loc, k, k, entity);
            }
        } else if (code == SIG_LAT) {
            lat_k = k;
        } else if (code == SIG_LNG) {
            lng_k = k;
        } else if (code == SIG_NAME) {
            if (PyUnicode_CheckExact(v)) {
                if (names == NULL && (names = PyList_New(0)) == NULL)
                    r = -1;
                else
                    r = PyList_Append(names, k);
            } else if (PyDict_CheckExact(v) || PyList_CheckExact(v)) {
                r = descend(w, v, loc, k, k, Py_None);
            }
        } else if (code == SIG_PAIR) {
            PyObject *res = PyObject_CallMethodObjArgs(w->engine, S_GEO_VALUE, node, k, loc, v, w->hits, w->texts,
                                                       w->refs, NULL);
            r = res == NULL ? -1 : 0;
            Py_XDECREF(res);
        }
        Py_DECREF(sig);
        Py_DECREF(k);
        Py_DECREF(v);
        if (r < 0)
            goto done;
        continue;
    sig_fail:
        Py_DECREF(sig);
    item_fail:
        Py_DECREF(k);
        Py_DECREF(v);
        goto done;
    }
    /* lat_k / lng_k are keys of node, which nothing above mutates */
    int geo_done = geo_fields_fast(w, node, loc, lat_k, lng_k);
    if (geo_done < 0)
        goto done;
    if (!geo_done && (lat_k != NULL || lng_k != NULL)) {
        PyObject *res = PyObject_CallMethodObjArgs(w->engine, S_GEO_FIELDS, node, loc, lat_k ? lat_k : Py_None,
                                                   lng_k ? lng_k : Py_None, w->hits, NULL);
        if (res == NULL)
            goto done;
        Py_DECREF(res);
    }
    if (names != NULL) {
        int person = 0;
        if (w->person_on) {
            if (personal)
                person = 1;
            else if ((person = call_truth(PyObject_CallMethodOneArg(w->engine, S_PERSON_CONTAINER,
                                                                     container_key))) < 0)
                goto done;
        }
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(names); i++) {
            PyObject *nk = PyList_GET_ITEM(names, i);
            PyObject *nv = PyDict_GetItemWithError(node, nk);
            if (nv == NULL) {
                if (!PyErr_Occurred())
                    PyErr_SetObject(PyExc_KeyError, nk);
                goto done;
            }
            Py_INCREF(nv);
            int matched = 0;
            if (person)
                matched = w->person_match != Py_None
                              ? match_call(w->person_match, nv)
                              : call_truth(PyObject_CallMethodObjArgs(w->engine, S_VALUE_MATCHES, E_PERSON, nv, NULL));
            int r;
            if (matched < 0)
                r = -1;
            else if (matched)
                r = add_field_hit(w, node, nk, loc, E_PERSON, Py_False);
            else {
                Py_ssize_t n = PyObject_Length(nv);
                r = n < 0 ? -1 : n > 5 ? add_text(w, nv, node, nk, loc) : 0;
            }
            Py_DECREF(nv);
            if (r < 0)
                goto done;
        }
    }
    rc = 0;
done:
    Py_XDECREF(names);
    return rc;
}

static int walk_list(Walk *w, PyObject *node, PyObject *loc, PyObject *container_key, PyObject *sig) {
    if (PyList_GET_SIZE(node) == 2 && is_num(PyList_GET_ITEM(node, 0)) && is_num(PyList_GET_ITEM(node, 1))) {
        int geo = call_truth(PyObject_CallMethodObjArgs(w->engine, S_GEO_LIST, node, loc, sig, w->hits, NULL));
        if (geo != 0)
            return geo < 0 ? -1 : 0;
    }
    PyObject *entity = NULL;
    PyObject *spi = NULL;
    if (sig != Py_None) {
        int known = PyDict_Contains(w->recognizers, sig);
        if (known < 0)
            return -1;
        if (known)
            entity = sig;
    }
    int rc = -1;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(node); i++) {
        PyObject *v = PyList_GET_ITEM(node, i);
        Py_INCREF(v);
        PyObject *idx = PyLong_FromSsize_t(i);
        int r = 0;
        if (idx == NULL) {
            r = -1;
        } else if (PyUnicode_CheckExact(v)) {
            int matched = 0;
            if (entity != NULL)
                matched = call_truth(PyObject_CallMethodObjArgs(w->engine, S_VALUE_MATCHES, entity, v, NULL));
            if (matched < 0) {
                r = -1;
            } else if (matched) {
                Py_XDECREF(spi);
                spi = PyObject_CallMethodOneArg(w->engine, S_SPI, entity);
                r = spi == NULL ? -1 : add_field_hit(w, node, idx, loc, entity, spi);
            } else if (PyUnicode_GET_LENGTH(v) > 5) {
                r = add_text(w, v, node, idx, loc);
            }
        } else if (PyDict_CheckExact(v)) {
            r = descend(w, v, loc, idx, container_key, Py_None);
        } else if (PyList_CheckExact(v)) {
            r = descend(w, v, loc, idx, container_key, sig);
        }
        Py_XDECREF(idx);
        Py_DECREF(v);
        if (r < 0)
            goto done;
    }
    rc = 0;
done:
    Py_XDECREF(spi);
    return rc;
}

static PyObject *walk(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6 && nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "walk(engine, root, loc, hits, texts, refs[, paths])");
        return NULL;
    }
    if (PERSONAL == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_cscan.setup() was not called");
        return NULL;
    }
    Walk w = {args[0], NULL, NULL, args[3], args[4], args[5], NULL, 0, 0, 1};
    if (nargs == 7 && (w.paths = PyObject_IsTrue(args[6])) < 0)
        return NULL;
    if (!PyList_CheckExact(w.hits) || !PyList_CheckExact(w.texts) || !PyList_CheckExact(w.refs)) {
        PyErr_SetString(PyExc_TypeError, "hits, texts and refs must be lists");
        return NULL;
    }
    PyObject *root = args[1], *loc = args[2];
    PyObject *result = NULL;
    /* engine._walk_state: (_sigs, _recognizers, _person_match, _person_on, _geo_on) */
    PyObject *state = PyObject_GetAttr(w.engine, S_WALK_STATE);
    if (state == NULL)
        return NULL;
    if (!PyTuple_CheckExact(state) || PyTuple_GET_SIZE(state) != 5 || !PyDict_CheckExact(PyTuple_GET_ITEM(state, 0)) ||
        !PyDict_CheckExact(PyTuple_GET_ITEM(state, 1))) {
        PyErr_SetString(PyExc_TypeError, "engine._walk_state must be (_sigs, _recognizers, _person_match, "
                                         "_person_on, _geo_on) with two dicts");
        goto done;
    }
    w.sigs = PyTuple_GET_ITEM(state, 0);
    w.recognizers = PyTuple_GET_ITEM(state, 1);
    w.person_match = PyTuple_GET_ITEM(state, 2);
    if ((w.person_on = PyObject_IsTrue(PyTuple_GET_ITEM(state, 3))) < 0 ||
        (w.geo_on = PyObject_IsTrue(PyTuple_GET_ITEM(state, 4))) < 0)
        goto done;
    int r = 0;
    if (PyDict_CheckExact(root))
        r = walk_dict(&w, root, loc, Py_None);
    else if (PyList_CheckExact(root))
        r = walk_list(&w, root, loc, Py_None, Py_None);
    else if (PyUnicode_CheckExact(root))
        r = add_text(&w, root, Py_None, Py_None, loc);
    if (r == 0)
        result = Py_NewRef(Py_None);
done:
    Py_DECREF(state); /* (held the borrowed sigs, recognizers and person_match) */
    return result;
}

static PyObject *setup(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 || !PyAnySet_Check(args[0]) || !PyAnySet_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "setup(personal: frozenset, numeric_ok: frozenset, address: str, person: str, geo: str)");
        return NULL;
    }
    Py_XSETREF(PERSONAL, Py_NewRef(args[0]));
    Py_XSETREF(NUMERIC_OK, Py_NewRef(args[1]));
    Py_XSETREF(E_ADDRESS, Py_NewRef(args[2]));
    Py_XSETREF(E_PERSON, Py_NewRef(args[3]));
    Py_XSETREF(E_GEO, Py_NewRef(args[4]));
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ masking
 *
 * mask_ascii(value, char, keep): operators.mask_value's ASCII path in one pass. value and
 * char are ASCII (char one character); every ASCII letter or digit becomes char except
 * the last min(keep, letters and digits // 2) of them. operators.py's Python loop is the
 * reference (tests compare both).
 */
#define IS_ALNUM(c) (IS_DIGIT(c) || IS_UPPER(c) || IS_LOWER(c))

static PyObject *mask_ascii_impl(PyObject *value, Py_UCS1 c, Py_ssize_t keep);

static PyObject *mask_ascii(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyUnicode_Check(args[0]) || !PyUnicode_Check(args[1]) || !PyLong_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "mask_ascii(value: str, char: str, keep: int)");
        return NULL;
    }
    PyObject *value = args[0], *ch = args[1];
    if (!PyUnicode_IS_ASCII(value) || !PyUnicode_IS_ASCII(ch) || PyUnicode_GET_LENGTH(ch) != 1) {
        PyErr_SetString(PyExc_ValueError, "mask_ascii takes an ASCII value and one ASCII character");
        return NULL;
    }
    Py_ssize_t keep = PyLong_AsSsize_t(args[2]);
    if (keep == -1 && PyErr_Occurred())
        return NULL;
    return mask_ascii_impl(value, PyUnicode_1BYTE_DATA(ch)[0], keep);
}

/* mask_ascii's pass over an ASCII value (checked by the callers). */
static PyObject *mask_ascii_impl(PyObject *value, Py_UCS1 c, Py_ssize_t keep) {
    const Py_UCS1 *in = PyUnicode_1BYTE_DATA(value);
    Py_ssize_t len = PyUnicode_GET_LENGTH(value);
    Py_ssize_t alnum = 0;
    for (Py_ssize_t i = 0; i < len; i++)
        alnum += IS_ALNUM(in[i]);
    if (keep > alnum / 2)
        keep = alnum / 2;
    if (keep < 0)
        keep = 0;
    Py_ssize_t masked = alnum - keep; /* letters and digits to mask, from the left */
    PyObject *out = PyUnicode_New(len, 127);
    if (out == NULL)
        return NULL;
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(out);
    for (Py_ssize_t i = 0; i < len; i++) {
        if (masked > 0 && IS_ALNUM(in[i])) {
            o[i] = c;
            masked--;
        } else {
            o[i] = in[i];
        }
    }
    return out;
}

/* ------------------------------------------------------------------ rewriting
 *
 * tally(hits, spi_cache, plain_cache, get, action_value, allow, mask, geo, mask_char,
 *       keep_last, shapes, mask_fn, geo_decimals) -> (entities, categories, spi, actions, rest)
 *
 * The first loop of Engine._apply (engine.py, Engine._tally is the reference; tests
 * compare both) for a fresh Annotations: each hit's decision from the decider's caches by
 * its entity (spi_cache when the hit's spi flag is true, else plain_cache; get(hit) on a
 * miss); the findings counted per (entity, spi flag) in order of first appearance, and
 * the annotations' dicts built from those kinds in that order (entities, categories,
 * and actions by action_value[action]; each dict sized once, so no dict grows per
 * finding); allowed hits need nothing more; a whole string value masked (action mask,
 * no span, no pair, a parent, not geolocation) is rewritten in place, with mask_ascii
 * when mask_char is set (Masker.mask's native path: an ASCII value and an entity without
 * a shape), else with mask_fn(value, entity); a masked latitude/longitude pair held in
 * two float fields of a dict (extra: the lng key) is rounded in place to geo_decimals
 * (Masker.number) when operators._round's arithmetic decides (else it goes to ``rest``,
 * whose rewrite gives the same numbers). Every other hit is returned in ``rest``, in
 * order, for the Python code's grouping, blocks and drops; ``spi`` is the SPI count.
 * The three dicts come from count_cache when the keys and counts are the last ones.
 */
typedef struct {
    PyObject *decision;
    int spi;
    Py_ssize_t n;
    PyObject *entity; /* the kind's first hit's entity (strong) */
} Kind;

/* The last call's decisions by the hit's entity object and spi flag, with the two decider
 * caches they were found in (all strong references): a hit whose entity is one of these
 * objects takes its decision here, without hashing and probing the cache (~90
 * instructions a hit). What the cache gives for that entity: a decider's entry is made
 * once per entity and never replaced, and a decision is a pure function of the rules
 * (frozen, one decider each), the entity and the flag; the caches are compared by
 * identity at every use and held, so their addresses cannot be taken by others. */
typedef struct {
    PyObject *spi_cache, *plain_cache;
    Py_ssize_t n;
    PyObject *entity[16];
    int spi[16];
    PyObject *decision[16];
} DecisionMemo;

static DecisionMemo decision_memo;

static void decision_memo_set(PyObject *spi_cache, PyObject *plain_cache, const Kind *kinds, Py_ssize_t nk) {
    DecisionMemo old = decision_memo;
    decision_memo.spi_cache = Py_NewRef(spi_cache);
    decision_memo.plain_cache = Py_NewRef(plain_cache);
    decision_memo.n = nk <= 16 ? nk : 16;
    for (Py_ssize_t k = 0; k < decision_memo.n; k++) {
        decision_memo.entity[k] = Py_NewRef(kinds[k].entity);
        decision_memo.spi[k] = kinds[k].spi;
        decision_memo.decision[k] = Py_NewRef(kinds[k].decision);
    }
    for (Py_ssize_t k = 0; k < old.n; k++) {
        Py_DECREF(old.entity[k]);
        Py_DECREF(old.decision[k]);
    }
    Py_XDECREF(old.spi_cache);
    Py_XDECREF(old.plain_cache);
}

typedef struct {
    PyObject *key; /* borrowed */
    Py_ssize_t n;
} Count;

/* a == b as a dict compares keys: identity, then (str) the cached hashes and lengths, then ==. */
static int same_key(PyObject *a, PyObject *b) {
    if (a == b)
        return 1;
    if (PyUnicode_CheckExact(a) && PyUnicode_CheckExact(b)) {
        Py_hash_t ha = ((PyASCIIObject *)a)->hash, hb = ((PyASCIIObject *)b)->hash;
        if ((ha != -1 && hb != -1 && ha != hb) || PyUnicode_GET_LENGTH(a) != PyUnicode_GET_LENGTH(b))
            return 0;
    }
    return PyObject_RichCompareBool(a, b, Py_EQ);
}

/* counts[key] += n, keys in order of first appearance (compared like dict keys).
 * The keys are exact str (entity, category and action names): two keys that compare equal
 * but hash differently (a str-Enum and a str) would be merged here and kept apart by a dict. */
static int count_add(Count *counts, Py_ssize_t *len, PyObject *key, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < *len; i++) {
        int same = same_key(counts[i].key, key);
        if (same < 0)
            return -1;
        if (same) {
            counts[i].n += n;
            return 0;
        }
    }
    counts[*len].key = key;
    counts[*len].n = n;
    (*len)++;
    return 0;
}

/* A dict of counts, sized for them, keys in order. */
static PyObject *count_dict(const Count *counts, Py_ssize_t len) {
    PyObject *d = _PyDict_NewPresized(len);
    if (d == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < len; i++) {
        PyObject *n = PyLong_FromSsize_t(counts[i].n);
        if (n == NULL || PyDict_SetItem(d, counts[i].key, n) < 0) {
            Py_XDECREF(n);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(n);
    }
    return d;
}

/* The last dicts count_dict built per kind of count (entities, categories, actions) and
 * what they were built from. A gateway answers the same shape of document again and
 * again, so the same keys with the same counts come back: the dict is then copied
 * (PyDict_Copy clones the table in one pass) instead of built by one insertion per key,
 * which costs several times more. The keys are held (strong references), so identity
 * compares them; only counts and entity/category/action names are kept, never values. */
#define COUNT_CACHE_KEYS 16

typedef struct {
    Py_ssize_t len;
    PyObject *keys[COUNT_CACHE_KEYS]; /* strong */
    Py_ssize_t n[COUNT_CACHE_KEYS];
    PyObject *dict; /* strong; never handed out (copies are) */
} CountCache;

static CountCache count_cache[3];

/* count_dict(counts, len), copied from cache when it holds the same keys and counts. */
static PyObject *cached_count_dict(CountCache *c, const Count *counts, Py_ssize_t len) {
    if (c->dict != NULL && c->len == len) {
        Py_ssize_t i = 0;
        while (i < len && c->keys[i] == counts[i].key && c->n[i] == counts[i].n)
            i++;
        if (i == len)
            return PyDict_Copy(c->dict);
    }
    PyObject *d = count_dict(counts, len);
    if (d == NULL || len > COUNT_CACHE_KEYS)
        return d;
    PyObject *copy = PyDict_Copy(d);
    if (copy == NULL) {
        Py_DECREF(d);
        return NULL;
    }
    /* the new state first, then the old one released */
    CountCache old = *c;
    c->len = len;
    for (Py_ssize_t i = 0; i < len; i++) {
        c->keys[i] = Py_NewRef(counts[i].key);
        c->n[i] = counts[i].n;
    }
    c->dict = copy;
    for (Py_ssize_t i = 0; i < old.len; i++)
        Py_DECREF(old.keys[i]);
    Py_XDECREF(old.dict);
    return d;
}

/* The kinds the count_cache dicts were last built from (decisions held: strong refs, so
 * identity compares them), with action_value and the SPI total: when a call's kinds are
 * the same (same decisions in the same order, same counts), its three dicts are the
 * cached ones, copied, without counting them again. nk -1: nothing cached. Cleared before
 * count_cache is touched, filled only after all three dicts were made from these kinds. */
typedef struct {
    Py_ssize_t nk;
    PyObject *decision[COUNT_CACHE_KEYS];
    int spi[COUNT_CACHE_KEYS];
    Py_ssize_t n[COUNT_CACHE_KEYS];
    PyObject *action_value;
    Py_ssize_t spi_total;
    /* summary(entities, spi, actions) of these counts (filters/pii/fastpath's decision
     * text: counts and action names only), made at the first call that finds the kinds
     * cached and asks for it; NULL: not made (or not made in C) */
    PyObject *summary;
} KindCache;

static KindCache kind_cache = {-1, {NULL}, {0}, {0}, NULL, 0, NULL};

static void kind_cache_clear(void) {
    KindCache old = kind_cache;
    kind_cache.nk = -1;
    kind_cache.action_value = NULL;
    kind_cache.summary = NULL;
    for (Py_ssize_t i = 0; i < old.nk; i++)
        Py_DECREF(old.decision[i]);
    Py_XDECREF(old.action_value);
    Py_XDECREF(old.summary);
}

static PyObject *summary_ascii(PyObject *entities, PyObject *spi, PyObject *actions);

/* Masker.mask(value, entity) (operators.py). New reference. */
static PyObject *mask_whole(PyObject *value, PyObject *entity, PyObject *mask_char, PyObject *keep_last,
                            PyObject *shapes, PyObject *mask_fn) {
    if (mask_char != Py_None && PyUnicode_IS_ASCII(value)) {
        int shaped = 0;
        if (PyDict_GET_SIZE(shapes) > 0 && (shaped = PyDict_Contains(shapes, entity)) < 0)
            return NULL;
        if (!shaped) {
            Py_ssize_t keep = 0;
            PyObject *k = PyDict_GetItemWithError(keep_last, entity);
            if (k == NULL) {
                if (PyErr_Occurred())
                    return NULL;
            } else {
                if (!PyLong_Check(k)) {
                    PyErr_SetString(PyExc_TypeError, "mask_ascii(value: str, char: str, keep: int)");
                    return NULL;
                }
                keep = PyLong_AsSsize_t(k);
                if (keep == -1 && PyErr_Occurred())
                    return NULL;
            }
            return mask_ascii_impl(value, PyUnicode_1BYTE_DATA(mask_char)[0], keep);
        }
    }
    return PyObject_CallFunctionObjArgs(mask_fn, value, entity, NULL);
}

/* action_value[action]: the six Action members are compared by identity first (an Enum
 * member's hash is a Python-level call). Borrowed. */
static PyObject *action_name(PyObject *action_value, PyObject *action) {
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(action_value, &pos, &k, &v))
        if (k == action)
            return v;
    v = PyDict_GetItemWithError(action_value, action);
    if (v == NULL && !PyErr_Occurred())
        PyErr_SetObject(PyExc_KeyError, action);
    return v;
}

/* operators._round(x, n)'s arithmetic (the same IEEE operations in the same order): 1
 * with *out set, 0 when round() itself must decide (n outside 0-3, large values, near
 * ties, NaN, infinities). */
static int round_fast(double x, long n, double *out) {
    if (n < 0 || n > 3)
        return 0;
    double a = fabs(x);
    double p = n == 2 ? 100.0 : n == 3 ? 1000.0 : n == 1 ? 10.0 : 1.0;
    double y = a * p;
    if (!(y < 1e9))
        return 0;
    double fl = floor(y);
    double frac = y - fl;
    if (frac < 0.499999) {
        *out = copysign(fl / p, x);
        return 1;
    }
    if (frac > 0.500001) {
        *out = copysign((fl + 1.0) / p, x);
        return 1;
    }
    return 0;
}

/* A masked latitude/longitude held in two fields of parent (a dict): both floats rounded
 * to n decimals in place (Masker.number), 1; 0 when it is not that case or round() must
 * decide (the hit is then left to the Python rewrite, which gives the same numbers);
 * -1 error. */
static int mask_geo_fields(PyObject *parent, PyObject *lat_k, PyObject *lng_k, long n) {
    PyObject *a = PyDict_GetItemWithError(parent, lat_k), *b = a == NULL ? NULL : PyDict_GetItemWithError(parent, lng_k);
    if (b == NULL)
        return PyErr_Occurred() ? -1 : 0;
    double ra, rb;
    if (!PyFloat_CheckExact(a) || !PyFloat_CheckExact(b) || !round_fast(PyFloat_AS_DOUBLE(a), n, &ra) ||
        !round_fast(PyFloat_AS_DOUBLE(b), n, &rb))
        return 0;
    PyObject *fa = PyFloat_FromDouble(ra), *fb = fa == NULL ? NULL : PyFloat_FromDouble(rb);
    int r = fb == NULL || PyDict_SetItem(parent, lat_k, fa) < 0 || PyDict_SetItem(parent, lng_k, fb) < 0 ? -1 : 1;
    Py_XDECREF(fa);
    Py_XDECREF(fb);
    return r;
}

static PyObject *tally(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if ((nargs != 13 && nargs != 14) || !PyLong_CheckExact(args[12]) || !PyList_CheckExact(args[0]) || !PyDict_CheckExact(args[1]) || !PyDict_CheckExact(args[2]) ||
        !PyDict_CheckExact(args[4]) || !PyDict_Check(args[9]) || !PyDict_Check(args[10]) ||
        !(args[8] == Py_None ||
          (PyUnicode_Check(args[8]) && PyUnicode_IS_ASCII(args[8]) && PyUnicode_GET_LENGTH(args[8]) == 1))) {
        PyErr_SetString(PyExc_TypeError, "tally(hits, spi_cache, plain_cache, get, action_value, allow, mask, geo, "
                                         "mask_char, keep_last, shapes, mask_fn, geo_decimals[, with_summary])");
        return NULL;
    }
    int with_summary = nargs == 14 ? PyObject_IsTrue(args[13]) : 0;
    if (with_summary < 0)
        return NULL;
    int cached = 0, memo_missed = 0;
    PyObject *hits = args[0], *cache_spi = args[1], *cache_plain = args[2], *get = args[3];
    PyObject *action_value = args[4], *allow = args[5], *mask = args[6], *geo = args[7], *mask_char = args[8],
             *keep_last = args[9], *shapes = args[10], *mask_fn = args[11];
    long geo_decimals = PyLong_AsLong(args[12]);
    if (geo_decimals == -1 && PyErr_Occurred())
        return NULL;
    Kind local[16];
    Kind *kinds = local;
    Count *counts = NULL;
    Py_ssize_t nk = 0, cap = 16, spi_total = 0;
    PyObject *result = NULL, *ents = NULL, *cats = NULL, *acts = NULL;
    PyObject *rest = PyList_New(0);
    if (rest == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(hits); i++) {
        PyObject *h = PyList_GET_ITEM(hits, i);
        if (!PyTuple_CheckExact(h) || PyTuple_GET_SIZE(h) != 8) {
            PyErr_SetString(PyExc_TypeError, "a hit must be an 8-tuple");
            goto done;
        }
        Py_INCREF(h);
        PyObject *entity = PyTuple_GET_ITEM(h, 3);
        PyObject *flag = PyTuple_GET_ITEM(h, 4);
        int hspi = flag == Py_True ? 1 : flag == Py_False ? 0 : PyObject_IsTrue(flag);
        PyObject *d = NULL;
        int r = -1;
        if (hspi < 0)
            goto hit_done;
        if (decision_memo.spi_cache == cache_spi && decision_memo.plain_cache == cache_plain) {
            for (Py_ssize_t j = 0; j < decision_memo.n; j++) {
                if (decision_memo.entity[j] == entity && decision_memo.spi[j] == hspi) {
                    d = Py_NewRef(decision_memo.decision[j]);
                    break;
                }
            }
        }
        if (d == NULL) {
            memo_missed = 1;
            d = PyDict_GetItemWithError(hspi ? cache_spi : cache_plain, entity);
            if (d != NULL)
                Py_INCREF(d);
            else if (PyErr_Occurred() || (d = PyObject_CallOneArg(get, h)) == NULL)
                goto hit_done;
        }
        if (!PyTuple_CheckExact(d) || PyTuple_GET_SIZE(d) != 4) {
            PyErr_SetString(PyExc_TypeError, "a decision must be a 4-tuple");
            goto hit_done;
        }
        /* the kind of (entity, spi flag), as _tally's at_spi / at_plain dicts find it (the
         * decision's entity is the name its cache entry was made for) */
        Py_ssize_t k = 0;
        for (; k < nk; k++) {
            if (kinds[k].spi != hspi)
                continue;
            PyObject *e = PyTuple_GET_ITEM(kinds[k].decision, 3);
            int same = same_key(e, entity);
            if (same < 0)
                goto hit_done;
            if (same)
                break;
        }
        if (k < nk) {
            kinds[k].n++;
        } else {
            if (nk == cap) {
                Kind *more = PyMem_Malloc(sizeof(Kind) * (size_t)cap * 2);
                if (more == NULL) {
                    PyErr_NoMemory();
                    goto hit_done;
                }
                memcpy(more, kinds, sizeof(Kind) * (size_t)nk);
                if (kinds != local)
                    PyMem_Free(kinds);
                kinds = more;
                cap *= 2;
            }
            kinds[nk].decision = Py_NewRef(d);
            kinds[nk].spi = hspi;
            kinds[nk].n = 1;
            kinds[nk].entity = Py_NewRef(entity);
            nk++;
        }
        PyObject *action = PyTuple_GET_ITEM(d, 2);
        if (action == allow) {
            r = 0;
            goto hit_done;
        }
        PyObject *parent = PyTuple_GET_ITEM(h, 0);
        if (action == mask && PyTuple_GET_ITEM(h, 5) == Py_None && PyTuple_GET_ITEM(h, 7) == Py_None &&
            parent != Py_None) {
            PyObject *key = PyTuple_GET_ITEM(h, 1);
            PyObject *value = PyObject_GetItem(parent, key);
            if (value == NULL)
                goto hit_done;
            int whole = 0;
            if (PyUnicode_CheckExact(value)) {
                whole = PyObject_RichCompareBool(entity, geo, Py_NE);
                if (whole < 0) {
                    Py_DECREF(value);
                    goto hit_done;
                }
            }
            if (whole) {
                PyObject *masked = mask_whole(value, entity, mask_char, keep_last, shapes, mask_fn);
                Py_DECREF(value);
                if (masked == NULL)
                    goto hit_done;
                r = PyObject_SetItem(parent, key, masked);
                Py_DECREF(masked);
                goto hit_done;
            }
            Py_DECREF(value);
        }
        PyObject *extra = PyTuple_GET_ITEM(h, 7);
        if (action == mask && PyTuple_GET_ITEM(h, 5) == Py_None && PyUnicode_CheckExact(extra) &&
            PyDict_CheckExact(parent)) {
            /* a latitude/longitude pair in two fields (extra: the lng key) */
            int pair = same_key(entity, geo);
            if (pair > 0)
                pair = mask_geo_fields(parent, PyTuple_GET_ITEM(h, 1), extra, geo_decimals);
            if (pair < 0)
                goto hit_done;
            if (pair) {
                r = 0;
                goto hit_done;
            }
        }
        r = PyList_Append(rest, h);
    hit_done:
        Py_XDECREF(d);
        Py_DECREF(h);
        if (r < 0)
            goto done;
    }
    if (memo_missed || decision_memo.spi_cache != cache_spi || decision_memo.plain_cache != cache_plain)
        decision_memo_set(cache_spi, cache_plain, kinds, nk);
    if (nk == kind_cache.nk && action_value == kind_cache.action_value && count_cache[0].dict != NULL &&
        count_cache[1].dict != NULL && count_cache[2].dict != NULL) {
        Py_ssize_t k = 0;
        while (k < nk && kinds[k].decision == kind_cache.decision[k] && kinds[k].spi == kind_cache.spi[k] &&
               kinds[k].n == kind_cache.n[k])
            k++;
        if (k == nk) {
            /* the same kinds as the last count: its dicts, copied */
            spi_total = kind_cache.spi_total;
            if ((ents = PyDict_Copy(count_cache[0].dict)) == NULL || (cats = PyDict_Copy(count_cache[1].dict)) == NULL ||
                (acts = PyDict_Copy(count_cache[2].dict)) == NULL)
                goto done;
            cached = 1;
            goto pack;
        }
    }
    kind_cache_clear();
    /* Annotations.add per kind, in order of first appearance: the three dicts' keys in
     * the order their first kind comes, each count the sum over its kinds */
    if (nk > 0 && (counts = PyMem_Malloc(sizeof(Count) * (size_t)nk * 3)) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* no pointer arithmetic on NULL (nk == 0: counts stays NULL and nothing is counted) */
    Count *ce = counts, *cc = nk > 0 ? counts + nk : NULL, *ca = nk > 0 ? counts + 2 * nk : NULL;
    Py_ssize_t ne = 0, nc = 0, na = 0;
    for (Py_ssize_t k = 0; k < nk; k++) {
        PyObject *d = kinds[k].decision;
        Py_ssize_t n = kinds[k].n;
        int spi = PyObject_IsTrue(PyTuple_GET_ITEM(d, 1));
        if (spi < 0 || count_add(ce, &ne, PyTuple_GET_ITEM(d, 3), n) < 0 ||
            count_add(cc, &nc, PyTuple_GET_ITEM(d, 0), n) < 0)
            goto done;
        if (spi)
            spi_total += n;
        PyObject *av = action_name(action_value, PyTuple_GET_ITEM(d, 2));
        if (av == NULL || count_add(ca, &na, av, n) < 0)
            goto done;
    }
    /* (the counts' keys are borrowed from the decisions and action_value, alive until here) */
    if ((ents = cached_count_dict(&count_cache[0], ce, ne)) == NULL ||
        (cats = cached_count_dict(&count_cache[1], cc, nc)) == NULL ||
        (acts = cached_count_dict(&count_cache[2], ca, na)) == NULL)
        goto done;
    if (nk <= COUNT_CACHE_KEYS) {
        /* count_cache now holds these kinds' dicts (ne, nc, na <= nk: none was too long).
         * Cleared again first: Python code (a key's hash or comparison) may have run another
         * tally since the clear above; its entries would otherwise leak (never miscount) */
        kind_cache_clear();
        for (Py_ssize_t k = 0; k < nk; k++) {
            kind_cache.decision[k] = Py_NewRef(kinds[k].decision);
            kind_cache.spi[k] = kinds[k].spi;
            kind_cache.n[k] = kinds[k].n;
        }
        kind_cache.action_value = Py_NewRef(action_value);
        kind_cache.spi_total = spi_total;
        kind_cache.nk = nk;
    }
pack:;
    PyObject *spi_n = PyLong_FromSsize_t(spi_total);
    if (spi_n != NULL && with_summary) {
        /* The decision text of these counts: only when they are the cached kinds' (their
         * text is then made once for them); None otherwise (the caller makes it). */
        PyObject *text = Py_None;
        if (cached) {
            if (kind_cache.summary == NULL) {
                kind_cache.summary = summary_ascii(ents, spi_n, acts);
                if (kind_cache.summary == NULL && PyErr_Occurred()) {
                    Py_DECREF(spi_n);
                    goto done;
                }
            }
            if (kind_cache.summary != NULL)
                text = kind_cache.summary;
        }
        result = PyTuple_Pack(6, ents, cats, spi_n, acts, rest, text);
        Py_DECREF(spi_n);
    } else if (spi_n != NULL) {
        result = PyTuple_Pack(5, ents, cats, spi_n, acts, rest);
        Py_DECREF(spi_n);
    }
done:
    Py_XDECREF(ents);
    Py_XDECREF(cats);
    Py_XDECREF(acts);
    PyMem_Free(counts);
    for (Py_ssize_t k = 0; k < nk; k++) {
        Py_DECREF(kinds[k].decision);
        Py_DECREF(kinds[k].entity);
    }
    if (kinds != local)
        PyMem_Free(kinds);
    Py_DECREF(rest);
    return result;
}

/* summary(entities, spi, actions) -> str: filters/pii/fastpath.summary (the reference;
 * tests compare both): "found=<sum of entities' counts> spi=<spi>" and " <action>=<count>"
 * per action in sorted order. */
static int write_str_of(_PyUnicodeWriter *w, PyObject *x) {
    PyObject *s = PyObject_Str(x);
    if (s == NULL)
        return -1;
    int r = _PyUnicodeWriter_WriteStr(w, s);
    Py_DECREF(s);
    return r;
}

/* an exact int that fits in a long long into *out; 0 when it is not one */
static int small_int(PyObject *x, long long *out) {
    if (!PyLong_CheckExact(x))
        return 0;
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(x, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *out = v;
    return 1;
}

/* the decimal digits of v at p (which has room for 21 bytes); returns the end */
static char *put_int(char *p, long long v) {
    char tmp[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *p++ = '-';
    while (n)
        *p++ = tmp[--n];
    return p;
}

#define SUMMARY_NAMES 8
#define SUMMARY_BYTES 512

/* summary() for the common case, into a stack buffer: exact ints that fit in a long long
 * (their sum too), at most SUMMARY_NAMES actions with short ASCII names. NULL without an
 * error when the case is not that one (the generic code below answers). */
static PyObject *summary_ascii(PyObject *entities, PyObject *spi, PyObject *actions) {
    long long total = 0, x, spi_n;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(entities, &pos, &k, &v)) {
        if (!small_int(v, &x) || (x > 0 && total > LLONG_MAX - x) || (x < 0 && total < LLONG_MIN - x))
            return NULL;
        total += x;
    }
    if (!small_int(spi, &spi_n) || PyDict_GET_SIZE(actions) > SUMMARY_NAMES)
        return NULL;
    PyObject *names[SUMMARY_NAMES];
    long long counts[SUMMARY_NAMES];
    Py_ssize_t nn = 0, room = 0;
    pos = 0;
    while (PyDict_Next(actions, &pos, &k, &v)) {
        if (!PyUnicode_CheckExact(k) || !PyUnicode_IS_ASCII(k) || PyUnicode_GET_LENGTH(k) > 40 ||
            !small_int(v, &x))
            return NULL;
        /* insertion sort by code point (ASCII: bytes), as list.sort orders str */
        Py_ssize_t i = nn++;
        const char *kd = (const char *)PyUnicode_1BYTE_DATA(k);
        Py_ssize_t kl = PyUnicode_GET_LENGTH(k);
        while (i > 0) {
            PyObject *o = names[i - 1];
            Py_ssize_t ol = PyUnicode_GET_LENGTH(o);
            int c = memcmp(PyUnicode_1BYTE_DATA(o), kd, (size_t)(ol < kl ? ol : kl));
            if (c < 0 || (c == 0 && ol <= kl))
                break;
            names[i] = o;
            counts[i] = counts[i - 1];
            i--;
        }
        names[i] = k;
        counts[i] = x;
        room += kl + 23;
    }
    if (room + 60 > SUMMARY_BYTES)
        return NULL;
    char buf[SUMMARY_BYTES];
    char *p = buf;
    memcpy(p, "found=", 6);
    p = put_int(p + 6, total);
    memcpy(p, " spi=", 5);
    p = put_int(p + 5, spi_n);
    for (Py_ssize_t i = 0; i < nn; i++) {
        Py_ssize_t kl = PyUnicode_GET_LENGTH(names[i]);
        *p++ = ' ';
        memcpy(p, PyUnicode_1BYTE_DATA(names[i]), (size_t)kl);
        p += kl;
        *p++ = '=';
        p = put_int(p, counts[i]);
    }
    PyObject *out = PyUnicode_New(p - buf, 127);
    if (out != NULL)
        memcpy(PyUnicode_1BYTE_DATA(out), buf, (size_t)(p - buf));
    return out;
}

static PyObject *summary(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyDict_Check(args[0]) || !PyDict_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "summary(entities: dict, spi: int, actions: dict)");
        return NULL;
    }
    PyObject *entities = args[0], *spi = args[1], *actions = args[2];
    PyObject *fast = summary_ascii(entities, spi, actions);
    if (fast != NULL || PyErr_Occurred())
        return fast;
    PyObject *total = PyLong_FromLong(0), *names = NULL;
    if (total == NULL)
        return NULL;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(entities, &pos, &k, &v)) {
        Py_INCREF(v);
        PyObject *sum = PyNumber_InPlaceAdd(total, v);
        Py_DECREF(v);
        Py_DECREF(total);
        if ((total = sum) == NULL)
            return NULL;
    }
    _PyUnicodeWriter w;
    _PyUnicodeWriter_Init(&w);
    w.overallocate = 1;
    if (_PyUnicodeWriter_WriteASCIIString(&w, "found=", 6) < 0 || write_str_of(&w, total) < 0 ||
        _PyUnicodeWriter_WriteASCIIString(&w, " spi=", 5) < 0 || write_str_of(&w, spi) < 0)
        goto fail;
    if ((names = PyDict_Keys(actions)) == NULL || PyList_Sort(names) < 0)
        goto fail;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(names); i++) {
        PyObject *a = PyList_GET_ITEM(names, i);
        PyObject *n = PyDict_GetItemWithError(actions, a);
        if (n == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetObject(PyExc_KeyError, a);
            goto fail;
        }
        Py_INCREF(n);
        int r = _PyUnicodeWriter_WriteChar(&w, ' ') < 0 || write_str_of(&w, a) < 0 ||
                _PyUnicodeWriter_WriteChar(&w, '=') < 0 || write_str_of(&w, n) < 0;
        Py_DECREF(n);
        if (r)
            goto fail;
    }
    Py_DECREF(total);
    Py_DECREF(names);
    return _PyUnicodeWriter_Finish(&w);
fail:
    Py_DECREF(total);
    Py_XDECREF(names);
    _PyUnicodeWriter_Dealloc(&w);
    return NULL;
}

/* ------------------------------------------------------------------ value matchers
 *
 * value_matcher(kind, fallback, extra) -> matcher(value) -> bool: a telling key's
 * validator (the recognizer's match_value, which is ``fallback``) answered in C for the
 * common shape of its values, and by ``fallback`` for everything else. The walk calls
 * one per value under a telling key; a compiled method call and its regex cost ~4k
 * instructions there. Only ASCII values without surrounding whitespace are answered here
 * (``value.strip()`` is then the value itself); each answer is the Python method's (tests
 * compare both on random and shaped values):
 *
 *   1  UsSsnRecognizer.match_value: len <= 11, _VALUE.fullmatch, not in extra
 *      (validators.SSN_ADVERTISING, a set of 9-digit strings);
 *   2  DateOfBirthRecognizer.match_value (validators.dob_plausible) for YYYY-MM-DD only:
 *      a real date, not before 1900-01-01, and in a year before extra
 *      (validators._YEAR_AT_IMPORT); a later year and every other shape: fallback;
 *   3  CreditCardRecognizer.match_value: len <= 23, _SHAPE.fullmatch, luhn_valid;
 *   4  PersonRecognizer.match_value's ASCII path (extra: recognizers._NAME_PUNCT_BYTES);
 *   5  PhoneRecognizer.match_value: 7 <= len <= 32, a digit, validators.phone_valid (region
 *      US) where phone_nanp answers (North American numbers); a "+" number of another
 *      country: fallback (phonenumbers' metadata, in Python);
 *   6  StreetAddressRecognizer.match_value: 3 <= len <= 300 and an ASCII letter;
 *   7  EmailRecognizer.match_value: validators.email_valid (email_valid below).
 */
#define MATCH_FALLBACK (-1)
#define MATCH_ERROR (-2)

static int digits_at(const Py_UCS1 *s, Py_ssize_t from, Py_ssize_t to) {
    for (Py_ssize_t i = from; i < to; i++)
        if (!IS_DIGIT(s[i]))
            return 0;
    return 1;
}

/* (?!000|666|9)[0-9]{3}([- ]?)(?!00)[0-9]{2}\1(?!0000)[0-9]{4}, whole value */
static int ssn_fast(const Py_UCS1 *s, Py_ssize_t n, PyObject *advertising) {
    if (n > 11 || n < 9 || !digits_at(s, 0, 3) || s[0] == '9' || (s[0] == '0' && s[1] == '0' && s[2] == '0') ||
        (s[0] == '6' && s[1] == '6' && s[2] == '6'))
        return 0;
    Py_ssize_t p = 3;
    Py_UCS1 sep = 0;
    if (s[3] == '-' || s[3] == ' ')
        sep = s[p++];
    if (p + 2 > n || !digits_at(s, p, p + 2) || (s[p] == '0' && s[p + 1] == '0'))
        return 0;
    char group[9] = {s[0], s[1], s[2], (char)s[p], (char)s[p + 1]};
    p += 2;
    if (sep) {
        if (p >= n || s[p] != sep)
            return 0;
        p++;
    }
    if (p + 4 != n || !digits_at(s, p, n) || (s[p] == '0' && s[p + 1] == '0' && s[p + 2] == '0' && s[p + 3] == '0'))
        return 0;
    memcpy(group + 5, s + p, 4);
    if (PyBytes_CheckExact(advertising)) {
        /* the frozenset's 9-digit strings, concatenated (value_matcher) */
        const char *listed = PyBytes_AS_STRING(advertising);
        for (Py_ssize_t i = 0; i + 9 <= PyBytes_GET_SIZE(advertising); i += 9)
            if (memcmp(listed + i, group, 9) == 0)
                return 0;
        return 1;
    }
    PyObject *digits = PyUnicode_FromStringAndSize(group, 9);
    if (digits == NULL)
        return MATCH_ERROR;
    int listed = PySet_Contains(advertising, digits);
    Py_DECREF(digits);
    return listed < 0 ? MATCH_ERROR : !listed;
}

static int days_in_month(long y, long m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
        return 29;
    return days[m - 1];
}

static int dob_fast(const Py_UCS1 *s, Py_ssize_t n, PyObject *year_at_import) {
    if (n != 10 || s[4] != '-' || s[7] != '-' || !digits_at(s, 0, 4) || !digits_at(s, 5, 7) || !digits_at(s, 8, 10))
        return MATCH_FALLBACK;
    long y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    long m = (s[5] - '0') * 10 + (s[6] - '0');
    long d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return 0; /* date() raises: parse_date answers None */
    if (y < 1900)
        return 0;
    long before = PyLong_AsLong(year_at_import);
    if (before == -1 && PyErr_Occurred())
        return MATCH_ERROR;
    return y < before ? 1 : MATCH_FALLBACK; /* this year or later: the clock decides, in Python */
}

static int luhn_digits(const Py_UCS1 *s, Py_ssize_t n) {
    int total = 0, k = 0;
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        if (!IS_DIGIT(s[i]))
            continue;
        int x = s[i] - '0';
        if (k++ % 2 == 1) {
            x *= 2;
            if (x > 9)
                x -= 9;
        }
        total += x;
    }
    return k >= 13 && k <= 19 && total % 10 == 0;
}

/* _SHAPE = \d{4}([ -])\d{4}\1\d{4}\1\d{1,7} | \d{4}([ -])\d{6}\2\d{4,5} | \d{13,19}, whole value */
static int card_fast(const Py_UCS1 *s, Py_ssize_t n) {
    if (n > 23)
        return 0;
    int shape = 0;
    if (n >= 13 && n <= 19 && digits_at(s, 0, n))
        shape = 1;
    else if (n >= 16 && digits_at(s, 0, 4) && (s[4] == ' ' || s[4] == '-')) {
        Py_UCS1 sep = s[4];
        if (n <= 22 && digits_at(s, 5, 9) && s[9] == sep && digits_at(s, 10, 14) && s[14] == sep &&
            digits_at(s, 15, n))
            shape = 1;
        else if (n <= 17 && digits_at(s, 5, 11) && s[11] == sep && digits_at(s, 12, n))
            shape = 1;
    }
    return shape && luhn_digits(s, n);
}

/* PersonRecognizer.match_value's ASCII path: 1-5 words split by single spaces, each
 * starting with a letter, made of letters and the characters of punct after it. */
static int person_fast(const Py_UCS1 *s, Py_ssize_t n, PyObject *punct) {
    const char *pd = PyBytes_AS_STRING(punct);
    size_t pn = (size_t)PyBytes_GET_SIZE(punct);
    if (n < 2 || n > 80 || !(IS_UPPER(s[0]) || IS_LOWER(s[0])) || s[n - 1] == ' ')
        return 0;
    int spaces = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS1 c = s[i];
        if (c == ' ') {
            if (++spaces > 4)
                return 0;
            Py_UCS1 next = i + 1 < n ? s[i + 1] : 0;
            if (next == ' ' || next == '\'' || next == '.' || next == '-')
                return 0;
        }
        if (!(IS_UPPER(c) || IS_LOWER(c)) && memchr(pd, c, pn) == NULL)
            return 0;
    }
    return 1;
}

static int nanp_ascii(const Py_UCS1 *s, Py_ssize_t lo, Py_ssize_t hi);
static int email_ascii(const Py_UCS1 *s, Py_ssize_t n);

/* PhoneRecognizer.match_value for an ASCII value without surrounding whitespace */
static int phone_fast(const Py_UCS1 *s, Py_ssize_t n) {
    if (n < 7 || n > 32)
        return 0;
    Py_ssize_t i = 0;
    while (i < n && !IS_DIGIT(s[i]))
        i++;
    if (i == n)
        return 0; /* _DIGIT.search(s) is None */
    int r = nanp_ascii(s, 0, n);
    return r < 0 ? MATCH_FALLBACK : r;
}

/* StreetAddressRecognizer.match_value for an ASCII value without surrounding whitespace */
static int address_fast(const Py_UCS1 *s, Py_ssize_t n) {
    if (n < 3 || n > 300)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (IS_UPPER(s[i]) || IS_LOWER(s[i]))
            return 1;
    return 0;
}

/* The C answer for value: 0 or 1, MATCH_FALLBACK (the fallback decides) or MATCH_ERROR. */
static int match_try(PyObject *self, PyObject *value) {
    /* self: (kind, fallback, extra), see value_matcher */
    if (PyUnicode_CheckExact(value) && PyUnicode_IS_ASCII(value) && PyUnicode_GET_LENGTH(value) > 0) {
        const Py_UCS1 *s = PyUnicode_1BYTE_DATA(value);
        Py_ssize_t n = PyUnicode_GET_LENGTH(value);
        if (!Py_UNICODE_ISSPACE(s[0]) && !Py_UNICODE_ISSPACE(s[n - 1])) {
            long kind = small_code(PyTuple_GET_ITEM(self, 0));
            PyObject *extra = PyTuple_GET_ITEM(self, 2);
            return kind == 1 ? ssn_fast(s, n, extra) : kind == 2 ? dob_fast(s, n, extra)
                 : kind == 3 ? card_fast(s, n) : kind == 4 ? person_fast(s, n, extra)
                 : kind == 5 ? phone_fast(s, n) : kind == 6 ? address_fast(s, n)
                 : kind == 7 ? n <= 254 && email_ascii(s, n) : MATCH_FALLBACK;
        }
    }
    return MATCH_FALLBACK;
}

static PyObject *match_fast(PyObject *self, PyObject *value) {
    int r = match_try(self, value);
    if (r == MATCH_ERROR)
        return NULL;
    if (r != MATCH_FALLBACK)
        return PyBool_FromLong(r);
    return PyObject_CallOneArg(PyTuple_GET_ITEM(self, 1), value);
}

/* match_fast(self, value)'s truth: 1, 0 or -1 (an error set), without the bool. */
static int match_int(PyObject *self, PyObject *value) {
    int r = match_try(self, value);
    if (r == MATCH_ERROR)
        return -1;
    if (r != MATCH_FALLBACK)
        return r;
    return call_truth(PyObject_CallOneArg(PyTuple_GET_ITEM(self, 1), value));
}

static PyMethodDef match_fast_def = {"value_match", match_fast, METH_O,
                                     "value_match(value) -> bool: a recognizer's match_value (see value_matcher)."};

static PyObject *value_matcher(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyLong_CheckExact(args[0]) || !PyCallable_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "value_matcher(kind: int, fallback: callable, extra)");
        return NULL;
    }
    long kind = PyLong_AsLong(args[0]);
    if ((kind == 1 && !PyAnySet_Check(args[2])) || (kind == 2 && !PyLong_CheckExact(args[2])) ||
        (kind == 4 && !PyBytes_CheckExact(args[2])) || kind < 1 || kind > 7) {
        PyErr_SetString(PyExc_ValueError,
                        "value_matcher: kind 1 (extra: set), 2 (extra: int), 3, 4 (extra: bytes), 5, 6 or 7");
        return NULL;
    }
    PyObject *extra = Py_NewRef(args[2]);
    if (kind == 1 && PyFrozenSet_CheckExact(extra)) {
        /* A frozenset of 9-digit ASCII strings (validators.SSN_ADVERTISING) as one bytes
         * object of them, concatenated: ssn_fast then compares 9 bytes per entry instead
         * of making a str to look up (it cannot change: frozen). Any other entry: the set. */
        Py_ssize_t n = PySet_GET_SIZE(extra), pos = 0, i = 0;
        Py_hash_t hash;
        PyObject *item, *packed = PyBytes_FromStringAndSize(NULL, n * 9);
        if (packed == NULL) {
            Py_DECREF(extra);
            return NULL;
        }
        while (i < n && _PySet_NextEntry(extra, &pos, &item, &hash)) {
            if (!PyUnicode_CheckExact(item) || !PyUnicode_IS_ASCII(item) || PyUnicode_GET_LENGTH(item) != 9 ||
                !digits_at(PyUnicode_1BYTE_DATA(item), 0, 9))
                break;
            memcpy(PyBytes_AS_STRING(packed) + i * 9, PyUnicode_1BYTE_DATA(item), 9);
            i++;
        }
        if (i == n)
            Py_SETREF(extra, packed);
        else
            Py_DECREF(packed);
    }
    PyObject *state = PyTuple_Pack(3, args[0], args[1], extra);
    Py_DECREF(extra);
    if (state == NULL)
        return NULL;
    PyObject *fn = PyCFunction_New(&match_fast_def, state);
    Py_DECREF(state);
    return fn;
}

/* ------------------------------------------------------------------ findings and texts
 *
 * findings(hits, segments, segment, category_of, classify, finding_type): scan_json's
 * loop after detection (engine.py, Engine.scan_json without previews, and _path_memo):
 * one Finding per hit, each container's JSON path rendered once per call, segments from
 * and into the engine's bounded cache (the same cache rule as _path_memo).
 *
 * join_texts(texts, refs, limit[, quiet]) and map_hits(found, starts, refs, hits): the two
 * halves of Engine._scan_texts around the scanner; the Python method is the reference.
 * With quiet true (the engine has no custom recognizers), join_texts also answers None
 * when TextScanner.scan could find nothing in the joined text: no candidate of the
 * prefilter (candidates() would return []), no "@" (e-mail), no ":" (IPv6) and no
 * sentence (names and dates of birth are searched only there). scan() has no other pass;
 * a new one must be added to this test.
 */
#define SEGMENT_CACHE 20000

static PyObject *S_DOLLAR; /* "$" */
static PyObject *S_PATTERN; /* "pattern" */
static PyObject *S_SEP; /* "\0" */

/* engine._path_memo's memo: the rendered path of each container location (by identity,
 * like its id() keys). A document's findings sit in a few dozen containers, so the most
 * recent MEMO_SLOTS are searched in an array (no int object or dict per lookup), newest
 * first; more spill into a dict keyed by address. The locations are borrowed: the hits
 * hold them for the whole call. */
#define MEMO_SLOTS 64

typedef struct {
    PyObject *locs[MEMO_SLOTS];
    PyObject *paths[MEMO_SLOTS]; /* owned */
    int n;
    PyObject *spill; /* dict, or NULL */
} Memo;

/* A new reference to the path memoized for loc, NULL (no error) if none, or NULL with an error. */
static PyObject *memo_get(Memo *m, PyObject *loc) {
    for (int i = m->n - 1; i >= 0; i--)
        if (m->locs[i] == loc)
            return Py_NewRef(m->paths[i]);
    if (m->spill == NULL)
        return NULL;
    PyObject *id = PyLong_FromVoidPtr(loc);
    if (id == NULL)
        return NULL;
    PyObject *path = PyDict_GetItemWithError(m->spill, id);
    Py_DECREF(id);
    return Py_XNewRef(path);
}

static int memo_put(Memo *m, PyObject *loc, PyObject *path) {
    if (m->n < MEMO_SLOTS) {
        m->locs[m->n] = loc;
        m->paths[m->n] = Py_NewRef(path);
        m->n++;
        return 0;
    }
    if (m->spill == NULL && (m->spill = PyDict_New()) == NULL)
        return -1;
    PyObject *id = PyLong_FromVoidPtr(loc);
    if (id == NULL)
        return -1;
    int r = PyDict_SetItem(m->spill, id, path);
    Py_DECREF(id);
    return r;
}

static void memo_clear(Memo *m) {
    for (int i = 0; i < m->n; i++)
        Py_DECREF(m->paths[i]);
    m->n = 0;
    Py_CLEAR(m->spill);
}

/* engine._path_memo(loc, memo) */
static PyObject *render(PyObject *loc, Memo *memo, PyObject *segments, PyObject *segment) {
    if (loc == Py_None)
        return Py_NewRef(S_DOLLAR);
    if (!PyTuple_CheckExact(loc) || PyTuple_GET_SIZE(loc) != 2) {
        PyErr_SetString(PyExc_TypeError, "a location is (parent, key) or None");
        return NULL;
    }
    PyObject *parent = PyTuple_GET_ITEM(loc, 0), *key = PyTuple_GET_ITEM(loc, 1);
    PyObject *base;
    if (parent == Py_None) {
        base = Py_NewRef(S_DOLLAR);
    } else {
        base = memo_get(memo, parent);
        if (base == NULL) {
            if (PyErr_Occurred() || (base = render(parent, memo, segments, segment)) == NULL)
                return NULL;
            if (memo_put(memo, parent, base) < 0) {
                Py_DECREF(base);
                return NULL;
            }
        }
    }
    PyObject *seg = PyDict_GetItemWithError(segments, key);
    if (seg != NULL) {
        Py_INCREF(seg);
    } else {
        if (PyErr_Occurred() || (seg = PyObject_CallOneArg(segment, key)) == NULL) {
            Py_DECREF(base);
            return NULL;
        }
        if (PyDict_GET_SIZE(segments) >= SEGMENT_CACHE)
            PyDict_Clear(segments);
        if (PyDict_SetItem(segments, key, seg) < 0) {
            Py_DECREF(base);
            Py_DECREF(seg);
            return NULL;
        }
    }
    PyObject *path = PyUnicode_Concat(base, seg);
    Py_DECREF(base);
    Py_DECREF(seg);
    return path;
}

static PyObject *findings(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6 || !PyList_CheckExact(args[0]) || !PyDict_CheckExact(args[1]) || !PyDict_CheckExact(args[3]) ||
        !PyType_Check(args[5]) || !PyType_IsSubtype((PyTypeObject *)args[5], &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError,
                        "findings(hits: list, segments: dict, segment, category_of: dict, classify, finding_type)");
        return NULL;
    }
    PyObject *hits = args[0], *segments = args[1], *segment = args[2], *category_of = args[3], *classify = args[4];
    PyTypeObject *type = (PyTypeObject *)args[5];
    Py_ssize_t n = PyList_GET_SIZE(hits);
    Memo memo = {.n = 0, .spill = NULL};
    PyObject *out = PyList_New(n);
    if (out == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *h = PyList_GET_ITEM(hits, i);
        if (!PyTuple_CheckExact(h) || PyTuple_GET_SIZE(h) != 8) {
            PyErr_SetString(PyExc_TypeError, "a hit is an 8-tuple");
            goto fail;
        }
        PyObject *entity = PyTuple_GET_ITEM(h, 3), *spi = PyTuple_GET_ITEM(h, 4);
        PyObject *path = render(PyTuple_GET_ITEM(h, 2), &memo, segments, segment);
        if (path == NULL)
            goto fail;
        PyObject *category = PyDict_GetItemWithError(category_of, entity), *classified = NULL;
        if (category != NULL) {
            Py_INCREF(category);
            Py_INCREF(spi);
        } else {
            if (PyErr_Occurred() || (classified = PyObject_CallFunctionObjArgs(classify, entity, spi, NULL)) == NULL) {
                Py_DECREF(path);
                goto fail;
            }
            if (!PyTuple_CheckExact(classified) || PyTuple_GET_SIZE(classified) != 2) {
                PyErr_SetString(PyExc_TypeError, "classify() returns (category, spi)");
                Py_DECREF(classified);
                Py_DECREF(path);
                goto fail;
            }
            category = Py_NewRef(PyTuple_GET_ITEM(classified, 0));
            spi = Py_NewRef(PyTuple_GET_ITEM(classified, 1));
            Py_DECREF(classified);
        }
        /* Finding(path, entity, category, spi, span, source, None), as tuple.__new__ makes it */
        PyObject *f = type->tp_alloc(type, 7);
        if (f == NULL) {
            Py_DECREF(path);
            Py_DECREF(category);
            Py_DECREF(spi);
            goto fail;
        }
        PyTuple_SET_ITEM(f, 0, path);
        PyTuple_SET_ITEM(f, 1, Py_NewRef(entity));
        PyTuple_SET_ITEM(f, 2, category);
        PyTuple_SET_ITEM(f, 3, spi);
        PyTuple_SET_ITEM(f, 4, Py_NewRef(PyTuple_GET_ITEM(h, 5)));
        PyTuple_SET_ITEM(f, 5, Py_NewRef(PyTuple_GET_ITEM(h, 6)));
        PyTuple_SET_ITEM(f, 6, Py_NewRef(Py_None));
        PyList_SET_ITEM(out, i, f);
    }
    memo_clear(&memo);
    return out;
fail:
    memo_clear(&memo);
    Py_XDECREF(out);
    return NULL;
}

/* Engine._scan_texts' skip rule: a UUID (8-4-4-4-12 hex) or an ISO timestamp. */
static int skipped(PyObject *t) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(t);
    int kind = PyUnicode_KIND(t);
    const void *d = PyUnicode_DATA(t);
    if (n == 36) {
        for (Py_ssize_t i = 0; i < 36; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, d, i);
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                if (c != '-')
                    return 0;
            } else if (!(IS_DIGIT(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
                return 0;
            }
        }
        return 1;
    }
    return 19 <= n && n <= 35 && PyUnicode_READ(kind, d, 10) == 'T' && PyUnicode_READ(kind, d, 4) == '-' &&
           PyUnicode_READ(kind, d, 13) == ':';
}

/* Whether candidates() would find a candidate in t (its loop, stopping at the first). */
static int has_candidate(const Text *t) {
    for (Py_ssize_t s = 0; s < t->len; s++) {
        Py_UCS4 c = PyUnicode_READ(t->kind, t->data, s);
        if (!IS_START(c) || (s > 0 && IS_WORD(PyUnicode_READ(t->kind, t->data, s - 1))))
            continue;
        int alt = 0;
        if (match_at(t, s, &alt) >= 0)
            return 1;
    }
    return 0;
}

/* join_texts' work before any Python list is made: the kept texts (strong), where each
 * starts in the joined text, which reference it came from, the sentences, and the joined
 * text (strong). Up to JOIN_LOCAL texts in the struct itself. */
#define JOIN_LOCAL 16
typedef struct {
    Py_ssize_t nkept, nprose;
    PyObject **kept;     /* strong */
    Py_ssize_t *start;   /* kept[i] starts at start[i] */
    Py_ssize_t *ref_at;  /* and came from refs[ref_at[i]] */
    Py_ssize_t *prose;   /* sentences: [prose[2k], prose[2k + 1]) */
    PyObject *joined;    /* strong, or NULL */
    PyObject *local_kept[JOIN_LOCAL];
    Py_ssize_t local_start[JOIN_LOCAL], local_ref[JOIN_LOCAL], local_prose[2 * JOIN_LOCAL];
    void *block; /* the arrays' memory beyond JOIN_LOCAL texts */
} Joined;

static void joined_free(Joined *j) {
    for (Py_ssize_t i = 0; i < j->nkept; i++)
        Py_DECREF(j->kept[i]);
    j->nkept = 0;
    Py_CLEAR(j->joined);
    PyMem_Free(j->block);
    j->block = NULL;
}

/* join_texts' loop into j (j->joined and the arrays): 1 joined; 0 nothing to scan (no text
 * kept, or with quiet, nothing the scanner could find); -1 error. j is always freed with
 * joined_free afterwards. */
static int join_core(PyObject *texts, PyObject *refs, Py_ssize_t limit, int quiet, Joined *j) {
    Py_ssize_t n_in = PyList_GET_SIZE(texts);
    j->nkept = j->nprose = 0;
    j->joined = NULL;
    j->block = NULL;
    j->kept = j->local_kept;
    j->start = j->local_start;
    j->ref_at = j->local_ref;
    j->prose = j->local_prose;
    if (n_in > JOIN_LOCAL) {
        /* kept, start, ref_at and prose (two per text) in one block */
        size_t n = (size_t)n_in;
        if (n > PY_SSIZE_T_MAX / (5 * sizeof(Py_ssize_t)) ||
            (j->block = PyMem_Malloc(n * sizeof(PyObject *) + 4 * n * sizeof(Py_ssize_t))) == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        j->kept = (PyObject **)j->block;
        j->start = (Py_ssize_t *)(j->kept + n);
        j->ref_at = j->start + n;
        j->prose = j->ref_at + n;
    }
    Py_ssize_t pos = 0;
    for (Py_ssize_t i = 0; i < n_in; i++) {
        PyObject *t = PyList_GET_ITEM(texts, i);
        if (!PyUnicode_Check(t)) {
            PyErr_SetString(PyExc_TypeError, "texts must be str");
            return -1;
        }
        if (skipped(t))
            continue;
        Py_ssize_t n = PyUnicode_GET_LENGTH(t);
        PyObject *cut;
        if (n > limit) {
            cut = PyUnicode_Substring(t, 0, limit);
            n = limit;
        } else {
            cut = Py_NewRef(t);
        }
        if (cut == NULL)
            return -1;
        j->kept[j->nkept] = cut; /* (the reference moves to kept) */
        j->start[j->nkept] = pos;
        j->ref_at[j->nkept] = i;
        j->nkept++;
        if (n > 20) {
            /* sentences: the only place context-driven passes (names, birth dates) look */
            Py_ssize_t space = PyUnicode_FindChar(cut, ' ', 0, n, 1);
            if (space == -2)
                return -1;
            if (space >= 0) {
                j->prose[2 * j->nprose] = pos;
                j->prose[2 * j->nprose + 1] = pos + n;
                j->nprose++;
            }
        }
        pos += n + 1;
    }
    if (j->nkept == 0)
        return 0;
    j->joined = j->nkept == 1 ? Py_NewRef(j->kept[0]) : _PyUnicode_JoinArray(S_SEP, j->kept, j->nkept);
    if (j->joined == NULL)
        return -1;
    if (quiet && j->nprose == 0) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(j->joined);
        Py_ssize_t at = PyUnicode_FindChar(j->joined, '@', 0, n, 1);
        Py_ssize_t colon = at == -1 ? PyUnicode_FindChar(j->joined, ':', 0, n, 1) : at;
        if (at == -2 || colon == -2)
            return -1;
        if (at == -1 && colon == -1) {
            Text t = {PyUnicode_KIND(j->joined), PyUnicode_DATA(j->joined), n};
            if (!has_candidate(&t))
                return 0; /* nothing the scanner could find */
        }
    }
    return 1;
}

/* (joined, starts, prose, kept_refs): join_texts' answer from j */
static PyObject *join_pack(const Joined *j, PyObject *refs) {
    PyObject *starts = PyList_New(j->nkept), *prose = PyList_New(j->nprose), *kept_refs = PyList_New(j->nkept);
    PyObject *result = NULL;
    if (starts == NULL || prose == NULL || kept_refs == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < j->nkept; i++) {
        PyObject *start = PyLong_FromSsize_t(j->start[i]);
        if (start == NULL)
            goto done;
        PyList_SET_ITEM(starts, i, start);
        PyList_SET_ITEM(kept_refs, i, Py_NewRef(PyList_GET_ITEM(refs, j->ref_at[i])));
    }
    for (Py_ssize_t k = 0; k < j->nprose; k++) {
        PyObject *range = pair(j->prose[2 * k], j->prose[2 * k + 1]);
        if (range == NULL)
            goto done;
        PyList_SET_ITEM(prose, k, range);
    }
    /* (joined, starts, prose, kept_refs) without Py_BuildValue's format parsing */
    PyObject *items[4] = {j->joined, starts, prose, kept_refs};
    result = tuple_of(items, 4);
done:
    Py_XDECREF(starts);
    Py_XDECREF(prose);
    Py_XDECREF(kept_refs);
    return result;
}

static int join_args(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t *limit, int *quiet) {
    if ((nargs != 3 && nargs != 4) || !PyList_CheckExact(args[0]) || !PyList_CheckExact(args[1]) ||
        PyList_GET_SIZE(args[0]) != PyList_GET_SIZE(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "join_texts(texts: list, refs: list of the same length, limit: int, quiet: bool = False)");
        return -1;
    }
    *quiet = nargs == 4 ? PyObject_IsTrue(args[3]) : 0;
    if (*quiet < 0)
        return -1;
    *limit = PyLong_AsSsize_t(args[2]);
    if (*limit == -1 && PyErr_Occurred())
        return -1;
    return 0;
}

static PyObject *join_texts(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t limit;
    int quiet;
    if (join_args(args, nargs, &limit, &quiet) < 0)
        return NULL;
    Joined j;
    int r = join_core(args[0], args[1], limit, quiet, &j);
    PyObject *result = r < 0 ? NULL : r == 0 ? Py_NewRef(Py_None) : join_pack(&j, args[1]);
    joined_free(&j);
    return result;
}

static PyObject *map_hits(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyList_CheckExact(args[0]) || !PyList_CheckExact(args[1]) || !PyList_CheckExact(args[2]) ||
        !PyList_CheckExact(args[3])) {
        PyErr_SetString(PyExc_TypeError, "map_hits(found: list, starts: list, refs: list, hits: list)");
        return NULL;
    }
    PyObject *found = args[0], *starts = args[1], *refs = args[2], *hits = args[3];
    Py_ssize_t nstarts = PyList_GET_SIZE(starts);
    for (Py_ssize_t j = 0; j < PyList_GET_SIZE(found); j++) {
        PyObject *f = PyList_GET_ITEM(found, j);
        if (!PyTuple_CheckExact(f) || PyTuple_GET_SIZE(f) != 4) {
            PyErr_SetString(PyExc_TypeError, "a scanner hit is (start, end, entity, spi)");
            return NULL;
        }
        Py_ssize_t s = PyLong_AsSsize_t(PyTuple_GET_ITEM(f, 0));
        Py_ssize_t e = PyLong_AsSsize_t(PyTuple_GET_ITEM(f, 1));
        if ((s == -1 || e == -1) && PyErr_Occurred())
            return NULL;
        /* bisect.bisect_right(starts, s) - 1 */
        Py_ssize_t lo = 0, hi = nstarts;
        while (lo < hi) {
            Py_ssize_t mid = (lo + hi) / 2;
            Py_ssize_t v = PyLong_AsSsize_t(PyList_GET_ITEM(starts, mid));
            if (v == -1 && PyErr_Occurred())
                return NULL;
            if (s < v)
                hi = mid;
            else
                lo = mid + 1;
        }
        Py_ssize_t i = lo - 1; /* >= 0: starts[0] is 0 */
        if (i < 0 || i >= PyList_GET_SIZE(refs)) {
            PyErr_SetString(PyExc_IndexError, "a hit before the first value");
            return NULL;
        }
        Py_ssize_t off = PyLong_AsSsize_t(PyList_GET_ITEM(starts, i));
        if (off == -1 && PyErr_Occurred())
            return NULL;
        PyObject *ref = PyList_GET_ITEM(refs, i);
        if (!PyTuple_CheckExact(ref) || PyTuple_GET_SIZE(ref) != 3) {
            PyErr_SetString(PyExc_TypeError, "a reference is (parent, key, loc)");
            return NULL;
        }
        PyObject *parent = PyTuple_GET_ITEM(ref, 0), *key = PyTuple_GET_ITEM(ref, 1), *loc = PyTuple_GET_ITEM(ref, 2);
        PyObject *vloc = parent == Py_None ? Py_NewRef(loc) : PyTuple_Pack(2, loc, key);
        PyObject *span = vloc == NULL ? NULL : pair(s - off, e - off);
        PyObject *h = span == NULL ? NULL
                                   : PyTuple_Pack(8, parent, key, vloc, PyTuple_GET_ITEM(f, 2), PyTuple_GET_ITEM(f, 3),
                                                  span, S_PATTERN, Py_None);
        Py_XDECREF(vloc);
        Py_XDECREF(span);
        if (h == NULL || PyList_Append(hits, h) < 0) {
            Py_XDECREF(h);
            return NULL;
        }
        Py_DECREF(h);
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ e-mail
 *
 * email_valid(value): validators.email_valid, i.e. len(value) <= 254 and
 * validators._EMAIL.fullmatch(value), without sre (a fullmatch of that pattern costs
 * ~3.5k instructions per address). The pattern's classes are all ASCII, so a non-ASCII
 * character never matches. The local part is atext runs joined by single dots and ends
 * at the first "@" (atext has no "@"); the domain is at least one label of 1-63
 * letters, digits and dashes that starts and ends with a letter or digit, each followed
 * by ".", then a top-level domain of 2-24 letters. validators._EMAIL is the reference
 * (tests compare both).
 */
static int is_atext(Py_UCS1 c) {
    return IS_DIGIT(c) || IS_UPPER(c) || IS_LOWER(c) || (c != 0 && strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

static PyObject *email_valid(PyObject *self, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "email_valid() takes a str");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    if (n > 254 || !PyUnicode_IS_ASCII(arg))
        Py_RETURN_FALSE;
    return PyBool_FromLong(email_ascii(PyUnicode_1BYTE_DATA(arg), n));
}

/* email_valid for the ASCII text s[:n] (n <= 254): 1 or 0 */
static int email_ascii(const Py_UCS1 *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    /* local part: atext+ ("." atext+)* */
    for (;;) {
        Py_ssize_t run = i;
        while (i < n && is_atext(s[i]))
            i++;
        if (i == run)
            return 0;
        if (i < n && s[i] == '.') {
            i++;
            continue;
        }
        break;
    }
    if (i >= n || s[i] != '@')
        return 0;
    i++;
    /* domain: (label ".")+ then [A-Za-z]{2,24} to the end */
    int labels = 0;
    for (;;) {
        Py_ssize_t start = i;
        while (i < n && (IS_DIGIT(s[i]) || IS_UPPER(s[i]) || IS_LOWER(s[i]) || s[i] == '-'))
            i++;
        Py_ssize_t len = i - start;
        if (i == n) {
            /* the last part: the top-level domain */
            if (labels == 0 || len < 2 || len > 24)
                return 0;
            for (Py_ssize_t j = start; j < n; j++)
                if (!(IS_UPPER(s[j]) || IS_LOWER(s[j])))
                    return 0;
            return 1;
        }
        if (s[i] != '.' || len < 1 || len > 63 || s[start] == '-' || s[i - 1] == '-')
            return 0;
        labels++;
        i++;
    }
}

/* ------------------------------------------------------------------ name runs
 *
 * name_runs(text, start, end): [m.span() for m in PersonRecognizer._RUN.finditer(text,
 * start, end)] (recognizers.py), without sre, which tries the pattern at every capital
 * letter with a lookbehind and costs ~2k instructions per sentence. The pattern is
 *
 *   [A-Z](?<![\w][A-Z])[a-z]+(?:[-'][A-Z]?[a-z]+)?
 *   (?:[ \t](?:[A-Z]\.[ \t])?[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?){0,3}
 *
 * and every part of it is decided by the next character or two, so a failed optional
 * part or word simply ends the run where the last complete one ended. As in sre, the
 * lookbehind sees text before start (\w is Unicode: alphanumeric or "_"), and nothing
 * at or after end is seen.
 */
static inline int run_lower(const Text *t, Py_ssize_t i) { return i < t->len && IS_LOWER(PyUnicode_READ(t->kind, t->data, i)); }
static inline int run_upper(const Text *t, Py_ssize_t i) { return i < t->len && IS_UPPER(PyUnicode_READ(t->kind, t->data, i)); }

/* [a-z]+(?:[-'][A-Z]?[a-z]+)? at i: the end, or -1 */
static Py_ssize_t name_tail(const Text *t, Py_ssize_t i) {
    if (!run_lower(t, i))
        return -1;
    while (run_lower(t, i))
        i++;
    if (i < t->len) {
        Py_UCS4 c = PyUnicode_READ(t->kind, t->data, i);
        if (c == '-' || c == '\'') {
            Py_ssize_t j = run_upper(t, i + 1) ? i + 2 : i + 1;
            if (run_lower(t, j)) {
                while (run_lower(t, j))
                    j++;
                i = j;
            }
        }
    }
    return i;
}

/* The next run of _RUN at or after *p in t (t->len is the end): 1 and its span in *s, *e
 * (and *p moved past it), or 0 when there is none. bytes: t's data when 1-byte, else NULL. */
static int next_run(const Text *t, const Py_UCS1 *bytes, Py_ssize_t *p_io, Py_ssize_t *s, Py_ssize_t *e_out) {
    int kind = t->kind;
    const void *data = t->data;
    Py_ssize_t end = t->len, p = *p_io;
    while (p < end) {
        if (bytes != NULL) {
            /* a run starts at a capital: skip the rest without the kind switch */
            p = skip_to(bytes, p, end, CLS_UPPER, block_upper);
            if (p == end)
                break;
        }
        Py_UCS4 c = PyUnicode_READ(kind, data, p);
        if (!IS_UPPER(c)) {
            p++;
            continue;
        }
        if (p > 0) {
            Py_UCS4 b = PyUnicode_READ(kind, data, p - 1);
            if (IS_UWORD(b)) {
                p++;
                continue;
            }
        }
        Py_ssize_t e = name_tail(t, p + 1);
        if (e < 0) {
            p++;
            continue;
        }
        for (int w = 0; w < 3 && e < end; w++) {
            Py_UCS4 sp = PyUnicode_READ(kind, data, e);
            if (sp != ' ' && sp != '\t')
                break;
            Py_ssize_t q = e + 1;
            /* (?:[A-Z]\.[ \t])? */
            if (run_upper(t, q) && q + 2 < end && PyUnicode_READ(kind, data, q + 1) == '.') {
                Py_UCS4 sp2 = PyUnicode_READ(kind, data, q + 2);
                if (sp2 == ' ' || sp2 == '\t')
                    q += 3;
            }
            if (!run_upper(t, q))
                break;
            Py_ssize_t we = name_tail(t, q + 1);
            if (we < 0)
                break;
            e = we;
        }
        *s = p;
        *e_out = e;
        *p_io = e;
        return 1;
    }
    *p_io = p;
    return 0;
}

/* text, start, end as finditer(text, start, end) reads them: 0 or -1 (an error set) */
static int run_args(PyObject *const *args, Py_ssize_t nargs, const char *usage, Text *t, Py_ssize_t *start) {
    if (nargs != 3 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    Py_ssize_t s = PyLong_AsSsize_t(args[1]), end = PyLong_AsSsize_t(args[2]);
    if ((s == -1 || end == -1) && PyErr_Occurred())
        return -1;
    Py_ssize_t len = PyUnicode_GET_LENGTH(args[0]);
    /* finditer's pos/endpos: negative values count as 0, then both are capped */
    if (s < 0)
        s = 0;
    if (end < 0)
        end = 0;
    if (end > len)
        end = len;
    t->kind = PyUnicode_KIND(args[0]);
    t->data = PyUnicode_DATA(args[0]);
    t->len = end;
    *start = s;
    return 0;
}

static PyObject *name_runs(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Text t;
    Py_ssize_t p;
    if (run_args(args, nargs, "name_runs(text: str, start: int, end: int)", &t, &p) < 0)
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    const Py_UCS1 *bytes = t.kind == PyUnicode_1BYTE_KIND ? (const Py_UCS1 *)t.data : NULL;
    Py_ssize_t s, e;
    while (next_run(&t, bytes, &p, &s, &e)) {
        if (append_pair(out, s, e) < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

/* ------------------------------------------------------------------ person names after cues
 *
 * person_find(text, start, end): PersonRecognizer.find(text, start, end, native=False)'s
 * spans (recognizers.py): the runs of name_runs, each kept, trimmed or dropped by the
 * cue words, the stop words and the cues in the 14 characters before it, as there. A
 * run is ASCII (letters, "-", "'", ".", single spaces and tabs), so its words are
 * compared in C with the words person_words() was handed (all ASCII); the text before
 * a run is lowered and stripped in C when it is ASCII, else by str.lower() and
 * str.rstrip() (Unicode case maps may change its length) and compared with
 * PyUnicode_Tailmatch.
 */
#define PW_MAX 32   /* longest word or cue person_words() takes */
#define PW_CAP 512  /* words per set */
typedef struct {
    char w[PW_CAP][PW_MAX + 1];
    unsigned char n[PW_CAP];
    int count;
} WordSet;
static WordSet pw_stop, pw_cue_words, pw_cues, pw_weak;
static PyObject *pw_cues_obj, *pw_weak_obj; /* the cue tuples, for a non-ASCII "before" */
static int pw_ready;

static int word_order(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

/* ws := the str items of an iterable (ASCII, at most PW_MAX long each); sorted when sort */
static int word_set(WordSet *ws, PyObject *items, int sort) {
    PyObject *seq = PySequence_Fast(items, "person_words: a set or tuple of str");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > PW_CAP) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "person_words: too many words");
        return -1;
    }
    ws->count = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *w = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyUnicode_Check(w)) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_TypeError, "person_words: a set or tuple of str");
            return -1;
        }
        Py_ssize_t len = PyUnicode_GET_LENGTH(w);
        if (!PyUnicode_IS_ASCII(w)) {
            /* cannot equal an ASCII word or end an ASCII text: only the Unicode path sees it */
            continue;
        }
        if (len > PW_MAX || len == 0) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "person_words: a word is empty or too long");
            return -1;
        }
        memcpy(ws->w[ws->count], PyUnicode_1BYTE_DATA(w), (size_t)len);
        ws->w[ws->count][len] = 0;
        ws->count++;
    }
    Py_DECREF(seq);
    if (sort)
        qsort(ws->w, (size_t)ws->count, PW_MAX + 1, word_order);
    for (int i = 0; i < ws->count; i++)
        ws->n[i] = (unsigned char)strlen(ws->w[i]);
    return 0;
}

static PyObject *person_words(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyTuple_CheckExact(args[2]) || !PyTuple_CheckExact(args[3])) {
        PyErr_SetString(PyExc_TypeError,
                        "person_words(stop: frozenset[str], cue_words: frozenset[str], cues: tuple[str, ...], "
                        "weak: tuple[str, ...])");
        return NULL;
    }
    pw_ready = 0;
    if (word_set(&pw_stop, args[0], 1) < 0 || word_set(&pw_cue_words, args[1], 1) < 0 ||
        word_set(&pw_cues, args[2], 0) < 0 || word_set(&pw_weak, args[3], 0) < 0)
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args[2]) + PyTuple_GET_SIZE(args[3]); i++) {
        PyObject *c = i < PyTuple_GET_SIZE(args[2]) ? PyTuple_GET_ITEM(args[2], i)
                                                     : PyTuple_GET_ITEM(args[3], i - PyTuple_GET_SIZE(args[2]));
        if (PyUnicode_GET_LENGTH(c) == 0) {
            PyErr_SetString(PyExc_ValueError, "person_words: an empty cue");
            return NULL;
        }
    }
    Py_INCREF(args[2]);
    Py_XSETREF(pw_cues_obj, args[2]);
    Py_INCREF(args[3]);
    Py_XSETREF(pw_weak_obj, args[3]);
    pw_ready = 1;
    Py_RETURN_NONE;
}

/* whether the run's word text[s:e] (ASCII: a run is) is one of ws's (sorted) words; with
 * lower, word.lower(), and with strip, that rstripped of ".,:" first */
static int in_words(const WordSet *ws, const Text *t, Py_ssize_t s, Py_ssize_t e, int lower, int strip) {
    char key[PW_MAX + 1];
    if (strip) {
        while (e > s) {
            Py_UCS4 c = PyUnicode_READ(t->kind, t->data, e - 1);
            if (c != '.' && c != ',' && c != ':')
                break;
            e--;
        }
    }
    Py_ssize_t n = e - s;
    if (n > PW_MAX)
        return 0; /* longer than any word of the set */
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(t->kind, t->data, s + i);
        key[i] = (char)(lower && IS_UPPER(c) ? c + 32 : c);
    }
    key[n] = 0;
    return bsearch(key, ws->w, (size_t)ws->count, PW_MAX + 1, word_order) != NULL;
}

/* whether the n bytes at b end with one of ws's words */
static int ends_with(const WordSet *ws, const char *b, Py_ssize_t n) {
    for (int i = 0; i < ws->count; i++) {
        Py_ssize_t k = ws->n[i];
        if (k <= n && memcmp(b + n - k, ws->w[i], (size_t)k) == 0)
            return 1;
    }
    return 0;
}

/* text[max(0, s0 - 14):s0].lower().rstrip(): in buf (*n bytes) when ASCII, else *obj */
typedef struct {
    char buf[14];
    Py_ssize_t n;
    PyObject *obj; /* owned; NULL on the ASCII path */
} Before;

static int before_of(PyObject *text, const Text *t, Py_ssize_t s0, Before *b) {
    Py_ssize_t lo = s0 > 14 ? s0 - 14 : 0;
    b->obj = NULL;
    int ascii = 1;
    for (Py_ssize_t i = lo; i < s0; i++) {
        Py_UCS4 c = PyUnicode_READ(t->kind, t->data, i);
        if (c >= 128) {
            ascii = 0;
            break;
        }
        b->buf[i - lo] = (char)(IS_UPPER(c) ? c + 32 : c);
    }
    if (ascii) {
        Py_ssize_t n = s0 - lo;
        while (n > 0 && Py_UNICODE_ISSPACE((Py_UCS4)(unsigned char)b->buf[n - 1]))
            n--;
        b->n = n;
        return 0;
    }
    PyObject *slice = PyUnicode_Substring(text, lo, s0);
    if (slice == NULL)
        return -1;
    PyObject *low = PyObject_CallMethod(slice, "lower", NULL);
    Py_DECREF(slice);
    if (low == NULL)
        return -1;
    b->obj = PyObject_CallMethod(low, "rstrip", NULL);
    Py_DECREF(low);
    return b->obj == NULL ? -1 : 0;
}

/* before.endswith(ws's words): 1, 0, or -1 (an error set) */
static int before_ends(const Before *b, const WordSet *ws, PyObject *tuple) {
    if (b->obj == NULL)
        return ends_with(ws, b->buf, b->n);
    Py_ssize_t n = PyTuple_GET_SIZE(tuple);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t r = PyUnicode_Tailmatch(b->obj, PyTuple_GET_ITEM(tuple, i), 0, PY_SSIZE_T_MAX, 1);
        if (r != 0)
            return r < 0 ? -1 : 1;
    }
    return 0;
}

#define RUN_WORDS 8 /* a run has at most 4 words and 3 initials */

/* person_find's spans of text (t: its kind and data, len the end) from p, appended to out
 * as (start, end) pairs: 0, or -1 with an error set (out then holds those found so far). */
static int person_find_into(PyObject *text, Text t, Py_ssize_t p, PyObject *out) {
    const Py_UCS1 *bytes = t.kind == PyUnicode_1BYTE_KIND ? (const Py_UCS1 *)t.data : NULL;
    Py_ssize_t s0, e0;
    while (next_run(&t, bytes, &p, &s0, &e0)) {
        /* the run's words: text[s0 + ws[k]:s0 + we[k]] */
        Py_ssize_t ws[RUN_WORDS], we[RUN_WORDS];
        int n = 0;
        ws[0] = 0;
        for (Py_ssize_t i = 0; i < e0 - s0; i++) {
            Py_UCS4 c = PyUnicode_READ(t.kind, t.data, s0 + i);
            if ((c == ' ' || c == '\t') && n < RUN_WORDS - 1) {
                we[n] = i;
                n++;
                ws[n] = i + 1;
            }
        }
        we[n] = e0 - s0;
        n++;
        int first = 0, last = n, cued = 0;
#define WORD(k) &t, s0 + ws[k], s0 + we[k]
        if (n == 1) {
            /* One word (most runs: a sentence's first word): a cue or stop word alone is
             * nothing; otherwise a strong cue must come right before it. */
            if (in_words(&pw_stop, WORD(0), 0, 0) || in_words(&pw_cue_words, WORD(0), 1, 0))
                continue;
        } else {
            while (first < last && in_words(&pw_cue_words, WORD(first), 1, 1)) {
                cued = 1;
                first++;
            }
            while (first < last && in_words(&pw_stop, WORD(first), 0, 0))
                first++;
            while (last > first && in_words(&pw_stop, WORD(last - 1), 0, 0))
                last--;
            if (first >= last)
                continue;
        }
#undef WORD
        if (!cued) {
            Before b;
            if (before_of(text, &t, s0, &b) < 0)
                return -1;
            int r = before_ends(&b, &pw_cues, pw_cues_obj);
            if (r == 1 && (n == 1 || last - first < 2))
                r = before_ends(&b, &pw_weak, pw_weak_obj) == 1 ? 0 : r; /* weak cues need two words */
            Py_XDECREF(b.obj);
            if (r < 0 || PyErr_Occurred())
                return -1;
            if (r == 0)
                continue;
        }
        if (append_pair(out, s0 + ws[first], s0 + we[last - 1]) < 0)
            return -1;
    }
    return 0;
}

static PyObject *person_find(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Text t;
    Py_ssize_t p;
    if (run_args(args, nargs, "person_find(text: str, start: int, end: int)", &t, &p) < 0)
        return NULL;
    if (!pw_ready) {
        PyErr_SetString(PyExc_RuntimeError, "person_find: person_words() was not called");
        return NULL;
    }
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    if (person_find_into(args[0], t, p, out) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

/* ------------------------------------------------------------------ big integers
 *
 * may_round(source): filters/pii/fastpath.may_round (see there): whether the bytes hold a
 * run of 20+ ASCII digits, or exactly 19 right after "-"; reading every 19th byte.
 */
static PyObject *may_round(PyObject *self, PyObject *arg) {
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "may_round(source: bytes)");
        return NULL;
    }
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(arg);
    Py_ssize_t n = PyBytes_GET_SIZE(arg), p = 18;
    while (p < n) {
        if (IS_DIGIT(b[p])) {
            Py_ssize_t s = p, e = p + 1;
            while (s > 0 && IS_DIGIT(b[s - 1]))
                s--;
            while (e < n && IS_DIGIT(b[e]))
                e++;
            Py_ssize_t run = e - s;
            if (run >= 20 || (run == 19 && s > 0 && b[s - 1] == '-'))
                Py_RETURN_TRUE;
            p = e + 19;
        } else {
            p += 19;
        }
    }
    Py_RETURN_FALSE;
}

/* ------------------------------------------------------------------ street addresses
 *
 * address_at(text, start): StreetAddressRecognizer.TEXT.match(text, start)'s span, or
 * None (recognizers.py; ~7k instructions in sre per house number, most of them spent
 * trying the ~200 suffix alternatives one by one). TEXT is
 *
 *   \d{1,6}(?:\s[A-Z][A-Za-z'.-]*){1,4}?\s(?:SUFFIX|SUFFIX|...)\b\.?
 *   (?:,?\s(?:Apt\.?|Suite|Unit|Ste\.?|#)\s?[\w-]{1,6})?
 *   (?:,?\s[A-Z][A-Za-z.'-]*(?:\s[A-Z][A-Za-z.'-]*){0,3},\s[A-Z]{2}\s\d{5}(?:-\d{4})?)?
 *
 * and sre's first match of it is found in one forward pass, because every choice in it
 * is decided by the next character:
 * - a repeat of digits or word characters stopped early leaves a character that the
 *   part after it cannot take (a digit or letter where \s or "," is needed), so \d{1,6}
 *   is the whole digit run (1-6 long) and each word is its whole [A-Za-z'.-] run;
 * - the lazy {1,4}? tries 1, 2, 3, 4 words: after each, \s and a suffix with \b after it;
 *   a suffix is all ASCII letters, so with \b it is exactly the word-character run there
 *   (at most one alternative can match, whatever their order);
 * - ",?" before \s: a comma there must be taken; \.? and \s? likewise (a dot or a space
 *   is not in the class after it);
 * - the unit's five words start differently ("Suite"/"Ste" differ at the second letter);
 *   [\w-]{1,6} is greedy and nothing after it can fail (the city part is optional);
 * - the city's {0,3} extra words: taking fewer leaves \s where "," is needed.
 * \d, \s and \w are Unicode (Py_UNICODE_ISDECIMAL, _ISSPACE, _ISALNUM or "_"), the
 * rest ASCII. The suffixes are handed over once by street_suffixes(words), with each
 * "Xs?" of recognizers._SUFFIXES as "X" and "Xs" (recognizers.STREET_SUFFIX_WORDS).
 * Tests compare address_at with TEXT on fixed and generated text.
 */
#define SUFFIX_MAX 24
#define SUFFIX_CAP 512
static char suffix_words[SUFFIX_CAP][SUFFIX_MAX + 1];
static unsigned char suffix_len[SUFFIX_CAP];
static int suffix_count = -1;          /* -1: street_suffixes() not called yet */
static int suffix_bucket[27];          /* the words starting with 'A' + i: [bucket[i], bucket[i + 1]) */

static int suffix_order(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

static PyObject *street_suffixes(PyObject *self, PyObject *arg) {
    if (!PyTuple_CheckExact(arg) || PyTuple_GET_SIZE(arg) > SUFFIX_CAP) {
        PyErr_SetString(PyExc_TypeError, "street_suffixes(words: tuple of at most 512 str)");
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(arg);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *w = PyTuple_GET_ITEM(arg, i);
        if (!PyUnicode_Check(w) || !PyUnicode_IS_ASCII(w) || PyUnicode_GET_LENGTH(w) < 1 ||
            PyUnicode_GET_LENGTH(w) > SUFFIX_MAX) {
            PyErr_SetString(PyExc_ValueError, "a street suffix is 1-24 ASCII letters, the first a capital");
            return NULL;
        }
        const Py_UCS1 *s = PyUnicode_1BYTE_DATA(w);
        Py_ssize_t len = PyUnicode_GET_LENGTH(w);
        for (Py_ssize_t k = 0; k < len; k++)
            if (!(IS_UPPER(s[k]) || (k > 0 && IS_LOWER(s[k])))) {
                PyErr_SetString(PyExc_ValueError, "a street suffix is 1-24 ASCII letters, the first a capital");
                return NULL;
            }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *w = PyTuple_GET_ITEM(arg, i);
        memset(suffix_words[i], 0, SUFFIX_MAX + 1);
        memcpy(suffix_words[i], PyUnicode_1BYTE_DATA(w), (size_t)PyUnicode_GET_LENGTH(w));
    }
    qsort(suffix_words, (size_t)n, SUFFIX_MAX + 1, suffix_order);
    for (Py_ssize_t i = 0; i < n; i++)
        suffix_len[i] = (unsigned char)strlen(suffix_words[i]);
    int j = 0;
    for (int b = 0; b < 27; b++) {
        while (j < n && suffix_words[j][0] < 'A' + b)
            j++;
        suffix_bucket[b] = j;
    }
    suffix_count = (int)n;
    Py_RETURN_NONE;
}

/* whether text[p:q] (ASCII letters, text[p] a capital) is one of the suffixes */
static int is_suffix(const Text *t, Py_ssize_t p, Py_ssize_t q) {
    Py_ssize_t len = q - p;
    if (len > SUFFIX_MAX)
        return 0;
    int b = (int)(at(t, p) - 'A');
    for (int i = suffix_bucket[b]; i < suffix_bucket[b + 1]; i++) {
        if (suffix_len[i] != len)
            continue;
        Py_ssize_t k = 1;
        while (k < len && (Py_UCS4)(unsigned char)suffix_words[i][k] == at(t, p + k))
            k++;
        if (k == len)
            return 1;
    }
    return 0;
}

#define USPACE(c) ((c) < 128 ? ((c) == ' ' || ((c) >= '\t' && (c) <= '\r') || ((c) >= 0x1c && (c) <= 0x1f)) \
                             : Py_UNICODE_ISSPACE(c))
/* [A-Za-z'.-] (a street word's tail; the city's [A-Za-z.'-] is the same class) */
#define IS_STREET_WORD(c) (IS_UPPER(c) || IS_LOWER(c) || (c) == '\'' || (c) == '.' || (c) == '-')

/* the literal word w (ASCII) at text[p:] */
static int literal_at(const Text *t, Py_ssize_t p, const char *w) {
    for (Py_ssize_t k = 0; w[k]; k++)
        if (at(t, p + k) != (Py_UCS4)(unsigned char)w[k])
            return 0;
    return 1;
}

/* n decimal digits (\d, Unicode) at text[p:] */
static int decimals_at(const Text *t, Py_ssize_t p, int n) {
    for (int k = 0; k < n; k++) {
        if (p + k >= t->len)
            return 0;
        Py_UCS4 c = at(t, p + k);
        if (!IS_DECIMAL(c))
            return 0;
    }
    return 1;
}

/* The end of TEXT's match at s, or -1. */
static Py_ssize_t address_end(const Text *t, Py_ssize_t s) {
    Py_ssize_t p = s;
    while (p < t->len && IS_DECIMAL(at(t, p)))
        p++;
    if (p == s || p - s > 6)
        return -1;
    Py_ssize_t end = -1;
    for (int k = 0; k < 4 && end < 0; k++) {
        /* \s[A-Z][A-Za-z'.-]*: one more word */
        Py_UCS4 c = at(t, p);
        if (p + 1 >= t->len || !USPACE(c) || !IS_UPPER(at(t, p + 1)))
            return -1;
        p += 2;
        while (p < t->len && IS_STREET_WORD(at(t, p)))
            p++;
        /* \s(?:suffix)\b */
        c = at(t, p);
        if (p < t->len && USPACE(c) && IS_UPPER(at(t, p + 1))) {
            Py_ssize_t q = p + 2;
            while (q < t->len && (IS_UPPER(at(t, q)) || IS_LOWER(at(t, q))))
                q++;
            Py_UCS4 after = at(t, q);
            if (!(q < t->len && IS_UWORD(after)) && is_suffix(t, p + 1, q))
                end = q;
        }
    }
    if (end < 0)
        return -1;
    if (end < t->len && at(t, end) == '.')
        end++;
    /* (?:,?\s(?:Apt\.?|Suite|Unit|Ste\.?|#)\s?[\w-]{1,6})? */
    Py_ssize_t p2 = end < t->len && at(t, end) == ',' ? end + 1 : end;
    Py_UCS4 c = at(t, p2);
    if (p2 < t->len && USPACE(c)) {
        Py_ssize_t u = p2 + 1, q = -1;
        if (literal_at(t, u, "Apt"))
            q = u + 3 + (at(t, u + 3) == '.' && u + 3 < t->len);
        else if (literal_at(t, u, "Suite"))
            q = u + 5;
        else if (literal_at(t, u, "Unit"))
            q = u + 4;
        else if (literal_at(t, u, "Ste"))
            q = u + 3 + (at(t, u + 3) == '.' && u + 3 < t->len);
        else if (literal_at(t, u, "#"))
            q = u + 1;
        if (q >= 0 && q <= t->len) {
            Py_UCS4 x = at(t, q);
            Py_ssize_t r = q < t->len && USPACE(x) ? q + 1 : q;
            Py_ssize_t n = 0;
            while (n < 6 && r + n < t->len) {
                Py_UCS4 y = at(t, r + n);
                if (!(IS_UWORD(y) || y == '-'))
                    break;
                n++;
            }
            if (n > 0)
                end = r + n;
        }
    }
    /* (?:,?\s[A-Z][A-Za-z.'-]*(?:\s[A-Z][A-Za-z.'-]*){0,3},\s[A-Z]{2}\s\d{5}(?:-\d{4})?)? */
    p2 = end < t->len && at(t, end) == ',' ? end + 1 : end;
    c = at(t, p2);
    if (p2 + 1 < t->len && USPACE(c) && IS_UPPER(at(t, p2 + 1))) {
        Py_ssize_t q = p2 + 2;
        while (q < t->len && IS_STREET_WORD(at(t, q)))
            q++;
        for (int w = 0; w < 3; w++) {
            Py_UCS4 x = at(t, q);
            if (!(q + 1 < t->len && USPACE(x) && IS_UPPER(at(t, q + 1))))
                break;
            q += 2;
            while (q < t->len && IS_STREET_WORD(at(t, q)))
                q++;
        }
        Py_UCS4 sp1 = at(t, q + 1), sp2 = at(t, q + 4);
        if (q + 4 < t->len && at(t, q) == ',' && USPACE(sp1) && IS_UPPER(at(t, q + 2)) && IS_UPPER(at(t, q + 3)) &&
            USPACE(sp2) && decimals_at(t, q + 5, 5)) {
            end = q + 10;
            if (end < t->len && at(t, end) == '-' && decimals_at(t, end + 1, 4))
                end += 5;
        }
    }
    return end;
}

static PyObject *address_at(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "address_at(text: str, start: int)");
        return NULL;
    }
    if (suffix_count < 0) {
        PyErr_SetString(PyExc_RuntimeError, "address_at() before street_suffixes()");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred())
        return NULL;
    if (start < 0) /* match()'s pos: a negative one counts as 0 */
        start = 0;
    Text t = {PyUnicode_KIND(args[0]), PyUnicode_DATA(args[0]), PyUnicode_GET_LENGTH(args[0])};
    if (start >= t.len)
        Py_RETURN_NONE;
    Py_ssize_t e = address_end(&t, start);
    if (e < 0)
        Py_RETURN_NONE;
    return pair(start, e);
}

/* ------------------------------------------------------------------ checksums and gates
 *
 * luhn_valid(number): validators.luhn_valid (the Luhn check over the ASCII digits of
 * number, 13-19 of them). iban_mod97(iban): the ISO 7064 mod 97-10 remainder of an IBAN
 * already upper-cased and checked to be ASCII letters and digits (validators.iban_valid's
 * loop; it calls this only for 15 characters or more: the rotation by four assumes at
 * least four). dob_gate(text, start, end): textscan._DOB_GATE.search(text.lower(), start, end)
 * is not None for an ASCII text. The Python code is the reference (tests compare both).
 */
static PyObject *luhn_valid(PyObject *self, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "luhn_valid() takes a str");
        return NULL;
    }
    int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    unsigned char d[19];
    int count = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (IS_DIGIT(c)) {
            if (count == 19)
                Py_RETURN_FALSE;
            d[count++] = (unsigned char)(c - '0');
        }
    }
    if (count < 13)
        Py_RETURN_FALSE;
    int total = 0;
    for (int k = 0; k < count; k++) {
        int x = d[count - 1 - k];
        if (k % 2 == 1) {
            x *= 2;
            if (x > 9)
                x -= 9;
        }
        total += x;
    }
    return PyBool_FromLong(total % 10 == 0);
}

static PyObject *iban_mod97(PyObject *self, PyObject *arg) {
    if (!PyUnicode_Check(arg) || !PyUnicode_IS_ASCII(arg)) {
        PyErr_SetString(PyExc_TypeError, "iban_mod97() takes an ASCII str");
        return NULL;
    }
    const Py_UCS1 *s = PyUnicode_1BYTE_DATA(arg);
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    long total = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_UCS1 c = s[(k + 4) % n]; /* iban[4:] + iban[:4] */
        if (c >= 65)
            total = (total * 100 + c - 55) % 97;
        else
            total = (total * 10 + c - 48) % 97;
    }
    return PyLong_FromLong(total);
}

static inline Py_UCS1 ascii_lower(Py_UCS1 c) { return IS_UPPER(c) ? (Py_UCS1)(c + 32) : c; }

/* word (lower case) at s[i:] within end */
static int word_at(const Py_UCS1 *s, Py_ssize_t i, Py_ssize_t end, const char *word) {
    for (Py_ssize_t k = 0; word[k]; k++)
        if (i + k >= end || ascii_lower(s[i + k]) != (Py_UCS1)word[k])
            return 0;
    return 1;
}

/* dob_gate over s[start:end] (ASCII; 0 <= start, end <= its length): 1 or 0 */
static int dob_gate_in(const Py_UCS1 *s, Py_ssize_t start, Py_ssize_t end) {
    for (Py_ssize_t i = start; i < end; i++) {
        i = skip_to(s, i, end, CLS_DOB, block_dob);
        if (i == end)
            break;
        Py_UCS1 c = ascii_lower(s[i]);
        if (c == 'b') {
            if (word_at(s, i, end, "born") || word_at(s, i, end, "birth") || word_at(s, i, end, "bday") ||
                word_at(s, i, end, "b-day"))
                return 1;
        } else if (c == 'd') {
            if (word_at(s, i, end, "dob") || word_at(s, i, end, "d.o.b"))
                return 1;
        }
    }
    return 0;
}

static PyObject *dob_gate(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyUnicode_Check(args[0]) || !PyUnicode_IS_ASCII(args[0])) {
        PyErr_SetString(PyExc_TypeError, "dob_gate(text: ASCII str, start: int, end: int)");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]), end = PyLong_AsSsize_t(args[2]);
    if ((start == -1 || end == -1) && PyErr_Occurred())
        return NULL;
    Py_ssize_t len = PyUnicode_GET_LENGTH(args[0]);
    if (start < 0)
        start = 0;
    if (end > len)
        end = len;
    return PyBool_FromLong(dob_gate_in(PyUnicode_1BYTE_DATA(args[0]), start, end));
}

/* ------------------------------------------------------------------ dates
 *
 * date_matches(text, start, end): [m.span() for m in DateOfBirthRecognizer.DATE.finditer(
 * text, start, end)] (recognizers.py), without sre (~35 instructions per character it
 * skips, and each digit or capital tries four forms behind lookbehinds). DATE is
 *
 *   [0-9ADFJMNOS](?:(?<=[0-9])[0-9]{3}-\d{1,2}-\d{1,2}(?!\d|T\d)          (iso)
 *                 |(?<=[0-9])\d?[/.-]\d{1,2}[/.-]\d{4}(?!\d)              (numeric)
 *                 |(?:(?<=J)an|(?<=F)eb|...|(?<=D)ec)[a-z]*\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4}
 *                 |(?<=[0-9])\d?(?:st|nd|rd|th)? (?:Jan|...|Dec)[a-z]*\.?,? \d{4})
 *
 * tried in that order at each start. Every optional part or bounded repeat in it is
 * decided by the character after it (a longer or shorter choice always leaves a
 * character the next part cannot take), so each form is one forward pass. \d is
 * Unicode (Py_UNICODE_ISDECIMAL), the rest ASCII; nothing at or after end is seen.
 */
#define UDIGIT(t, i) ((i) < (t)->len && IS_DECIMAL(PyUnicode_READ((t)->kind, (t)->data, (i))))

static inline Py_UCS4 ch(const Text *t, Py_ssize_t i) { return i < t->len ? PyUnicode_READ(t->kind, t->data, i) : 0; }

/* \d{1,2} followed by a character that is not a digit: the end, or -1 */
static Py_ssize_t one_or_two_digits(const Text *t, Py_ssize_t i) {
    if (!UDIGIT(t, i))
        return -1;
    i++;
    if (UDIGIT(t, i))
        i++;
    return UDIGIT(t, i) ? -1 : i;
}

/* (?:st|nd|rd|th)? */
static Py_ssize_t ordinal(const Text *t, Py_ssize_t i) {
    Py_UCS4 a = ch(t, i), b = ch(t, i + 1);
    if ((a == 's' && b == 't') || (a == 'n' && b == 'd') || (a == 'r' && b == 'd') || (a == 't' && b == 'h'))
        return i + 2;
    return i;
}

/* [a-z]*\.? then, when comma, ,? ; then " " and \d{4}: the end, or -1 */
static Py_ssize_t month_rest(const Text *t, Py_ssize_t i, int comma_here) {
    while (IS_LOWER(ch(t, i)))
        i++;
    if (ch(t, i) == '.')
        i++;
    if (comma_here && ch(t, i) == ',')
        i++;
    if (ch(t, i) != ' ')
        return -1;
    return i + 1;
}

static Py_ssize_t four_digits(const Text *t, Py_ssize_t i) {
    for (int k = 0; k < 4; k++)
        if (!UDIGIT(t, i + k))
            return -1;
    return i + 4;
}

static const char *const MONTHS[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int month_at(const Text *t, Py_ssize_t i) {
    for (int m = 0; m < 12; m++)
        if (ch(t, i) == (Py_UCS4)MONTHS[m][0] && ch(t, i + 1) == (Py_UCS4)MONTHS[m][1] &&
            ch(t, i + 2) == (Py_UCS4)MONTHS[m][2])
            return 1;
    return 0;
}

static Py_ssize_t date_at(const Text *t, Py_ssize_t p) {
    Py_UCS4 c = ch(t, p);
    if (IS_DIGIT(c)) {
        Py_ssize_t i, e;
        /* iso: [0-9]{3}-\d{1,2}-\d{1,2}(?!\d|T\d) */
        if (IS_DIGIT(ch(t, p + 1)) && IS_DIGIT(ch(t, p + 2)) && IS_DIGIT(ch(t, p + 3)) && ch(t, p + 4) == '-' &&
            (i = one_or_two_digits(t, p + 5)) >= 0 && ch(t, i) == '-' && (e = one_or_two_digits(t, i + 1)) >= 0 &&
            !(ch(t, e) == 'T' && UDIGIT(t, e + 1)))
            return e;
        /* numeric: \d?[/.-]\d{1,2}[/.-]\d{4}(?!\d) */
        i = UDIGIT(t, p + 1) ? p + 2 : p + 1;
        Py_UCS4 s1 = ch(t, i);
        if (s1 == '/' || s1 == '.' || s1 == '-') {
            Py_ssize_t j = one_or_two_digits(t, i + 1);
            if (j >= 0) {
                Py_UCS4 s2 = ch(t, j);
                if ((s2 == '/' || s2 == '.' || s2 == '-') && (e = four_digits(t, j + 1)) >= 0 && !UDIGIT(t, e))
                    return e;
            }
        }
        /* words after the day: \d?(?:st|nd|rd|th)? (?:Jan|...|Dec)[a-z]*\.?,? \d{4} */
        i = UDIGIT(t, p + 1) ? p + 2 : p + 1;
        i = ordinal(t, i);
        if (ch(t, i) != ' ' || !month_at(t, i + 1))
            return -1;
        i = month_rest(t, i + 4, 1);
        return i < 0 ? -1 : four_digits(t, i);
    }
    /* words first: (?<=J)an... [a-z]*\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4} */
    if (!month_at(t, p))
        return -1;
    Py_ssize_t i = month_rest(t, p + 3, 0);
    if (i < 0)
        return -1;
    Py_ssize_t d = one_or_two_digits(t, i);
    if (d < 0)
        return -1;
    d = ordinal(t, d);
    if (ch(t, d) == ',')
        d++;
    if (ch(t, d) != ' ')
        return -1;
    return four_digits(t, d + 1);
}

static PyObject *date_matches(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "date_matches(text: str, start: int, end: int)");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]), end = PyLong_AsSsize_t(args[2]);
    if ((start == -1 || end == -1) && PyErr_Occurred())
        return NULL;
    Py_ssize_t len = PyUnicode_GET_LENGTH(args[0]);
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end > len)
        end = len;
    Text t = {PyUnicode_KIND(args[0]), PyUnicode_DATA(args[0]), end};
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    Py_ssize_t p = start;
    while (p < end) {
        Py_UCS4 c = PyUnicode_READ(t.kind, t.data, p);
        if (!(IS_DIGIT(c) || c == 'A' || c == 'D' || c == 'F' || c == 'J' || c == 'M' || c == 'N' || c == 'O' ||
              c == 'S')) {
            p++;
            continue;
        }
        Py_ssize_t e = date_at(&t, p);
        if (e < 0) {
            p++;
            continue;
        }
        if (append_pair(out, p, e) < 0) {
            Py_DECREF(out);
            return NULL;
        }
        p = e;
    }
    return out;
}

/* ------------------------------------------------------------------ phones
 *
 * digits_of(text): validators.digits_of (the ASCII digits of text, in order).
 * phone_nanp(value): validators.phone_valid(value) for region "US" when value is ASCII
 * and not "+" followed by another country code (1 or 0); otherwise -1, and the Python
 * function decides (international numbers need phonenumbers' metadata). The steps are
 * phone_valid's: strip, _without_extension's ASCII path, the digits, the "+1"/"001"/
 * leading-1 prefix, ten digits whose area code and exchange start with 2-9.
 */
static PyObject *digits_of(PyObject *self, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "digits_of() takes a str");
        return NULL;
    }
    int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg), count = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        count += IS_DIGIT(c);
    }
    if (count == n && PyUnicode_IS_ASCII(arg))
        return Py_NewRef(arg);
    PyObject *out = PyUnicode_New(count, 127);
    if (out == NULL)
        return NULL;
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (IS_DIGIT(c))
            *o++ = (Py_UCS1)c;
    }
    return out;
}

/* str.isspace for an ASCII character */
#define IS_ASCII_SPACE(c) ((c) == ' ' || ((c) >= 9 && (c) <= 13) || ((c) >= 28 && (c) <= 31))

static PyObject *phone_nanp(PyObject *self, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "phone_nanp() takes a str");
        return NULL;
    }
    if (!PyUnicode_IS_ASCII(arg))
        return PyLong_FromLong(-1);
    return PyLong_FromLong(nanp_ascii(PyUnicode_1BYTE_DATA(arg), 0, PyUnicode_GET_LENGTH(arg)));
}

/* phone_nanp's answer for the ASCII text s[lo:hi]: 1, 0, or -1 (international). */
static int nanp_ascii(const Py_UCS1 *s, Py_ssize_t lo, Py_ssize_t hi) {
    /* text = value.strip() */
    while (lo < hi && IS_ASCII_SPACE(s[lo]))
        lo++;
    while (hi > lo && IS_ASCII_SPACE(s[hi - 1]))
        hi--;
    /* _EXT_CHAR.search(text) -> _without_extension(text) */
    int ext = 0;
    for (Py_ssize_t i = lo; i < hi; i++)
        if (s[i] == 'x' || s[i] == 'X' || s[i] == 'e' || s[i] == 'E' || s[i] == '#')
            ext = 1;
    if (ext) {
        Py_ssize_t h = hi;
        while (h > lo && IS_DIGIT(s[h - 1]))
            h--;
        Py_ssize_t k = hi - h;
        if (1 <= k && k <= 6) {
            while (h > lo && IS_ASCII_SPACE(s[h - 1]))
                h--;
            static const char *const markers[] = {"extension", "ext.", "ext", "x", "#"};
            Py_ssize_t cut = 0;
            for (int m = 0; m < 5 && cut == 0; m++) {
                Py_ssize_t len = (Py_ssize_t)strlen(markers[m]);
                if (h - lo < len)
                    continue;
                int same = 1;
                for (Py_ssize_t j = 0; j < len; j++) {
                    Py_UCS1 c = s[h - len + j];
                    if ((IS_UPPER(c) ? c + 32 : c) != (Py_UCS1)markers[m][j]) {
                        same = 0;
                        break;
                    }
                }
                if (same)
                    cut = len;
            }
            if (cut > 0) {
                h -= cut;
                while (h > lo && IS_ASCII_SPACE(s[h - 1]))
                    h--;
                hi = h;
            }
        }
    }
    Py_ssize_t len = hi - lo;
    if (len >= 1 && s[lo] == '+' && !(len >= 2 && s[lo + 1] == '1'))
        return -1;
    char d[16];
    Py_ssize_t count = 0;
    for (Py_ssize_t i = lo; i < hi; i++)
        if (IS_DIGIT(s[i])) {
            if (count < 16)
                d[count] = (char)s[i];
            count++;
        }
    Py_ssize_t off = 0;
    if (len >= 2 && s[lo] == '+' && s[lo + 1] == '1')
        off = 1;
    else if (len >= 3 && s[lo] == '0' && s[lo + 1] == '0' && s[lo + 2] == '1')
        off = 3;
    else if (count == 11 && d[0] == '1')
        off = 1;
    if (count - off != 10)
        return 0;
    return d[off] != '0' && d[off] != '1' && d[off + 3] != '0' && d[off + 3] != '1';
}

/* ------------------------------------------------------------------ IPv4, overlaps
 *
 * ipv4_valid(value): validators._IPV4.fullmatch(value) is not None (four ASCII decimal
 * octets 0-255 without leading zeros, joined by dots).
 * non_overlapping(hits): textscan._non_overlapping: the (start, end, entity, spi) hits
 * sorted by start, longer first (a stable sort), then each kept unless it starts inside
 * the last kept one, which a longer one replaces. The Python functions are the reference.
 */
static PyObject *ipv4_valid(PyObject *self, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "ipv4_valid() takes a str");
        return NULL;
    }
    if (!PyUnicode_IS_ASCII(arg))
        Py_RETURN_FALSE;
    const Py_UCS1 *v = PyUnicode_1BYTE_DATA(arg);
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg), i = 0;
    for (int octet = 0; octet < 4; octet++) {
        if (octet > 0) {
            if (i >= n || v[i] != '.')
                Py_RETURN_FALSE;
            i++;
        }
        Py_ssize_t start = i;
        int value = 0;
        while (i < n && IS_DIGIT(v[i]) && i - start < 3)
            value = value * 10 + (v[i++] - '0');
        Py_ssize_t len = i - start;
        if (len == 0 || (len > 1 && v[start] == '0') || value > 255)
            Py_RETURN_FALSE;
    }
    return PyBool_FromLong(i == n);
}

typedef struct {
    Py_ssize_t start, end, index;
} Span;

static int span_order(const void *a, const void *b) {
    const Span *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    Py_ssize_t lx = x->end - x->start, ly = y->end - y->start;
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static PyObject *non_overlapping(PyObject *self, PyObject *arg) {
    if (!PyList_CheckExact(arg)) {
        PyErr_SetString(PyExc_TypeError, "non_overlapping() takes a list");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(arg);
    Span *spans = PyMem_Malloc(sizeof(Span) * (size_t)(n > 0 ? n : 1));
    if (spans == NULL)
        return PyErr_NoMemory();
    PyObject *out = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *h = PyList_GET_ITEM(arg, i);
        if (!PyTuple_CheckExact(h) || PyTuple_GET_SIZE(h) != 4) {
            PyErr_SetString(PyExc_TypeError, "a scanner hit is (start, end, entity, spi)");
            goto done;
        }
        spans[i].start = PyLong_AsSsize_t(PyTuple_GET_ITEM(h, 0));
        spans[i].end = PyLong_AsSsize_t(PyTuple_GET_ITEM(h, 1));
        if ((spans[i].start == -1 || spans[i].end == -1) && PyErr_Occurred())
            goto done;
        spans[i].index = i;
    }
    qsort(spans, (size_t)n, sizeof(Span), span_order);
    out = PyList_New(0);
    if (out == NULL)
        goto done;
    Py_ssize_t kept = 0; /* entries of spans[] kept, compacted to the front */
    for (Py_ssize_t i = 0; i < n; i++) {
        if (kept > 0 && spans[i].start < spans[kept - 1].end) {
            if (spans[i].end - spans[i].start > spans[kept - 1].end - spans[kept - 1].start)
                spans[kept - 1] = spans[i];
            continue;
        }
        spans[kept++] = spans[i];
    }
    for (Py_ssize_t i = 0; i < kept; i++) {
        if (PyList_Append(out, PyList_GET_ITEM(arg, spans[i].index)) < 0) {
            Py_CLEAR(out);
            goto done;
        }
    }
done:
    PyMem_Free(spans);
    return out;
}

/* ------------------------------------------------------------------ the free-text scan in one call
 *
 * scan_texts(texts, refs, limit, quiet, flags, hits) -> None | (text, starts, prose, refs):
 * Engine._scan_texts (engine.py, the reference with its scanner's Python; tests compare
 * both) with the scanner's common case in C, so a document whose free text holds nothing
 * but prose and addresses costs one call instead of a compiled scan() and its five C calls.
 *
 * join_texts(texts, refs, limit, quiet) first (None from it: None). Then what
 * TextScanner.scan(text, prose) would do, when all of it has its C code here: every
 * prefilter candidate is of kind 3 (a house number and a capitalized word: address_at when
 * street addresses are on), no "@" when e-mail is on, no ":" when IP addresses are on, no
 * birth-date cue (dob_gate, ASCII text only) in a sentence when dates of birth are on, and
 * person_find in each sentence when names in free text are on. Those hits (in scan()'s
 * order, through non_overlapping when more than one) are appended to hits as map_hits
 * does, and the answer is None. Any other case: join_texts' tuple, nothing appended, for
 * the scanner's Python (the caller's next step, as before). flags: the scanner's
 * fast_flags (SCAN_* below; the caller passes it only without custom recognizers), with
 * SCAN_NO_PATHS: the hits made here have None for their value's location (as walk's
 * with paths false).
 */
enum { SCAN_ADDR = 1, SCAN_DOB = 2, SCAN_NAMES = 4, SCAN_EMAIL = 8, SCAN_IPV4 = 16, SCAN_NO_PATHS = 32 };

/* (s, e, entity, False) appended to found: 0 or -1 */
static int append_found(PyObject *found, Py_ssize_t s, Py_ssize_t e, PyObject *entity) {
    PyObject *a = PyLong_FromSsize_t(s), *b = a == NULL ? NULL : PyLong_FromSsize_t(e);
    PyObject *h = b == NULL ? NULL : PyTuple_New(4);
    if (h == NULL) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        return -1;
    }
    PyTuple_SET_ITEM(h, 0, a);
    PyTuple_SET_ITEM(h, 1, b);
    PyTuple_SET_ITEM(h, 2, Py_NewRef(entity));
    PyTuple_SET_ITEM(h, 3, Py_NewRef(Py_False));
    int r = PyList_Append(found, h);
    Py_DECREF(h);
    return r;
}

/* TextScanner.scan(j->joined, prose)'s hits appended to found: 1; 0 when the case is not
 * one this code covers (found may then hold some: the caller drops it); -1 error. */
static int scan_common(const Joined *j, long flags, PyObject *found) {
    PyObject *text = j->joined;
    Text t = {PyUnicode_KIND(text), PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text)};
    if (flags & SCAN_EMAIL) {
        Py_ssize_t at = PyUnicode_FindChar(text, '@', 0, t.len, 1);
        if (at == -2)
            return -1;
        if (at >= 0)
            return 0;
    }
    if (flags & SCAN_IPV4) {
        Py_ssize_t colon = PyUnicode_FindChar(text, ':', 0, t.len, 1);
        if (colon == -2)
            return -1;
        if (colon >= 0)
            return 0;
    }
    Py_ssize_t nprose = j->nprose;
    if ((flags & SCAN_DOB) && nprose > 0 && !PyUnicode_IS_ASCII(text))
        return 0; /* scan() searches the lower-cased text with the regex */
    if ((flags & SCAN_NAMES) && nprose > 0 && (!pw_ready || E_PERSON == NULL))
        return 0;
    CandPos c;
    cand_init(&t, &c);
    Py_ssize_t f[6];
    while (cand_next(&t, &c, f)) {
        if (f[2] != 3)
            return 0;
        if (!(flags & SCAN_ADDR))
            continue;
        if (suffix_count < 0 || E_ADDRESS == NULL)
            return 0;
        Py_ssize_t e = address_end(&t, f[0]); /* (f[0] < t.len: a candidate starts there) */
        if (e >= 0 && append_found(found, f[0], e, E_ADDRESS) < 0)
            return -1;
    }
    if (!(flags & (SCAN_DOB | SCAN_NAMES)))
        return 1;
    /* the sentences are ranges of the joined text: 0 <= a <= b <= its length */
    for (Py_ssize_t i = 0; i < nprose; i++) {
        Py_ssize_t a = j->prose[2 * i], b = j->prose[2 * i + 1];
        if ((flags & SCAN_DOB) && dob_gate_in(PyUnicode_1BYTE_DATA(text), a, b))
            return 0; /* dates: the scanner's Python */
        if (flags & SCAN_NAMES) {
            Text tt = {t.kind, t.data, b}; /* person_find(text, a, b) */
            PyObject *spans = PyList_New(0);
            if (spans == NULL)
                return -1;
            if (person_find_into(text, tt, a, spans) < 0) {
                Py_DECREF(spans);
                return -1;
            }
            for (Py_ssize_t k = 0; k < PyList_GET_SIZE(spans); k++) {
                PyObject *sp = PyList_GET_ITEM(spans, k);
                Py_ssize_t s0 = PyLong_AsSsize_t(PyTuple_GET_ITEM(sp, 0)), e0 = PyLong_AsSsize_t(PyTuple_GET_ITEM(sp, 1));
                if (((s0 == -1 || e0 == -1) && PyErr_Occurred()) || append_found(found, s0, e0, E_PERSON) < 0) {
                    Py_DECREF(spans);
                    return -1;
                }
            }
            Py_DECREF(spans);
        }
    }
    return 1;
}

/* map_hits(found, starts, kept_refs, hits) over j's arrays (without paths: None for the
 * value's location): 0 or -1 */
static int map_joined(PyObject *found, const Joined *j, PyObject *refs, PyObject *hits, int paths) {
    for (Py_ssize_t q = 0; q < PyList_GET_SIZE(found); q++) {
        PyObject *f = PyList_GET_ITEM(found, q); /* (s, e, entity, spi): append_found's */
        Py_ssize_t s = PyLong_AsSsize_t(PyTuple_GET_ITEM(f, 0)), e = PyLong_AsSsize_t(PyTuple_GET_ITEM(f, 1));
        if ((s == -1 || e == -1) && PyErr_Occurred())
            return -1;
        /* bisect.bisect_right(starts, s) - 1 (start[0] is 0 and s >= 0) */
        Py_ssize_t lo = 0, hi = j->nkept;
        while (lo < hi) {
            Py_ssize_t mid = (lo + hi) / 2;
            if (s < j->start[mid])
                hi = mid;
            else
                lo = mid + 1;
        }
        Py_ssize_t i = lo - 1;
        if (i < 0) {
            PyErr_SetString(PyExc_IndexError, "a hit before the first value");
            return -1;
        }
        if (j->ref_at[i] >= PyList_GET_SIZE(refs)) {
            PyErr_SetString(PyExc_IndexError, "a hit past the references");
            return -1;
        }
        Py_ssize_t off = j->start[i];
        PyObject *ref = PyList_GET_ITEM(refs, j->ref_at[i]);
        if (!PyTuple_CheckExact(ref) || PyTuple_GET_SIZE(ref) != 3) {
            PyErr_SetString(PyExc_TypeError, "a reference is (parent, key, loc)");
            return -1;
        }
        PyObject *parent = PyTuple_GET_ITEM(ref, 0), *key = PyTuple_GET_ITEM(ref, 1), *loc = PyTuple_GET_ITEM(ref, 2);
        PyObject *vloc;
        if (parent == Py_None || !paths) {
            vloc = Py_NewRef(paths ? loc : Py_None);
        } else {
            PyObject *two[2] = {loc, key};
            vloc = tuple_of(two, 2);
        }
        PyObject *span = vloc == NULL ? NULL : pair(s - off, e - off);
        PyObject *h = NULL;
        if (span != NULL) {
            PyObject *items[8] = {parent, key, vloc, PyTuple_GET_ITEM(f, 2), PyTuple_GET_ITEM(f, 3),
                                  span, S_PATTERN, Py_None};
            h = tuple_of(items, 8);
        }
        Py_XDECREF(vloc);
        Py_XDECREF(span);
        if (h == NULL || PyList_Append(hits, h) < 0) {
            Py_XDECREF(h);
            return -1;
        }
        Py_DECREF(h);
    }
    return 0;
}

static PyObject *scan_texts(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t limit;
    int quiet;
    if (nargs != 6 || !PyList_CheckExact(args[5])) {
        PyErr_SetString(PyExc_TypeError,
                        "scan_texts(texts: list, refs: list, limit: int, quiet: bool, flags: int, hits: list)");
        return NULL;
    }
    if (join_args(args, 4, &limit, &quiet) < 0)
        return NULL;
    long flags = PyLong_AsLong(args[4]);
    if (flags == -1 && PyErr_Occurred())
        return NULL;
    PyObject *refs = args[1], *result = NULL, *found = NULL;
    Joined j;
    int r = join_core(args[0], refs, limit, quiet, &j);
    if (r <= 0) {
        result = r < 0 ? NULL : Py_NewRef(Py_None);
        goto done;
    }
    if (flags < 0 || (found = PyList_New(0)) == NULL)
        goto python;
    r = scan_common(&j, flags, found);
    if (r < 0)
        goto done;
    if (r == 0)
        goto python;
    if (PyList_GET_SIZE(found) > 1) {
        PyObject *kept = non_overlapping(self, found);
        if (kept == NULL)
            goto done;
        Py_SETREF(found, kept);
    }
    if (map_joined(found, &j, refs, args[5], !(flags & SCAN_NO_PATHS)) == 0)
        result = Py_NewRef(Py_None);
    goto done;
python:
    if (found != NULL || flags < 0)
        result = join_pack(&j, refs); /* the scanner's Python */
done:
    Py_XDECREF(found);
    joined_free(&j);
    return result;
}

static PyMethodDef methods[] = {
    {"candidates", candidates, METH_O,
     "candidates(text) -> [(start, end, kind, dots, n, ctx_lo)]: textscan._CAND's matches, classified."},
    {"walk", (PyCFunction)(void (*)(void))walk, METH_FASTCALL,
     "walk(engine, root, loc, hits, texts, refs[, paths]): Engine._walk in C (see engine.py)."},
    {"mask_ascii", (PyCFunction)(void (*)(void))mask_ascii, METH_FASTCALL,
     "mask_ascii(value, char, keep): operators.mask_value's ASCII path (see operators.py)."},
    {"tally", (PyCFunction)(void (*)(void))tally, METH_FASTCALL,
     "tally(hits, spi_cache, plain_cache, get, action_value, allow, mask, geo, mask_char, keep_last, shapes, "
     "mask_fn, geo_decimals) -> (entities, categories, spi, actions, rest): Engine._tally in C (see engine.py)."},
    {"value_matcher", (PyCFunction)(void (*)(void))value_matcher, METH_FASTCALL,
     "value_matcher(kind, fallback, extra) -> matcher: a recognizer's match_value, common shapes in C."},
    {"summary", (PyCFunction)(void (*)(void))summary, METH_FASTCALL,
     "summary(entities, spi, actions) -> str: filters/pii/fastpath.summary (see there)."},
    {"findings", (PyCFunction)(void (*)(void))findings, METH_FASTCALL,
     "findings(hits, segments, segment, category_of, classify, finding_type): scan_json's Findings."},
    {"scan_texts", (PyCFunction)(void (*)(void))scan_texts, METH_FASTCALL,
     "scan_texts(texts, refs, limit, quiet, flags, hits) -> None | (text, starts, prose, refs): join_texts, "
     "then TextScanner.scan and map_hits in C for prose and addresses (None), else join_texts' tuple."},
    {"join_texts", (PyCFunction)(void (*)(void))join_texts, METH_FASTCALL,
     "join_texts(texts, refs, limit[, quiet]) -> (joined, starts, prose, refs) | None: Engine._scan_texts' first "
     "half."},
    {"map_hits", (PyCFunction)(void (*)(void))map_hits, METH_FASTCALL,
     "map_hits(found, starts, refs, hits): Engine._scan_texts' second half."},
    {"email_valid", email_valid, METH_O, "email_valid(value) -> bool: validators.email_valid (see validators.py)."},
    {"name_runs", (PyCFunction)(void (*)(void))name_runs, METH_FASTCALL,
     "name_runs(text, start, end) -> [(start, end)]: PersonRecognizer._RUN's matches (see recognizers.py)."},
    {"person_words", (PyCFunction)(void (*)(void))person_words, METH_FASTCALL,
     "person_words(stop, cue_words, cues, weak): PersonRecognizer's word sets for person_find."},
    {"person_find", (PyCFunction)(void (*)(void))person_find, METH_FASTCALL,
     "person_find(text, start, end) -> [(start, end)]: PersonRecognizer.find's spans (see recognizers.py)."},
    {"sig_forget", sig_forget, METH_O, "sig_forget(owner) -> None: drop the key-signal entries of one sigs dict (None: all)."},
    {"sig_held", sig_held, METH_NOARGS, "sig_held() -> int: the key-signal entries held (tests)."},
    {"may_round", may_round, METH_O, "may_round(source) -> bool: filters/pii/fastpath.may_round (see there)."},
    {"luhn_valid", luhn_valid, METH_O, "luhn_valid(number) -> bool: validators.luhn_valid (see validators.py)."},
    {"iban_mod97", iban_mod97, METH_O, "iban_mod97(iban) -> int: validators.iban_valid's mod 97-10 remainder."},
    {"dob_gate", (PyCFunction)(void (*)(void))dob_gate, METH_FASTCALL,
     "dob_gate(text, start, end) -> bool: textscan._DOB_GATE over an ASCII text (see textscan.py)."},
    {"date_matches", (PyCFunction)(void (*)(void))date_matches, METH_FASTCALL,
     "date_matches(text, start, end) -> [(start, end)]: DateOfBirthRecognizer.DATE's matches (see recognizers.py)."},
    {"digits_of", digits_of, METH_O, "digits_of(text) -> str: validators.digits_of (see validators.py)."},
    {"phone_nanp", phone_nanp, METH_O, "phone_nanp(value) -> 1/0, or -1: validators.phone_valid for US (see validators.py)."},
    {"ipv4_valid", ipv4_valid, METH_O, "ipv4_valid(value) -> bool: validators.ipv4_valid (see validators.py)."},
    {"non_overlapping", non_overlapping, METH_O, "non_overlapping(hits) -> hits: textscan._non_overlapping."},
    {"street_suffixes", street_suffixes, METH_O,
     "street_suffixes(words): the street suffixes address_at accepts (recognizers.STREET_SUFFIX_WORDS)."},
    {"address_at", (PyCFunction)(void (*)(void))address_at, METH_FASTCALL,
     "address_at(text, start) -> (start, end) | None: StreetAddressRecognizer.TEXT.match's span."},
    {"setup", (PyCFunction)(void (*)(void))setup, METH_FASTCALL,
     "setup(personal, numeric_ok, address, person, geo): engine.py's constants for walk()."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "cpragate.pii._cscan",
    "The PII free-text prefilter in C (see textscan.py; identical to textscan._candidates_py).", -1, methods,
};

PyMODINIT_FUNC PyInit__cscan(void) {
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&S_FIELD, "field"},
        {&S_DOLLAR, "$"},
        {&S_PATTERN, "pattern"},
        {&S_SIGNAL, "_signal"},
        {&S_BARE_INT, "_bare_int"},
        {&S_GEO_FIELDS, "_geo_fields"},
        {&S_GEO_VALUE, "_geo_value"},
        {&S_GEO_LIST, "_geo_list"},
        {&S_PERSON_CONTAINER, "_person_container"},
        {&S_VALUE_MATCHES, "_value_matches"},
        {&S_SPI, "_spi"},
        {&S_WALK_STATE, "_walk_state"},
    };
    for (int c = 0; c < 256; c++)
        CLS[c] = (unsigned char)((IS_START(c) ? CLS_START : 0) | (IS_UPPER(c) ? CLS_UPPER : 0) |
                                 (c == 'b' || c == 'B' || c == 'd' || c == 'D' ? CLS_DOB : 0));
    if (S_SEP == NULL && (S_SEP = PyUnicode_FromStringAndSize("\0", 1)) == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (*names[i].slot == NULL && (*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL)
            return NULL;
    return PyModule_Create(&module);
}
