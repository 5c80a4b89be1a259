/* Recursive filters of order 1..3 (biquads, one-poles, the pink-noise shaper) in
 * direct form I, with coefficients that may change at segment edges in a block.
 *
 * A call filters `frames` frames of C interleaved channels. Coefficients come as a
 * segment table, one row per segment: [end_frame, b0..bK, a1..aK] (a0 = 1); segment s
 * covers frames end[s-1]..end[s]-1, so a ramp across a block is a few rows and a fixed
 * filter is one. The state is per channel [x1..xK, y1..yK] (the last inputs and
 * outputs, newest first) in doubles; it means the same whatever the coefficients are,
 * so a coefficient change never clicks. The arithmetic is double, in the order
 *   y = b0*x + b1*x1 + ... + bK*xK - aK*yK - ... - a1*y1
 * (compiled with -ffp-contract=off), so a plain loop reproduces it to the bit. The
 * last output comes in last: the recursion's chain from one sample to the next is then
 * one multiply and one subtraction, which sets the speed of the loop.
 * State magnitudes below 1e-30 are set to 0 at the end of a call: a decaying tail
 * never becomes subnormal (which costs 100x on some CPUs) and the change is far below
 * the float32 output's resolution.
 */
#include "kernels.h"

#include <math.h>

/* gcc's SLP vectoriser packs the two channels of a pass into one vector register and
 * shuffles every sample (measured: 50 % slower than two scalar chains). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-slp-vectorize")
#endif

#define IIR_MAX_ORDER 3
#define TINY 1e-30

/* ---------------------------------------------------------------- perform routines */

/* The state of one channel in registers: inputs x1..x3 and outputs y1..y3. */
typedef struct {
    double x1, x2, x3, y1, y2, y3;
} Lane;

static inline Lane lane_load(const double *s, int order)
{
    Lane l = {0};
    l.x1 = s[0];
    l.y1 = s[order];
    if (order > 1) {
        l.x2 = s[1];
        l.y2 = s[order + 1];
    }
    if (order > 2) {
        l.x3 = s[2];
        l.y3 = s[order + 2];
    }
    return l;
}

static inline double flush(double v)
{
    return fabs(v) < TINY ? 0.0 : v;
}

static inline void lane_store(const Lane *l, double *s, int order)
{
    const double x[3] = {l->x1, l->x2, l->x3}, y[3] = {l->y1, l->y2, l->y3};
    for (int i = 0; i < order; i++) {
        s[i] = flush(x[i]);
        s[order + i] = flush(y[i]);
    }
}

/* One sample of one lane, for a filter of order ORDER (a constant at each use, so
 * the compiler keeps only the taps that exist). */
#define IIR_STEP(ORDER, L, IN, OUT)                                                 \
    do {                                                                            \
        double in_ = (IN), out_;                                                    \
        if ((ORDER) == 1) {                                                         \
            out_ = b0 * in_ + b1 * (L).x1 - a1 * (L).y1;                            \
        } else if ((ORDER) == 2) {                                                  \
            out_ = b0 * in_ + b1 * (L).x1 + b2 * (L).x2 - a2 * (L).y2 - a1 * (L).y1;\
        } else {                                                                    \
            out_ = b0 * in_ + b1 * (L).x1 + b2 * (L).x2 + b3 * (L).x3               \
                   - a3 * (L).y3 - a2 * (L).y2 - a1 * (L).y1;                       \
        }                                                                           \
        (L).x3 = (L).x2;                                                            \
        (L).x2 = (L).x1;                                                            \
        (L).x1 = in_;                                                               \
        (L).y3 = (L).y2;                                                            \
        (L).y2 = (L).y1;                                                            \
        (L).y1 = out_;                                                              \
        (OUT) = out_;                                                               \
    } while (0)

/* Filter channels c (and c + 1 when `pair`) of frames [n0, n1) with one segment's
 * coefficients. Two channels in one pass: their recursions are independent, so the
 * CPU overlaps them (each alone is a chain of dependent multiply-adds). */
#define DEFINE_IIR_SEGMENT(NAME, T, ORDER)                                          \
static void NAME(const T *x, T *y, long n0, long n1, long channels, long c, int pair, \
                 const double *b, const double *a, Lane *l0, Lane *l1)              \
{                                                                                   \
    const double b0 = b[0], b1 = b[1], b2 = (ORDER) > 1 ? b[2] : 0.0;               \
    const double b3 = (ORDER) > 2 ? b[3] : 0.0;                                     \
    const double a1 = a[0], a2 = (ORDER) > 1 ? a[1] : 0.0;                          \
    const double a3 = (ORDER) > 2 ? a[2] : 0.0;                                     \
    (void)b2; (void)b3; (void)a2; (void)a3;                                         \
    Lane p = *l0, q = *l1;                                                          \
    if (pair) {                                                                     \
        for (long n = n0; n < n1; n++) {                                            \
            double o0, o1;                                                          \
            IIR_STEP(ORDER, p, x[n * channels + c], o0);                            \
            IIR_STEP(ORDER, q, x[n * channels + c + 1], o1);                        \
            y[n * channels + c] = (T)o0;                                            \
            y[n * channels + c + 1] = (T)o1;                                        \
        }                                                                           \
    } else {                                                                        \
        for (long n = n0; n < n1; n++) {                                            \
            double o0;                                                              \
            IIR_STEP(ORDER, p, x[n * channels + c], o0);                            \
            y[n * channels + c] = (T)o0;                                            \
        }                                                                           \
    }                                                                               \
    *l0 = p;                                                                        \
    *l1 = q;                                                                        \
}

DEFINE_IIR_SEGMENT(seg_f32_1, float, 1)
DEFINE_IIR_SEGMENT(seg_f32_2, float, 2)
DEFINE_IIR_SEGMENT(seg_f32_3, float, 3)
DEFINE_IIR_SEGMENT(seg_f64_1, double, 1)
DEFINE_IIR_SEGMENT(seg_f64_2, double, 2)
DEFINE_IIR_SEGMENT(seg_f64_3, double, 3)

/* Filter `frames` frames of x into y (float32 when f32, else float64; y may be x). */
static void iir_perform(const void *x, void *y, int f32, long frames, long channels,
                        const double *segments, long nseg, int order, double *state)
{
    const long width = 2 * order + 2;
    for (long c = 0; c < channels; c += 2) {
        int pair = c + 1 < channels;
        Lane l0 = lane_load(state + c * 2 * order, order);
        Lane l1 = pair ? lane_load(state + (c + 1) * 2 * order, order) : l0;
        long n = 0;
        for (long g = 0; g < nseg; g++) {
            const double *row = segments + g * width;
            long end = (long)row[0];
            if (end > frames)
                end = frames;
            const double *b = row + 1, *a = row + 2 + order;
            if (f32) {
                if (order == 1)
                    seg_f32_1(x, y, n, end, channels, c, pair, b, a, &l0, &l1);
                else if (order == 2)
                    seg_f32_2(x, y, n, end, channels, c, pair, b, a, &l0, &l1);
                else
                    seg_f32_3(x, y, n, end, channels, c, pair, b, a, &l0, &l1);
            } else {
                if (order == 1)
                    seg_f64_1(x, y, n, end, channels, c, pair, b, a, &l0, &l1);
                else if (order == 2)
                    seg_f64_2(x, y, n, end, channels, c, pair, b, a, &l0, &l1);
                else
                    seg_f64_3(x, y, n, end, channels, c, pair, b, a, &l0, &l1);
            }
            if (end > n)
                n = end;
        }
        lane_store(&l0, state + c * 2 * order, order);
        if (pair)
            lane_store(&l1, state + (c + 1) * 2 * order, order);
    }
}

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
    WITHOUT_GIL_IF(frames * channels,
                   iir_perform(x.view.buf, y.view.buf, x.kind == 'f', (long)frames,
                               (long)channels, rows, (long)nseg, (int)order, st.view.buf));
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
