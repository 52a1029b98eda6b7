/* cpragate.server._h1 — llhttp without a Python call per header.
 *
 * Why this exists (bench/RESULTS.md, "The native parser binding"): through httptools,
 * llhttp calls into Python for every message begin, URL piece, header name, header
 * value, and the head's end, and the gateway then asks for the method, the version (a
 * str.format per request), keep-alive and upgrade with one Python call each. On the
 * 1 KB passthrough path that was ~11k of ~65k instructions per request. Here the same
 * llhttp (vendored from httptools 0.9.0, src/cpragate/_vendor/llhttp, MIT) collects the
 * head in C and calls the protocol once per head:
 *
 *   request:  on_head(method: str, url: bytes, headers: list[(lower name, value)],
 *                     special: dict, version: str, keep_alive: bool, upgrade: bool)
 *   response: on_head(status: int, headers, special, version, keep_alive)
 *
 * then on_body(bytes) per body piece and on_message_complete(). `special` holds the
 * headers whose lowered name is in the parser's `special` set (last one wins); a second
 * header of a name in `unique` raises DuplicateHeader. The head is bounded: more than
 * `max_head_bytes` (URL + names + values + 4 per header) or more than `max_headers`
 * headers raises HeadTooLarge. Errors: llhttp's own raise ParseError (an upgrade too);
 * an exception raised by a callback propagates unchanged. The exception classes live in
 * cpragate.server.h1parse, whose pure-Python parser over httptools behaves the same and
 * is what runs when this module is not built (tests run both).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include "../_vendor/llhttp/llhttp.h"

typedef struct {
    uint32_t name_off, name_len, value_off, value_len;
} hdr_t;

/* Header names handed over as one shared bytes object (hash cached) instead of a new one
 * per header: the common ones below and every parser's special names, registered once per
 * process (a parser keeps one flag byte per name and, once it has parsed something, one
 * pointer per name for the value it may reuse: per connection that is what memory costs). */
#define MAX_NAMES 64
static PyObject *names[MAX_NAMES]; /* lowercase bytes, alive for the process */
static unsigned char secret[MAX_NAMES]; /* a credential: its value is never kept past its message */
static int nnames;
/* Names by length (index + 1; 0 ends a chain): a header's name is compared only with the
 * known names of its length, not with all of them (memcmp was ~750 instructions a request). */
static unsigned char len_first[65];
static unsigned char len_next[MAX_NAMES];
#define F_SPECIAL 1
#define F_UNIQUE 2
static const char *common_names[] = { /* the most frequent first: they are looked up in order */
    "host", "user-agent", "accept", "content-type", "content-length", "date", "server", "connection",
    "authorization", "x-api-key", "accept-encoding", "accept-language", "cache-control", "cookie", "etag",
    "last-modified", "origin", "referer", "transfer-encoding", "vary", "x-request-id", "x-forwarded-for",
    "x-forwarded-proto", "x-forwarded-host", "location", "keep-alive", "expect", "content-encoding",
    "if-none-match", "set-cookie", NULL,
};

typedef struct {
    PyObject_HEAD
    llhttp_t p;
    llhttp_settings_t s;
    PyObject *on_head, *on_body, *on_complete;
    unsigned char flags[MAX_NAMES]; /* F_SPECIAL, F_UNIQUE per registered name */
    PyObject **prev;                /* MAX_NAMES previous values, allocated on first use */
    Py_ssize_t max_head, max_headers;
    char *buf;
    size_t len, cap;
    hdr_t *hdrs;
    size_t nh, hcap;
    size_t url_len;
    size_t head_bytes;
    int last; /* 0: nothing yet, 1: in a name, 2: in a value */
    int in_head;
    int is_request;
    PyObject *et, *ev, *etb; /* the exception a callback raised */
} Parser;

static PyObject *ParseError, *HeadTooLarge, *DuplicateHeader;
static PyObject *method_names[64];
static PyObject *v11, *v10;

static void
stash_error(Parser *self)
{
    if (self->et == NULL)
        PyErr_Fetch(&self->et, &self->ev, &self->etb);
    else
        PyErr_Clear();
}

static int
fail(Parser *self, PyObject *cls, const char *msg)
{
    PyErr_SetString(cls, msg);
    stash_error(self);
    return -1;
}

static int
append(Parser *self, const char *at, size_t n)
{
    if (self->len + n > self->cap) {
        size_t cap = self->cap ? self->cap : 256;
        while (cap < self->len + n)
            cap *= 2;
        char *b = PyMem_Realloc(self->buf, cap);
        if (b == NULL) {
            PyErr_NoMemory();
            stash_error(self);
            return -1;
        }
        self->buf = b;
        self->cap = cap;
    }
    memcpy(self->buf + self->len, at, n);
    self->len += n;
    return 0;
}

static int
count(Parser *self, size_t n)
{
    self->head_bytes += n;
    if ((Py_ssize_t)self->head_bytes > self->max_head)
        return fail(self, HeadTooLarge, "request head too large");
    return 0;
}

static int
cb_message_begin(llhttp_t *p)
{
    Parser *self = (Parser *)p->data;
    self->len = 0;
    self->nh = 0;
    self->url_len = 0;
    self->head_bytes = 0;
    self->last = 0;
    self->in_head = 1;
    return 0;
}

static int
cb_url(llhttp_t *p, const char *at, size_t n)
{
    Parser *self = (Parser *)p->data;
    if (count(self, n) < 0 || append(self, at, n) < 0)
        return -1;
    self->url_len += n;
    return 0;
}

static int
cb_field(llhttp_t *p, const char *at, size_t n)
{
    Parser *self = (Parser *)p->data;
    if (self->last != 1) { /* a new header */
        if ((Py_ssize_t)self->nh >= self->max_headers)
            return fail(self, HeadTooLarge, "too many headers");
        if (count(self, 4) < 0)
            return -1;
        if (self->nh == self->hcap) {
            size_t cap = self->hcap ? self->hcap * 2 : 8;
            hdr_t *h = PyMem_Realloc(self->hdrs, cap * sizeof(hdr_t));
            if (h == NULL) {
                PyErr_NoMemory();
                stash_error(self);
                return -1;
            }
            self->hdrs = h;
            self->hcap = cap;
        }
        hdr_t *h = &self->hdrs[self->nh++];
        h->name_off = (uint32_t)self->len;
        h->name_len = 0;
        h->value_off = 0;
        h->value_len = 0;
        self->last = 1;
    }
    if (count(self, n) < 0 || append(self, at, n) < 0)
        return -1;
    self->hdrs[self->nh - 1].name_len += (uint32_t)n;
    return 0;
}

static int
cb_value(llhttp_t *p, const char *at, size_t n)
{
    Parser *self = (Parser *)p->data;
    hdr_t *h = &self->hdrs[self->nh - 1]; /* llhttp never gives a value before its name */
    if (self->last != 2) {
        h->value_off = (uint32_t)self->len;
        self->last = 2;
    }
    if (count(self, n) < 0 || append(self, at, n) < 0)
        return -1;
    h->value_len += (uint32_t)n;
    return 0;
}

static PyObject *
version_str(llhttp_t *p)
{
    if (p->http_major == 1 && p->http_minor == 1)
        return Py_NewRef(v11);
    if (p->http_major == 1 && p->http_minor == 0)
        return Py_NewRef(v10);
    return PyUnicode_FromFormat("%d.%d", (int)p->http_major, (int)p->http_minor);
}

static PyObject *
method_str(llhttp_t *p)
{
    unsigned m = p->method;
    if (m >= 64)
        return PyUnicode_FromString(llhttp_method_name((llhttp_method_t)m));
    if (method_names[m] == NULL) {
        method_names[m] = PyUnicode_InternFromString(llhttp_method_name((llhttp_method_t)m));
        if (method_names[m] == NULL)
            return NULL;
    }
    return Py_NewRef(method_names[m]);
}

/* The header list and the special dict; NULL with an exception set on failure. */
static int
build_headers(Parser *self, PyObject **out_list, PyObject **out_special)
{
    PyObject *list = PyList_New((Py_ssize_t)self->nh);
    PyObject *special = PyDict_New();
    if (list == NULL || special == NULL)
        goto error;
    for (size_t i = 0; i < self->nh; i++) {
        hdr_t *h = &self->hdrs[i];
        char low[64];
        const char *s = self->buf + h->name_off;
        PyObject *name = NULL;
        int k = -1;
        if (h->name_len <= sizeof(low)) {
            for (uint32_t j = 0; j < h->name_len; j++) {
                char c = s[j];
                low[j] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
            }
            for (int j1 = len_first[h->name_len]; j1 != 0; j1 = len_next[j1 - 1]) {
                PyObject *kn = names[j1 - 1];
                if (memcmp(PyBytes_AS_STRING(kn), low, h->name_len) == 0) {
                    k = j1 - 1;
                    name = Py_NewRef(kn);
                    break;
                }
            }
            if (name == NULL)
                name = PyBytes_FromStringAndSize(low, h->name_len);
        }
        else {
            name = PyBytes_FromStringAndSize(NULL, h->name_len);
            if (name != NULL) {
                char *d = PyBytes_AS_STRING(name);
                for (uint32_t j = 0; j < h->name_len; j++) {
                    char c = s[j];
                    d[j] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
                }
            }
        }
        if (name == NULL)
            goto error;
        /* Most known headers repeat their value on a connection (Host, User-Agent, Accept;
         * Server, Content-Type, ETag): the previous object is reused instead of a new one. */
        PyObject *value;
        const char *vs = self->buf + h->value_off;
        PyObject *prev = k >= 0 && self->prev != NULL ? self->prev[k] : NULL;
        if (prev != NULL && PyBytes_GET_SIZE(prev) == (Py_ssize_t)h->value_len &&
            memcmp(PyBytes_AS_STRING(prev), vs, h->value_len) == 0) {
            value = Py_NewRef(prev);
        }
        else {
            value = PyBytes_FromStringAndSize(vs, h->value_len);
            if (value == NULL) {
                Py_DECREF(name);
                goto error;
            }
            if (k >= 0 && !secret[k] && h->value_len <= 256) {
                if (self->prev == NULL)
                    self->prev = PyMem_Calloc(MAX_NAMES, sizeof(PyObject *)); /* no memory: no reuse */
                if (self->prev != NULL)
                    Py_XSETREF(self->prev[k], Py_NewRef(value));
            }
        }
        if (k >= 0 && (self->flags[k] & F_SPECIAL)) {
            if ((self->flags[k] & F_UNIQUE) && PyDict_Contains(special, name) > 0) {
                PyErr_Format(DuplicateHeader, "duplicate %s header", PyBytes_AS_STRING(name));
                Py_DECREF(name);
                Py_DECREF(value);
                goto error;
            }
            if (PyDict_SetItem(special, name, value) < 0) {
                Py_DECREF(name);
                Py_DECREF(value);
                goto error;
            }
        }
        PyObject *t = PyTuple_New(2);
        if (t == NULL) {
            Py_DECREF(name);
            Py_DECREF(value);
            goto error;
        }
        PyTuple_SET_ITEM(t, 0, name);
        PyTuple_SET_ITEM(t, 1, value);
        PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    *out_list = list;
    *out_special = special;
    return 0;
error:
    Py_XDECREF(list);
    Py_XDECREF(special);
    return -1;
}

static int
cb_headers_complete(llhttp_t *p)
{
    Parser *self = (Parser *)p->data;
    PyObject *headers = NULL, *special = NULL, *first = NULL, *version = NULL, *r = NULL;
    self->in_head = 0;
    if (build_headers(self, &headers, &special) < 0)
        goto error;
    version = version_str(p);
    if (version == NULL)
        goto error;
    PyObject *keep = llhttp_should_keep_alive(p) ? Py_True : Py_False;
    if (self->is_request) {
        first = method_str(p);
        if (first == NULL)
            goto error;
        PyObject *url = PyBytes_FromStringAndSize(self->buf, (Py_ssize_t)self->url_len);
        if (url == NULL)
            goto error;
        PyObject *args[7] = {first, url, headers, special, version, keep, p->upgrade ? Py_True : Py_False};
        r = PyObject_Vectorcall(self->on_head, args, 7, NULL);
        Py_DECREF(url);
    }
    else {
        first = PyLong_FromLong(p->status_code);
        if (first == NULL)
            goto error;
        PyObject *args[5] = {first, headers, special, version, keep};
        r = PyObject_Vectorcall(self->on_head, args, 5, NULL);
    }
    if (r == NULL)
        goto error;
    Py_DECREF(r);
    Py_DECREF(headers);
    Py_DECREF(special);
    Py_DECREF(first);
    Py_DECREF(version);
    return p->upgrade ? 1 : 0; /* as httptools: an upgrade has no body here */
error:
    stash_error(self);
    Py_XDECREF(headers);
    Py_XDECREF(special);
    Py_XDECREF(first);
    Py_XDECREF(version);
    return -1;
}

static int
cb_body(llhttp_t *p, const char *at, size_t n)
{
    Parser *self = (Parser *)p->data;
    PyObject *b = PyBytes_FromStringAndSize(at, (Py_ssize_t)n);
    if (b == NULL) {
        stash_error(self);
        return -1;
    }
    PyObject *r = PyObject_CallOneArg(self->on_body, b);
    Py_DECREF(b);
    if (r == NULL) {
        stash_error(self);
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

static int
cb_message_complete(llhttp_t *p)
{
    Parser *self = (Parser *)p->data;
    PyObject *r = PyObject_CallNoArgs(self->on_complete);
    if (r == NULL) {
        stash_error(self);
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

static int Parser_clear(Parser *self);

static int
get_callback(PyObject *proto, const char *name, PyObject **out)
{
    *out = PyObject_GetAttrString(proto, name);
    return *out == NULL ? -1 : 0;
}

/* The index of a lowercase name in the process-wide table, added if new; -1 on error. */
static int
register_name(PyObject *name)
{
    if (!PyBytes_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "header names must be bytes");
        return -1;
    }
    const char *nm = PyBytes_AS_STRING(name);
    Py_ssize_t len = PyBytes_GET_SIZE(name);
    for (int j = 0; j < nnames; j++) {
        if (PyBytes_GET_SIZE(names[j]) == len && memcmp(PyBytes_AS_STRING(names[j]), nm, (size_t)len) == 0) {
            /* Hand out the caller's object from now on: its own sets (the data plane's
             * skip and special sets are built from the same literals) then match it by
             * identity, before comparing bytes. */
            if (PyObject_Hash(name) == -1)
                return -1;
            Py_SETREF(names[j], Py_NewRef(name));
            return j;
        }
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        if (nm[i] >= 'A' && nm[i] <= 'Z') {
            PyErr_SetString(PyExc_ValueError, "special header names must be lowercase");
            return -1;
        }
    }
    if (nnames == MAX_NAMES) {
        PyErr_SetString(PyExc_ValueError, "too many distinct special header names (64 per process)");
        return -1;
    }
    if (PyObject_Hash(name) == -1) /* computed once, cached in the object */
        return -1;
    names[nnames] = Py_NewRef(name);
    if (len <= 64) { /* longer names are never looked up (see build_headers) */
        len_next[nnames] = len_first[len];
        len_first[len] = (unsigned char)(nnames + 1);
    }
    secret[nnames] = strcmp(nm, "authorization") == 0 || strcmp(nm, "cookie") == 0 ||
                     strcmp(nm, "set-cookie") == 0 || strcmp(nm, "x-api-key") == 0 ||
                     strcmp(nm, "proxy-authorization") == 0;
    return nnames++;
}

static int
add_flags(Parser *self, PyObject *names_in, unsigned char flag)
{
    if (names_in == Py_None)
        return 0;
    PyObject *it = PyObject_GetIter(names_in);
    if (it == NULL)
        return -1;
    PyObject *n;
    while ((n = PyIter_Next(it)) != NULL) {
        int j = register_name(n);
        Py_DECREF(n);
        if (j < 0) {
            Py_DECREF(it);
            return -1;
        }
        self->flags[j] |= flag;
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

static int
Parser_init(Parser *self, PyObject *args, PyObject *kwds, int is_request)
{
    static char *kwlist[] = {"protocol", "special", "unique", "max_head_bytes", "max_headers", NULL};
    PyObject *proto, *special = Py_None, *unique = Py_None;
    Py_ssize_t max_head = PY_SSIZE_T_MAX, max_headers = PY_SSIZE_T_MAX;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OOnn", kwlist, &proto, &special, &unique, &max_head,
                                     &max_headers))
        return -1;
    Parser_clear(self); /* __init__ called again */
    if (get_callback(proto, "on_head", &self->on_head) < 0 || get_callback(proto, "on_body", &self->on_body) < 0 ||
        get_callback(proto, "on_message_complete", &self->on_complete) < 0)
        return -1;
    memset(self->flags, 0, sizeof(self->flags));
    if (add_flags(self, special, F_SPECIAL) < 0 || add_flags(self, unique, F_SPECIAL | F_UNIQUE) < 0)
        return -1;
    self->max_head = max_head;
    self->max_headers = max_headers;
    self->is_request = is_request;
    llhttp_settings_init(&self->s);
    self->s.on_message_begin = cb_message_begin;
    self->s.on_url = cb_url;
    self->s.on_header_field = cb_field;
    self->s.on_header_value = cb_value;
    self->s.on_headers_complete = cb_headers_complete;
    self->s.on_body = cb_body;
    self->s.on_message_complete = cb_message_complete;
    llhttp_init(&self->p, is_request ? HTTP_REQUEST : HTTP_RESPONSE, &self->s);
    self->p.data = self;
    return 0;
}

static int
Request_init(Parser *self, PyObject *args, PyObject *kwds)
{
    return Parser_init(self, args, kwds, 1);
}

static int
Response_init(Parser *self, PyObject *args, PyObject *kwds)
{
    return Parser_init(self, args, kwds, 0);
}

static PyObject *
Parser_feed_data(Parser *self, PyObject *data)
{
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_INCREF(self); /* a callback may drop the protocol's last reference to this parser */
    llhttp_errno_t err = llhttp_execute(&self->p, (const char *)view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    PyObject *result = NULL;
    if (self->et != NULL) {
        PyErr_Restore(self->et, self->ev, self->etb);
        self->et = self->ev = self->etb = NULL;
    }
    else if (err == HPE_PAUSED_UPGRADE) {
        llhttp_resume_after_upgrade(&self->p);
        PyErr_SetString(ParseError, "protocol upgrade");
    }
    else if (err != HPE_OK) {
        const char *reason = llhttp_get_error_reason(&self->p);
        PyErr_Format(ParseError, "%s: %s", llhttp_errno_name(err), reason ? reason : "invalid HTTP");
    }
    else {
        result = Py_NewRef(self->in_head ? Py_True : Py_False);
    }
    Py_DECREF(self);
    return result;
}

static int
Parser_traverse(Parser *self, visitproc visit, void *arg)
{
    Py_VISIT(self->on_head);
    Py_VISIT(self->on_body);
    Py_VISIT(self->on_complete);
    Py_VISIT(self->et);
    Py_VISIT(self->ev);
    Py_VISIT(self->etb);
    return 0;
}

static int
Parser_clear(Parser *self)
{
    Py_CLEAR(self->on_head);
    Py_CLEAR(self->on_body);
    Py_CLEAR(self->on_complete);
    if (self->prev != NULL) {
        for (int j = 0; j < MAX_NAMES; j++)
            Py_CLEAR(self->prev[j]);
        PyMem_Free(self->prev);
        self->prev = NULL;
    }
    Py_CLEAR(self->et);
    Py_CLEAR(self->ev);
    Py_CLEAR(self->etb);
    return 0;
}

static void
Parser_dealloc(Parser *self)
{
    PyObject_GC_UnTrack(self);
    Parser_clear(self);
    PyMem_Free(self->buf);
    PyMem_Free(self->hdrs);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Parser_methods[] = {
    {"feed_data", (PyCFunction)Parser_feed_data, METH_O,
     "Parse bytes; True while a message head is incomplete at their end."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RequestParserType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "cpragate.server._h1.RequestParser",
    .tp_basicsize = sizeof(Parser),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "An HTTP/1 request parser (llhttp) calling on_head once per head.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Request_init,
    .tp_dealloc = (destructor)Parser_dealloc,
    .tp_traverse = (traverseproc)Parser_traverse,
    .tp_clear = (inquiry)Parser_clear,
    .tp_methods = Parser_methods,
};

static PyTypeObject ResponseParserType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "cpragate.server._h1.ResponseParser",
    .tp_basicsize = sizeof(Parser),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "An HTTP/1 response parser (llhttp) calling on_head once per head.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Response_init,
    .tp_dealloc = (destructor)Parser_dealloc,
    .tp_traverse = (traverseproc)Parser_traverse,
    .tp_clear = (inquiry)Parser_clear,
    .tp_methods = Parser_methods,
};

/* Bytes of a tuple member of join_head's head/tail: bytes as they are, a non-negative
 * int as its decimal digits. Returns the length, -1 with an exception set. */
static Py_ssize_t
piece(PyObject *o, char *num, const char **out)
{
    if (PyBytes_Check(o)) {
        *out = PyBytes_AS_STRING(o);
        return PyBytes_GET_SIZE(o);
    }
    if (PyLong_Check(o)) {
        long long v = PyLong_AsLongLong(o);
        if (v == -1 && PyErr_Occurred())
            return -1;
        if (v < 0) {
            PyErr_SetString(PyExc_ValueError, "negative length");
            return -1;
        }
        char tmp[24];
        int n = 0;
        do {
            tmp[n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        for (int i = 0; i < n; i++)
            num[i] = tmp[n - 1 - i];
        *out = num;
        return n;
    }
    PyErr_SetString(PyExc_TypeError, "head and tail hold bytes and ints");
    return -1;
}

/* join_head(head, items, skip, extra, tail) -> the bytes of `head` (a tuple of bytes/ints),
 * then b"name: value\r\n" for each (name, value) of `items` whose name is in neither `skip`
 * nor `extra` (sets; extra may be None), then `tail`: a forwarded message head in one
 * allocation and one call (twin: h1parse.py_join_head). */
static PyObject *
join_head(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyTuple_Check(args[0]) || !PyList_Check(args[1]) || !PyAnySet_Check(args[2]) ||
        (args[3] != Py_None && !PyAnySet_Check(args[3])) || !PyTuple_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "join_head(tuple, list, set, set | None, tuple)");
        return NULL;
    }
    PyObject *head = args[0], *items = args[1], *skip = args[2], *tail = args[4];
    PyObject *extra = args[3] == Py_None ? NULL : args[3];
    char num[24];
    const char *p;
    Py_ssize_t n = PyList_GET_SIZE(items);
    unsigned char keep_small[64];
    unsigned char *keep = n <= 64 ? keep_small : PyMem_Malloc((size_t)n);
    if (keep == NULL)
        return PyErr_NoMemory();
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(head); i++) {
        Py_ssize_t k = piece(PyTuple_GET_ITEM(head, i), num, &p);
        if (k < 0)
            goto error;
        total += k;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tail); i++) {
        Py_ssize_t k = piece(PyTuple_GET_ITEM(tail, i), num, &p);
        if (k < 0)
            goto error;
        total += k;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyList_GET_ITEM(items, i);
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(t, 0)) ||
            !PyBytes_Check(PyTuple_GET_ITEM(t, 1))) {
            PyErr_SetString(PyExc_TypeError, "items must be (bytes, bytes) pairs");
            goto error;
        }
        PyObject *name = PyTuple_GET_ITEM(t, 0);
        int drop = PySet_Contains(skip, name);
        if (drop == 0 && extra != NULL)
            drop = PySet_Contains(extra, name);
        if (drop < 0)
            goto error;
        keep[i] = (unsigned char)!drop;
        if (!drop)
            total += PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(PyTuple_GET_ITEM(t, 1)) + 4;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL)
        goto error;
    char *d = PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(head); i++) {
        Py_ssize_t k = piece(PyTuple_GET_ITEM(head, i), num, &p);
        memcpy(d, p, (size_t)k);
        d += k;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!keep[i])
            continue;
        PyObject *t = PyList_GET_ITEM(items, i);
        PyObject *name = PyTuple_GET_ITEM(t, 0), *value = PyTuple_GET_ITEM(t, 1);
        memcpy(d, PyBytes_AS_STRING(name), (size_t)PyBytes_GET_SIZE(name));
        d += PyBytes_GET_SIZE(name);
        *d++ = ':';
        *d++ = ' ';
        memcpy(d, PyBytes_AS_STRING(value), (size_t)PyBytes_GET_SIZE(value));
        d += PyBytes_GET_SIZE(value);
        *d++ = '\r';
        *d++ = '\n';
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tail); i++) {
        Py_ssize_t k = piece(PyTuple_GET_ITEM(tail, i), num, &p);
        memcpy(d, p, (size_t)k);
        d += k;
    }
    if (keep != keep_small)
        PyMem_Free(keep);
    return out;
error:
    if (keep != keep_small)
        PyMem_Free(keep);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"join_head", (PyCFunction)(void (*)(void))join_head, METH_FASTCALL,
     "head pieces, b'name: value\\r\\n' for each pair whose name is in neither set, tail pieces."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef h1module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "cpragate.server._h1",
    .m_doc = "llhttp with one Python call per message head (see cpragate.server.h1parse).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__h1(void)
{
    PyObject *errors = PyImport_ImportModule("cpragate.server.h1parse");
    if (errors == NULL)
        return NULL;
    ParseError = PyObject_GetAttrString(errors, "ParseError");
    HeadTooLarge = PyObject_GetAttrString(errors, "HeadTooLarge");
    DuplicateHeader = PyObject_GetAttrString(errors, "DuplicateHeader");
    Py_DECREF(errors);
    if (ParseError == NULL || HeadTooLarge == NULL || DuplicateHeader == NULL)
        return NULL;
    for (const char **c = common_names; *c != NULL; c++) {
        PyObject *n = PyBytes_FromString(*c);
        if (n == NULL)
            return NULL;
        int r = register_name(n);
        Py_DECREF(n);
        if (r < 0)
            return NULL;
    }
    v11 = PyUnicode_InternFromString("1.1");
    v10 = PyUnicode_InternFromString("1.0");
    if (v11 == NULL || v10 == NULL)
        return NULL;
    if (PyType_Ready(&RequestParserType) < 0 || PyType_Ready(&ResponseParserType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&h1module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "RequestParser", (PyObject *)&RequestParserType) < 0 ||
        PyModule_AddObjectRef(m, "ResponseParser", (PyObject *)&ResponseParserType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
