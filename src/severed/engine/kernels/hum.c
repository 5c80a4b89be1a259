/* Mains hum: one single-cycle table holding all the partials, read by a 32-bit phase,
 * its level flickering as 1 - depth * sin(flicker phase), added to every channel.
 *
 * The table read is the numpy arithmetic it replaced (float32: v[i] + d[i] * frac);
 * the flicker's sine comes from a rotation in double precision started each block
 * from the exact phase (error below 1e-12 over a block), where numpy took a float32
 * sine per sample: the two differ by about 1e-7 of the level.
 */
#include "kernels.h"

#include <math.h>
#include <stdint.h>

typedef struct {
    uint32_t phase, inc;            /* table phase and its step, 2^32 = one cycle */
    int frac_bits;                  /* phase bits below the table index */
    double flicker_phase, flicker_inc;  /* radians */
    double depth;
} HumState;

/* ---------------------------------------------------------------- perform routine */

static void hum_perform(const float *table, const float *slope, HumState *h, long frames,
                        float *out, long channels)
{
    const int bits = h->frac_bits;
    const uint32_t mask = (1u << bits) - 1u, inc = h->inc;
    const float frac_scale = 1.0f / (float)(1u << bits);
    const double depth = h->depth, cw = cos(h->flicker_inc), sw = sin(h->flicker_inc);
    double s = sin(h->flicker_phase), c = cos(h->flicker_phase);
    uint32_t phase = h->phase;
    for (long n = 0; n < frames; n++) {
        uint32_t i = phase >> bits;
        float frac = (float)(phase & mask) * frac_scale;
        float d = slope[i] * frac;
        float mono = table[i] + d;
        if (depth > 0.0) {
            mono *= (float)(1.0 - depth * s);
            double s1 = s * cw + c * sw;       /* rotate by the flicker's step */
            c = c * cw - s * sw;
            s = s1;
        }
        phase += inc;
        float *o = out + n * channels;
        if (channels == 2) {
            o[0] += mono;
            o[1] += mono;
        } else {
            for (long k = 0; k < channels; k++)
                o[k] += mono;
        }
    }
    h->phase = phase;
    if (depth > 0.0)  /* a flicker switched off holds its phase */
        h->flicker_phase = fmod(h->flicker_phase + h->flicker_inc * (double)frames,
                                2.0 * M_PI);
}

/* ---------------------------------------------------------------- binding */

PyDoc_STRVAR(hum_doc,
"hum(out, frames, table, slope, state, inc, frac_bits, flicker_inc, depth)\n--\n\n"
"Add `frames` frames of the table's waveform to every channel of out (float32\n"
"(>= frames, C)), its level times 1 - depth * sin(flicker phase). table, slope:\n"
"float32 (2**(32 - frac_bits),). state: float64 [phase, flicker phase], advanced.\n"
"inc: phase step (2**32 = one cycle); flicker_inc: radians per frame.");

static PyObject *hum(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    Buf out = {0}, tab = {0}, slo = {0}, st = {0};
    PyObject *result = NULL;
    Py_ssize_t frames, frac_bits;
    uint32_t inc;
    HumState h;
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "hum() takes out, frames, table, slope, state, inc, "
                        "frac_bits, flicker_inc, depth");
        return NULL;
    }
    h.flicker_inc = PyFloat_AsDouble(args[7]);
    h.depth = PyFloat_AsDouble(args[8]);
    if (PyErr_Occurred())
        return NULL;
    if (buf_get(&out, args[0], "f", 1, "hum: out") < 0 ||
        buf_get(&tab, args[2], "f", 0, "hum: table") < 0 ||
        buf_get(&slo, args[3], "f", 0, "hum: slope") < 0 ||
        buf_get(&st, args[4], "d", 1, "hum: state") < 0 ||
        arg_ssize(args[1], 0, buf_rows(&out), "hum: frames", &frames) < 0 ||
        arg_u32(args[5], "hum: inc", &inc) < 0 ||
        arg_ssize(args[6], 1, 31, "hum: frac_bits", &frac_bits) < 0)
        goto done;
    Py_ssize_t size = (Py_ssize_t)1 << (32 - frac_bits);
    if (buf_count(&tab) != size || buf_count(&slo) != size || buf_count(&st) != 2) {
        PyErr_Format(PyExc_ValueError, "hum: table and slope must hold %zd points and state "
                     "2 values", size);
        goto done;
    }
    double *s = st.view.buf;
    h.phase = (uint32_t)s[0];
    h.inc = inc;
    h.frac_bits = (int)frac_bits;
    h.flicker_phase = s[1];
    hum_perform(tab.view.buf, slo.view.buf, &h, (long)frames, out.view.buf,
                (long)buf_cols(&out));
    s[0] = (double)h.phase;
    s[1] = h.flicker_phase;
    result = Py_None;
    Py_INCREF(result);
done:
    buf_release(&out);
    buf_release(&tab);
    buf_release(&slo);
    buf_release(&st);
    return result;
}

PyMethodDef hum_methods[] = {
    {"hum", (PyCFunction)(void (*)(void))hum, METH_FASTCALL, hum_doc},
    {NULL, NULL, 0, NULL},
};
