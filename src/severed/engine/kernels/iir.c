/* Recursive filters of order 1..3 (biquads, one-poles, the pink-noise shaper) in
 * direct form I, with coefficients that may change at segment edges in a block.
 *
 * A call filters `frames` frames of C interleaved channels. Coefficients come as a
 * segment table, one row per segment: [end_frame, b0..bK, a1..aK] (a0 = 1); segment s
 * covers frames end[s-1]..end[s]-1, so a ramp across a block is a few rows and a fixed
 * filter is one. The state is per channel [x1..xK, y1..yK] (the last inputs and
 * outputs, newest first) in doubles; it means the same whatever the coefficients are,
 * so a coefficient change never clicks. The arithmetic is double, in the order
 *   y = b0*x + b1*x1 + ... + bK*xK - a1*y1 - ... - aK*yK
 * (compiled with -ffp-contract=off), so a plain loop reproduces it to the bit.
 * State magnitudes below 1e-30 are set to 0 at the end of a call: a decaying tail
 * never becomes subnormal (which costs 100x on some CPUs) and the change is far below
 * the float32 output's resolution.
 */
#include "kernels.h"

#include <math.h>

#define IIR_MAX_ORDER 3
#define TINY 1e-30

/* ---------------------------------------------------------------- perform routines */

#define DEFINE_IIR_PERFORM(NAME, T)                                                     \
static void NAME(const T *x, T *y, long frames, long channels,             \
                 const double *segments, long nseg, int order, double *state)        \
{                                                                                    \
    const long width = 2 * order + 2;                                                \
    for (long c = 0; c < channels; c++) {                                            \
        double *s = state + c * 2 * order;                                           \
        double x1 = s[0], x2 = order > 1 ? s[1] : 0.0, x3 = order > 2 ? s[2] : 0.0;  \
        double y1 = s[order], y2 = order > 1 ? s[order + 1] : 0.0;                   \
        double y3 = order > 2 ? s[order + 2] : 0.0;                                  \
        long n = 0;                                                                  \
        for (long g = 0; g < nseg; g++) {                                            \
            const double *row = segments + g * width;                                \
            long end = (long)row[0];                                                 \
            if (end > frames)                                                        \
                end = frames;                                                        \
            const double *b = row + 1, *a = row + 2 + order;                         \
            if (order == 1) {                                                        \
                const double b0 = b[0], b1 = b[1], a1 = a[0];                        \
                for (; n < end; n++) {                                               \
                    double in = x[n * channels + c];                                 \
                    double out = b0 * in + b1 * x1 - a1 * y1;                        \
                    x1 = in;                                                         \
                    y1 = out;                                                        \
                    y[n * channels + c] = (T)out;                                    \
                }                                                                    \
            } else if (order == 2) {                                                 \
                const double b0 = b[0], b1 = b[1], b2 = b[2], a1 = a[0], a2 = a[1];  \
                for (; n < end; n++) {                                               \
                    double in = x[n * channels + c];                                 \
                    double out = b0 * in + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;    \
                    x2 = x1;                                                         \
                    x1 = in;                                                         \
                    y2 = y1;                                                         \
                    y1 = out;                                                        \
                    y[n * channels + c] = (T)out;                                    \
                }                                                                    \
            } else {                                                                 \
                const double b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];             \
                const double a1 = a[0], a2 = a[1], a3 = a[2];                        \
                for (; n < end; n++) {                                               \
                    double in = x[n * channels + c];                                 \
                    double out = b0 * in + b1 * x1 + b2 * x2 + b3 * x3               \
                                 - a1 * y1 - a2 * y2 - a3 * y3;                      \
                    x3 = x2;                                                         \
                    x2 = x1;                                                         \
                    x1 = in;                                                         \
                    y3 = y2;                                                         \
                    y2 = y1;                                                         \
                    y1 = out;                                                        \
                    y[n * channels + c] = (T)out;                                    \
                }                                                                    \
            }                                                                        \
        }                                                                            \
        double keep[6] = {x1, x2, x3, y1, y2, y3};                                   \
        for (int i = 0; i < order; i++) {                                            \
            s[i] = fabs(keep[i]) < TINY ? 0.0 : keep[i];                             \
            s[order + i] = fabs(keep[3 + i]) < TINY ? 0.0 : keep[3 + i];             \
        }                                                                            \
    }                                                                                \
}

/* x and y may be the same buffer: each sample is read before it is written. */
DEFINE_IIR_PERFORM(iir_perform_f32, float)
DEFINE_IIR_PERFORM(iir_perform_f64, double)

/* ---------------------------------------------------------------- binding */

PyDoc_STRVAR(iir_doc,
"iir(x, y, state, segments)\n--\n\n"
"Filter x into y (same shape (frames, C), both float32 or both float64, C-contiguous;\n"
"y may be x) in direct form I. state: float64 (C, 2K), per channel [x1..xK, y1..yK],\n"
"updated. segments: float64 (S, 2K+2), rows [end_frame, b0..bK, a1..aK] with ends\n"
"ascending; the last end is the number of frames filtered (<= frames of x).");

static PyObject *iir(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    Buf x = {0}, y = {0}, st = {0}, seg = {0};
    PyObject *result = NULL;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "iir() takes x, y, state, segments");
        return NULL;
    }
    if (buf_get(&x, args[0], "fd", 0, "iir: x") < 0 ||
        buf_get(&y, args[1], "fd", 1, "iir: y") < 0 ||
        buf_get(&st, args[2], "d", 1, "iir: state") < 0 ||
        buf_get(&seg, args[3], "d", 0, "iir: segments") < 0)
        goto done;
    Py_ssize_t frames = buf_rows(&x), channels = buf_cols(&x);
    if (y.kind != x.kind || buf_rows(&y) != frames || buf_cols(&y) != channels) {
        PyErr_SetString(PyExc_ValueError, "iir: y must have x's shape and dtype");
        goto done;
    }
    if (buf_rows(&st) != channels) {
        PyErr_Format(PyExc_ValueError, "iir: x has %zd channels but the filter's state "
                     "has %zd", channels, buf_rows(&st));
        goto done;
    }
    Py_ssize_t order = buf_cols(&st) / 2;
    if (order < 1 || order > IIR_MAX_ORDER || buf_cols(&st) != 2 * order) {
        PyErr_SetString(PyExc_ValueError, "iir: state rows must be [x1..xK, y1..yK], K = 1..3");
        goto done;
    }
    Py_ssize_t nseg = buf_rows(&seg);
    if (seg.view.ndim != 2 || nseg < 1 || buf_cols(&seg) != 2 * order + 2) {
        PyErr_Format(PyExc_ValueError, "iir: segments must be (S >= 1, %zd)", 2 * order + 2);
        goto done;
    }
    const double *rows = seg.view.buf;
    double prev = 0.0;
    for (Py_ssize_t g = 0; g < nseg; g++) {
        double end = rows[g * (2 * order + 2)];
        if (!(end >= prev && end <= (double)frames) || end != floor(end)) {
            PyErr_Format(PyExc_ValueError, "iir: segment %zd: ends must be whole frame "
                         "numbers, ascending, at most %zd", g, frames);
            goto done;
        }
        prev = end;
    }
    if (x.kind == 'f')
        iir_perform_f32(x.view.buf, y.view.buf, (long)frames, (long)channels, rows,
                        (long)nseg, (int)order, st.view.buf);
    else
        iir_perform_f64(x.view.buf, y.view.buf, (long)frames, (long)channels, rows,
                        (long)nseg, (int)order, st.view.buf);
    result = Py_None;
    Py_INCREF(result);
done:
    buf_release(&x);
    buf_release(&y);
    buf_release(&st);
    buf_release(&seg);
    return result;
}

PyMethodDef iir_methods[] = {
    {"iir", (PyCFunction)(void (*)(void))iir, METH_FASTCALL, iir_doc},
    {NULL, NULL, 0, NULL},
};
