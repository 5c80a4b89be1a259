/* The voice bank's note mixing: one note of precomputed audio, replayed at a rate,
 * added into a block. See severed/engine/layers/voices.py for the bank.
 *
 * Frame k of the block is the note's frame q = k + rel (rel: the note's frame at the
 * block's first frame; negative before it starts). It reads the source at
 * q * rate with linear interpolation (indices clipped to the source) and is weighted
 * by the gain over the note's frames 0..length-1, by a linear fade 1 -> 0 over its
 * last `fade` frames (a note cut short), and, for a dropped note, by a fade 1 -> 0
 * over the block's first `drop` frames (nothing after them). In float32 as the numpy
 * bank it replaces: v = (a + (b - a) * frac) * w; a mono source goes to every output
 * channel, a stereo one channel to channel (a stereo note in a mono bank: its left).
 */
#include "kernels.h"

#include <math.h>
#include <stdint.h>

/* Frames whose weights (fades) are made at a time, on the stack. */
#define VOICE_CHUNK 256

typedef struct {
    int64_t frames, out_channels;
    const float *src;
    int64_t src_frames, src_channels;
    int64_t rel, length, fade, drop;
    double rate;
    float gain;
} Voice;

/* The value at step i of a linear ramp from 1 to 0 over `len` frames. */
static double ramp_down(int64_t i, int64_t len)
{
    return len > 1 ? (double)i * (-1.0 / (double)(len - 1)) + 1.0 : 1.0;
}

/* Add frames [lo, hi) of the note, weighted by w(k) (NULL: the gain throughout). */
/* Frames [lo, hi) of the note into out, weighted by w(k) (NULL: the gain throughout),
 * for SC source and OC output channels; inlined with constant SC and OC, so each
 * layout gets its own loop without per-frame channel loops. */
static inline void voice_span_layout(const Voice *v, float *out, int64_t lo, int64_t hi,
                                     const float *w_of_k, const int64_t sc,
                                     const int64_t oc)
{
    const int64_t last = v->src_frames - 1;
    const int64_t chans = sc < oc ? sc : oc;
    const double rel = (double)v->rel, rate = v->rate;
    const float *src = v->src;
    for (int64_t k = lo; k < hi; k++) {
        const float w = w_of_k ? w_of_k[k - lo] : v->gain;
        const double pos = ((double)k + rel) * rate;
        const double whole = floor_fast(pos);
        const float frac = (float)(pos - whole);
        int64_t i0 = (int64_t)whole, i1 = i0 + 1;
        i0 = i0 < 0 ? 0 : i0 > last ? last : i0;
        i1 = i1 < 0 ? 0 : i1 > last ? last : i1;
        const float *a = src + i0 * sc, *b = src + i1 * sc;
        float *o = out + k * oc;
        if (sc == 1) {
            const float s = (a[0] + (b[0] - a[0]) * frac) * w;
            for (int64_t c = 0; c < oc; c++)
                o[c] += s;
        } else {
            for (int64_t c = 0; c < chans; c++)
                o[c] += (a[c] + (b[c] - a[c]) * frac) * w;
        }
    }
}

static void voice_span(const Voice *v, float *out, int64_t lo, int64_t hi,
                       const float *w_of_k)
{
    const int64_t sc = v->src_channels, oc = v->out_channels;
    if (sc == 1 && oc == 2)
        voice_span_layout(v, out, lo, hi, w_of_k, 1, 2);
    else if (sc == 2 && oc == 2)
        voice_span_layout(v, out, lo, hi, w_of_k, 2, 2);
    else if (sc == 1 && oc == 1)
        voice_span_layout(v, out, lo, hi, w_of_k, 1, 1);
    else
        voice_span_layout(v, out, lo, hi, w_of_k, sc, oc);
}

static void voice_perform(const Voice *v, float *out, float *weights)
{
    int64_t lo = v->rel < 0 ? -v->rel : 0;
    int64_t hi = v->length - v->rel < v->frames ? v->length - v->rel : v->frames;
    if (v->drop > 0 && hi > v->drop)
        hi = v->drop;
    if (hi <= lo)
        return;
    /* Frames before the end fade, not dropped: the gain alone. */
    int64_t plain = v->drop > 0 ? lo : v->fade > 0 ? v->length - v->fade - v->rel : hi;
    plain = plain < lo ? lo : plain > hi ? hi : plain;
    voice_span(v, out, lo, plain, NULL);
    if (plain == hi)
        return;
    /* The rest, a chunk at a time: its weights first, as the numpy bank made them. */
    const int64_t fade_from = v->fade > 0 ? v->length - v->fade - v->rel : hi;
    for (int64_t k0 = plain; k0 < hi; k0 += VOICE_CHUNK) {
        const int64_t k1 = hi - k0 < VOICE_CHUNK ? hi : k0 + VOICE_CHUNK;
        for (int64_t k = k0; k < k1; k++) {
            float w = v->gain;
            if (k >= fade_from)
                w = (float)((double)w * ramp_down(k + v->rel - (v->length - v->fade),
                                                  v->fade));
            if (v->drop > 0)
                w = (float)((double)w * ramp_down(k, v->drop));
            weights[k - k0] = w;
        }
        voice_span(v, out, k0, k1, weights);
    }
}

/* ------------------------------------------------------------------ binding */

PyDoc_STRVAR(voice_doc,
"voice(out, src, rel, rate, gain, length, fade, drop)\n--\n\n"
"Add one note into out (float32 (frames, C)). src: float32 (N, 1 or 2), the note's\n"
"audio. rel: the note's frame at out[0] (negative: it starts later); rate > 0: read\n"
"speed; gain; length: the note's frames; fade: frames of its final fade (0: none);\n"
"drop: fade the note out over out's first `drop` frames, silent after (0: no drop).");

static PyObject *voice(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    Buf out = {0}, src = {0};
    PyObject *result = NULL;
    long long rel;
    Py_ssize_t length, fade, drop;
    double rate, gain;
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError,
                        "voice() takes out, src, rel, rate, gain, length, fade, drop");
        return NULL;
    }
    if (buf_get(&out, args[0], "f", 1, "voice: out") < 0 ||
        buf_get(&src, args[1], "f", 0, "voice: src") < 0)
        goto done;
    rel = PyLong_AsLongLong(args[2]);
    if (rel == -1 && PyErr_Occurred())
        goto done;
    rate = PyFloat_AsDouble(args[3]);
    if (rate == -1.0 && PyErr_Occurred())
        goto done;
    gain = PyFloat_AsDouble(args[4]);
    if (gain == -1.0 && PyErr_Occurred())
        goto done;
    if (arg_ssize(args[5], 0, PY_SSIZE_T_MAX, "voice: length", &length) < 0 ||
        arg_ssize(args[6], 0, length, "voice: fade", &fade) < 0 ||
        arg_ssize(args[7], 0, PY_SSIZE_T_MAX, "voice: drop", &drop) < 0)
        goto done;
    if (!(rate > 0.0 && isfinite(rate)) || !isfinite(gain)) {
        err_value("voice: rate %g and gain %g must be finite, rate above 0", rate, gain);
        goto done;
    }
    if (out.view.ndim != 2 || src.view.ndim != 2 || buf_rows(&src) < 1 ||
        buf_cols(&src) < 1 || buf_cols(&src) > 2) {
        PyErr_SetString(PyExc_ValueError, "voice: out must be (frames, C) and src "
                        "(frames >= 1, 1 or 2)");
        goto done;
    }
    Voice v = {.frames = buf_rows(&out), .out_channels = buf_cols(&out),
               .src = src.view.buf, .src_frames = buf_rows(&src),
               .src_channels = buf_cols(&src), .rel = rel, .length = length,
               .fade = fade, .drop = drop, .rate = rate, .gain = (float)gain};
    float weights[VOICE_CHUNK];
    voice_perform(&v, out.view.buf, weights);
    result = Py_None;
    Py_INCREF(result);
done:
    buf_release(&out);
    buf_release(&src);
    return result;
}

PyMethodDef voices_methods[] = {
    {"voice", (PyCFunction)(void (*)(void))voice, METH_FASTCALL, voice_doc},
    {NULL, NULL, 0, NULL},
};
