/* Gain-ramped mixing of a rendered layer into a scene's dry bus and reverb send.
 *
 * Per frame n of a block of N frames, with the gains at the start (g0) and end (g1)
 * of the block and the scene's fade level:
 *   ramp(g0, g1, n) = g1 when g0 == g1, else (float)(n + 1) * (float)((g1 - g0) / N)
 *                     + (float)g0                         (a linear ramp, float32)
 *   dry[n] = ramp(d0, d1, n) * level[n]
 *   wet[n] = ramp(s0, s1, n) * dry[n]
 *   out[n] += buf[n] * dry[n];  send[n] += buf[n] * wet[n]
 * When nothing moves (d0 == d1, s0 == s1, level a constant) the gains are worked out
 * once in double precision and rounded, as the numpy mixing this replaced did, so the
 * result is the same to the bit.
 */
#include "kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    double d0, d1, s0, s1;
    double level;           /* used when level_curve is NULL */
    const float *level_curve;
} MixGains;

/* ---------------------------------------------------------------- perform routines */

/* 1 if every sample of x[0..count) is finite: no exponent field is all ones. On the
 * bit patterns, so the loop has no chain of dependent float additions to wait on. */
static int all_finite(const float *x, long count)
{
    uint32_t worst = 0;
    for (long i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        uint32_t e = u & 0x7f800000u;
        worst = e > worst ? e : worst;
    }
    return worst != 0x7f800000u;
}

static void mix_perform(float *out, float *send, const float *buf, long frames,
                        long channels, const MixGains *g)
{
    const int steady_dry = g->d0 == g->d1 && !g->level_curve;
    const int steady = steady_dry && g->s0 == g->s1;
    const double dry_const = g->d1 * g->level;
    const float dry_step = (float)((g->d1 - g->d0) / (double)frames);
    const float wet_step = (float)((g->s1 - g->s0) / (double)frames);
    if (steady) {
        const float dry = (float)dry_const, wet = (float)(g->s1 * dry_const);
        if (dry != 0.0f)
            for (long i = 0; i < frames * channels; i++)
                out[i] += buf[i] * dry;
        if (send)
            for (long i = 0; i < frames * channels; i++)
                send[i] += buf[i] * wet;
        return;
    }
    /* Loop-invariant choices hoisted, so the loop below is plain arithmetic. */
    const int dry_ramp = g->d0 != g->d1, wet_ramp = g->s0 != g->s1;
    const float d0 = (float)g->d0, d1 = (float)g->d1, s0 = (float)g->s0, s1 = (float)g->s1;
    const float level = (float)g->level;
    const float dry_scale = (float)dry_const;   /* wet's scale while dry is steady */
    const float *curve = g->level_curve;
    for (long n = 0; n < frames; n++) {
        const float count = (float)(n + 1);
        float dry, wet_scale;
        if (steady_dry) {
            dry = dry_scale;
            wet_scale = dry_scale;
        } else {
            dry = (dry_ramp ? count * dry_step + d0 : d1) * (curve ? curve[n] : level);
            wet_scale = dry;
        }
        const float wet = (wet_ramp ? count * wet_step + s0 : s1) * wet_scale;
        const float *b = buf + n * channels;
        float *o = out + n * channels;
        if (channels == 2) {    /* the common case, without an inner loop */
            o[0] += b[0] * dry;
            o[1] += b[1] * dry;
            if (send) {
                send[2 * n] += b[0] * wet;
                send[2 * n + 1] += b[1] * wet;
            }
            continue;
        }
        for (long c = 0; c < channels; c++)
            o[c] += b[c] * dry;
        if (send) {
            float *s = send + n * channels;
            for (long c = 0; c < channels; c++)
                s[c] += b[c] * wet;
        }
    }
}

/* ---------------------------------------------------------------- binding */

PyDoc_STRVAR(mix_layer_doc,
"mix_layer(out, send, buf, frames, d0, d1, s0, s1, level) -> bool\n--\n\n"
"Add buf[:frames] into out (dry) and send (None: no send), float32 (>= frames, C)\n"
"C-contiguous, with the layer gain ramping d0 -> d1 and the send s0 -> s1 across the\n"
"block, times the scene level (a float, or a float32 per-frame curve); then zero\n"
"buf[:frames], ready for the next layer. Returns False, mixing and clearing nothing,\n"
"when buf holds a NaN or an infinity.");

static PyObject *mix_layer(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    Buf out = {0}, send = {0}, buf = {0}, lvl = {0};
    PyObject *result = NULL;
    Py_ssize_t frames;
    MixGains g = {0};
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError,
                        "mix_layer() takes out, send, buf, frames, d0, d1, s0, s1, level");
        return NULL;
    }
    g.d0 = PyFloat_AsDouble(args[4]);
    g.d1 = PyFloat_AsDouble(args[5]);
    g.s0 = PyFloat_AsDouble(args[6]);
    g.s1 = PyFloat_AsDouble(args[7]);
    if (PyErr_Occurred())
        return NULL;
    if (PyFloat_Check(args[8]) || PyLong_Check(args[8])) {
        g.level = PyFloat_AsDouble(args[8]);
        if (PyErr_Occurred())
            return NULL;
    } else if (buf_get(&lvl, args[8], "f", 0, "mix_layer: level") < 0) {
        return NULL;
    }
    if (buf_get(&out, args[0], "f", 1, "mix_layer: out") < 0 ||
        (args[1] != Py_None && buf_get(&send, args[1], "f", 1, "mix_layer: send") < 0) ||
        buf_get(&buf, args[2], "f", 1, "mix_layer: buf") < 0)
        goto done;
    Py_ssize_t channels = buf_cols(&buf);
    if (arg_ssize(args[3], 0, buf_rows(&buf), "mix_layer: frames", &frames) < 0)
        goto done;
    if (buf_cols(&out) != channels || buf_rows(&out) < frames ||
        (send.held && (buf_cols(&send) != channels || buf_rows(&send) < frames))) {
        PyErr_Format(PyExc_ValueError, "mix_layer: out and send must be (>= %zd, %zd) like "
                     "buf", frames, channels);
        goto done;
    }
    if (lvl.held) {
        if (buf_count(&lvl) < frames) {
            PyErr_Format(PyExc_ValueError, "mix_layer: level curve shorter than %zd frames",
                         frames);
            goto done;
        }
        g.level_curve = lvl.view.buf;
    }
    if (!all_finite(buf.view.buf, (long)(frames * channels))) {
        result = Py_False;
    } else {
        if (frames > 0)
            mix_perform(out.view.buf, send.held ? send.view.buf : NULL, buf.view.buf,
                        (long)frames, (long)channels, &g);
        /* The layer buffer is left silent, ready for the next layer to add into. */
        memset(buf.view.buf, 0, sizeof(float) * (size_t)(frames * channels));
        result = Py_True;
    }
    Py_INCREF(result);
done:
    buf_release(&out);
    buf_release(&send);
    buf_release(&buf);
    buf_release(&lvl);
    return result;
}

PyDoc_STRVAR(levels_doc,
"levels(block, frames) -> (peak, sum of squares)\n--\n\n"
"The largest magnitude and the sum of squares (in double) of block[:frames], float32\n"
"(>= frames, C): one pass for meters; the sum is NaN or infinite when a sample is.");

static PyObject *levels(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    Buf blk = {0};
    Py_ssize_t frames;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "levels() takes block, frames");
        return NULL;
    }
    if (buf_get(&blk, args[0], "f", 0, "levels: block") < 0)
        return NULL;
    if (arg_ssize(args[1], 0, buf_rows(&blk), "levels: frames", &frames) < 0) {
        buf_release(&blk);
        return NULL;
    }
    const float *x = blk.view.buf;
    long count = (long)(frames * buf_cols(&blk));
    float peak = 0.0f;
    double sum[4] = {0.0, 0.0, 0.0, 0.0};  /* four chains of additions, overlapped */
    long i = 0;
    for (; i + 4 <= count; i += 4) {
        for (int k = 0; k < 4; k++) {
            float a = fabsf(x[i + k]);
            peak = a > peak ? a : peak;
            sum[k] += (double)x[i + k] * (double)x[i + k];
        }
    }
    for (; i < count; i++) {
        float a = fabsf(x[i]);
        peak = a > peak ? a : peak;
        sum[0] += (double)x[i] * (double)x[i];
    }
    buf_release(&blk);
    return Py_BuildValue("(dd)", (double)peak, (sum[0] + sum[1]) + (sum[2] + sum[3]));
}

PyDoc_STRVAR(add_mono_doc,
"add_mono(out, mono, frames, gain)\n--\n\n"
"out[:frames, c] += mono[:frames] * gain for every channel c: a mono layer into its\n"
"(>= frames, C) float32 buffer. mono: float32, (>= frames,) or (>= frames, 1).");

static PyObject *add_mono(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    Buf out = {0}, mono = {0};
    PyObject *result = NULL;
    Py_ssize_t frames;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "add_mono() takes out, mono, frames, gain");
        return NULL;
    }
    double gain = PyFloat_AsDouble(args[3]);
    if (gain == -1.0 && PyErr_Occurred())
        return NULL;
    if (buf_get(&out, args[0], "f", 1, "add_mono: out") < 0 ||
        buf_get(&mono, args[1], "f", 0, "add_mono: mono") < 0 ||
        arg_ssize(args[2], 0, buf_rows(&out), "add_mono: frames", &frames) < 0)
        goto done;
    if (buf_cols(&mono) != 1 || buf_rows(&mono) < frames) {
        PyErr_Format(PyExc_ValueError, "add_mono: mono must be one channel of >= %zd frames",
                     frames);
        goto done;
    }
    float *o = out.view.buf;
    const float *m = mono.view.buf;
    const float g = (float)gain;
    long channels = (long)buf_cols(&out);
    if (channels == 2) {
        for (long n = 0; n < frames; n++) {
            float v = m[n] * g;
            o[2 * n] += v;
            o[2 * n + 1] += v;
        }
    } else {
        for (long n = 0; n < frames; n++)
            for (long c = 0; c < channels; c++)
                o[n * channels + c] += m[n] * g;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    buf_release(&out);
    buf_release(&mono);
    return result;
}

PyMethodDef mix_methods[] = {
    {"add_mono", (PyCFunction)(void (*)(void))add_mono, METH_FASTCALL, add_mono_doc},
    {"levels", (PyCFunction)(void (*)(void))levels, METH_FASTCALL, levels_doc},
    {"mix_layer", (PyCFunction)(void (*)(void))mix_layer, METH_FASTCALL, mix_layer_doc},
    {NULL, NULL, 0, NULL},
};
