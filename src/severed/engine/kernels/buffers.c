/* Buffer helpers for the bindings: borrow a caller's array, check it once per call. */
#include "kernels.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static char element_kind(const Py_buffer *v)
{
    const char *f = v->format ? v->format : "B";
    if (*f == '<' || *f == '=' || *f == '@')
        f++;
    if (strlen(f) != 1)
        return 0;
    switch (*f) {
    case 'f': return v->itemsize == 4 ? 'f' : 0;
    case 'd': return v->itemsize == 8 ? 'd' : 0;
    case 'i': case 'l': case 'q':
        return v->itemsize == 4 ? 'i' : v->itemsize == 8 ? 'q' : 0;
    case 'I': case 'L':
        return v->itemsize == 4 ? 'u' : 0;
    default: return 0;
    }
}

static const char *kind_name(char kind)
{
    switch (kind) {
    case 'f': return "float32";
    case 'd': return "float64";
    case 'i': return "int32";
    case 'q': return "int64";
    case 'u': return "uint32";
    default: return "?";
    }
}

static int check_kind(Buf *b, const char *kinds, const char *what);

int buf_get(Buf *b, PyObject *obj, const char *kinds, int writable, const char *what)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    b->held = 0;
    b->row_stride = 0;
    if (PyObject_GetBuffer(obj, &b->view, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "%s must be a C-contiguous%s array (got %.80s that is not)", what,
                     writable ? ", writable" : "", Py_TYPE(obj)->tp_name);
        return -1;
    }
    b->held = 1;
    if (check_kind(b, kinds, what) < 0)
        return -1;
    b->row_stride = buf_cols(b);
    return 0;
}

int buf_get_rows(Buf *b, PyObject *obj, const char *kinds, int writable, const char *what)
{
    int flags = PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    b->held = 0;
    if (PyObject_GetBuffer(obj, &b->view, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a%s array (got %.80s that is not)", what,
                     writable ? " writable" : "n", Py_TYPE(obj)->tp_name);
        return -1;
    }
    b->held = 1;
    if (check_kind(b, kinds, what) < 0)
        return -1;
    Py_ssize_t item = b->view.itemsize;
    if (b->view.ndim != 2 || b->view.strides[1] != item || b->view.strides[0] < 0 ||
        b->view.strides[0] % item) {
        PyErr_Format(PyExc_TypeError, "%s must be 2-D with contiguous rows", what);
        buf_release(b);
        return -1;
    }
    b->row_stride = b->view.strides[0] / item;
    return 0;
}

static int check_kind(Buf *b, const char *kinds, const char *what)
{
    b->kind = element_kind(&b->view);
    if (!b->kind || !strchr(kinds, b->kind)) {
        char wanted[64] = "";
        for (const char *k = kinds; *k; k++) {
            if (k != kinds)
                strcat(wanted, " or ");
            strcat(wanted, kind_name(*k));
        }
        PyErr_Format(PyExc_TypeError, "%s must be %s, not format '%s'", what, wanted,
                     b->view.format ? b->view.format : "B");
        buf_release(b);
        return -1;
    }
    return 0;
}

void buf_release(Buf *b)
{
    if (b->held) {
        PyBuffer_Release(&b->view);
        b->held = 0;
    }
}

Py_ssize_t buf_count(const Buf *b)
{
    return b->view.len / b->view.itemsize;
}

Py_ssize_t buf_rows(const Buf *b)
{
    return b->view.ndim >= 1 ? b->view.shape[0] : 1;
}

Py_ssize_t buf_cols(const Buf *b)
{
    if (b->view.ndim == 2 && b->view.shape)
        return b->view.shape[1];
    Py_ssize_t rows = buf_rows(b);
    return rows ? buf_count(b) / rows : 0;
}

int arg_ssize(PyObject *obj, Py_ssize_t lo, Py_ssize_t hi, const char *what, Py_ssize_t *out)
{
    Py_ssize_t v = PyLong_AsSsize_t(obj);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < lo || v > hi) {
        PyErr_Format(PyExc_ValueError, "%s is %zd, outside %zd..%zd", what, v, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int arg_finite(PyObject *obj, const char *what, double *out)
{
    double v = PyFloat_AsDouble(obj);
    if (v == -1.0 && PyErr_Occurred())
        return -1;
    if (!isfinite(v)) {
        PyErr_Format(PyExc_ValueError, "%s must be finite", what);
        return -1;
    }
    *out = v;
    return 0;
}

int arg_u32(PyObject *obj, const char *what, uint32_t *out)
{
    unsigned long long v = PyLong_AsUnsignedLongLong(obj);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return -1;
        PyErr_Clear();
        v = ~0ULL;  /* negative or too large: reported below */
    }
    if (v > 0xFFFFFFFFULL) {
        PyErr_Format(PyExc_ValueError, "%s is outside 0..4294967295", what);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

void err_value(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    PyErr_SetString(PyExc_ValueError, msg);
}
