/* The echo: a feedback delay line per channel, with a one-pole low-pass (the damping)
 * in the loop. See severed/engine/dsp/delay.py for the behaviour.
 *
 * Frame j of a block of n reads the line (doubles, C interleaved channels, a ring of
 * `cap` frames indexed by absolute frame modulo cap) at
 *     at = j * (1 - slope) + ((pos - d0) - slope),   slope = (d1 - d0) / n,
 * i.e. the delay glides from d0 to d1, reaching d1 on the block's last frame; a
 * constant whole-frame delay reads the frame exactly, any other with linear
 * interpolation. The read is the output; it goes through the damping
 *     y = b0 * w - a1 * y1,   b0 = 1 - pole, a1 = -pole
 * and is written back as y * fb_j + x, the feedback fb_j = j * dfb + (fb0 + dfb)
 * gliding to fb1. The delay is at least one frame, so a frame never reads itself.
 * The arithmetic is the numpy oracle's (tests/engine/oracles/delay.py), operation for
 * operation; compiled without fused multiply-adds it matches it to the bit, apart from
 * the flush of values below TINY.
 */
#include "kernels.h"

#include <math.h>
#include <stdint.h>

/* Line values and damping memory below this are set to 0: a dying tail never turns
 * subnormal (100x slower on some CPUs), far below the float32 output's resolution. */
#define TINY 1e-30

typedef struct {
    int64_t channels, cap, pos;
    double d0, d1, fb0, fb1, pole;
    double *buf;      /* cap x channels */
    double *state;    /* [channels] the damping's last output */
} Delay;

static int64_t wrap(int64_t i, int64_t cap)
{
    int64_t s = i % cap;
    return s < 0 ? s + cap : s;
}

static void delay_perform(Delay *dl, const float *x, float *out, int64_t n)
{
    const int64_t c = dl->channels, cap = dl->cap, pos = dl->pos;
    const double b0 = 1.0 - dl->pole, a1 = -dl->pole;
    const double dfb = (dl->fb1 - dl->fb0) / (double)n, fb_base = dl->fb0 + dfb;
    const double slope = (dl->d1 - dl->d0) / (double)n;
    const double base = ((double)pos - dl->d0) - slope;
    const int exact = dl->d0 == dl->d1 && dl->d0 == floor(dl->d0);
    double *buf = dl->buf;
    int64_t wi = wrap(pos, cap);  /* the frame written, moving on by one */
    for (int64_t j = 0; j < n; j++, wi = wi + 1 == cap ? 0 : wi + 1) {
        const double fb = (double)j * dfb + fb_base;
        int64_t i0, i1 = 0;
        double frac = 0.0;
        if (exact) {
            i0 = wrap(pos + j - (int64_t)dl->d0, cap);
        } else {
            const double at = (double)j * (1.0 - slope) + base;
            const double fl = floor_fast(at);
            frac = at - fl;
            i0 = wrap((int64_t)fl, cap);
            i1 = i0 + 1 == cap ? 0 : i0 + 1;
        }
        double *w = buf + wi * c;
        for (int64_t ch = 0; ch < c; ch++) {
            double wet = buf[i0 * c + ch];
            if (!exact)
                wet = wet + (buf[i1 * c + ch] - wet) * frac;
            out[j * c + ch] = (float)wet;
            const double y = b0 * wet - a1 * dl->state[ch];
            dl->state[ch] = y;
            const double v = y * fb + (double)x[j * c + ch];
            w[ch] = fabs(v) < TINY ? 0.0 : v;
        }
    }
    for (int64_t ch = 0; ch < c; ch++)
        if (fabs(dl->state[ch]) < TINY)
            dl->state[ch] = 0.0;
}

/* ------------------------------------------------------------------ binding */

PyDoc_STRVAR(delay_doc,
"delay(x, out, buf, state, pos, d0, d1, fb0, fb1, pole)\n--\n\n"
"Render len(x) frames of the feedback delay into out. x, out: float32 (frames, C);\n"
"buf: float64 (cap, C), the line; state: float64 (C,), the damping's memory. pos:\n"
"absolute frame of x[0]; d0, d1: delay in frames at the block's start and end\n"
"(1 <= d < cap - frames); fb0, fb1: feedback at the start and end; pole: the\n"
"damping's pole, 0 <= pole < 1.");

static PyObject *delay(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    Buf x = {0}, out = {0}, buf = {0}, st = {0};
    PyObject *result = NULL;
    Py_ssize_t pos;
    double d0, d1, fb0, fb1, pole;
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError,
                        "delay() takes x, out, buf, state, pos, d0, d1, fb0, fb1, pole");
        return NULL;
    }
    if (buf_get(&x, args[0], "f", 0, "delay: x") < 0 ||
        buf_get(&out, args[1], "f", 1, "delay: out") < 0 ||
        buf_get(&buf, args[2], "d", 1, "delay: buf") < 0 ||
        buf_get(&st, args[3], "d", 1, "delay: state") < 0 ||
        arg_ssize(args[4], 0, PY_SSIZE_T_MAX, "delay: pos", &pos) < 0 ||
        arg_finite(args[5], "delay: d0", &d0) < 0 ||
        arg_finite(args[6], "delay: d1", &d1) < 0 ||
        arg_finite(args[7], "delay: fb0", &fb0) < 0 ||
        arg_finite(args[8], "delay: fb1", &fb1) < 0 ||
        arg_finite(args[9], "delay: pole", &pole) < 0)
        goto done;
    Py_ssize_t frames = buf_rows(&x), c = buf_cols(&x), cap = buf_rows(&buf);
    if (buf_rows(&out) < frames || buf_cols(&out) != c || buf_cols(&buf) != c ||
        buf_count(&st) != c) {
        PyErr_Format(PyExc_ValueError, "delay: out must be (>= %zd, %zd), buf (cap, %zd) "
                     "and state (%zd,)", frames, c, c, c);
        goto done;
    }
    if (d0 < 1.0 || d1 < 1.0 || d0 + 1.0 >= (double)(cap - frames) ||
        d1 + 1.0 >= (double)(cap - frames)) {
        err_value("delay: delays %g, %g frames do not fit a line of "
                  "%zd frames with blocks of %zd", d0, d1, cap, frames);
        goto done;
    }
    if (!(pole >= 0.0 && pole < 1.0)) {
        err_value("delay: pole %g outside 0..1", pole);
        goto done;
    }
    Delay dl = {.channels = c, .cap = cap, .pos = pos, .d0 = d0, .d1 = d1, .fb0 = fb0,
                .fb1 = fb1, .pole = pole, .buf = buf.view.buf, .state = st.view.buf};
    if (frames > 0)
        WITHOUT_GIL_IF(frames * c, delay_perform(&dl, x.view.buf, out.view.buf, frames));
    result = Py_None;
    Py_INCREF(result);
done:
    buf_release(&x);
    buf_release(&out);
    buf_release(&buf);
    buf_release(&st);
    return result;
}

PyMethodDef delay_methods[] = {
    {"delay", (PyCFunction)(void (*)(void))delay, METH_FASTCALL, delay_doc},
    {NULL, NULL, 0, NULL},
};
