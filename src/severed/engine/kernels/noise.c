/* White noise: a small, fast generator and a near-Gaussian shape.
 *
 * The generator is xoshiro128** (Blackman and Vigna): 128 bits of state as four
 * uint32, period 2^128 - 1, all output bits of good quality, and only 32-bit
 * arithmetic (cheap on a 32-bit ARM too). Each sample is the sum of four 16-bit
 * uniform numbers (two draws), centred and scaled to unit variance: by the central
 * limit theorem close to Gaussian (Irwin-Hall with n = 4: the same variance, peaks
 * never beyond 3.46 sigma, excess kurtosis -0.3), and flat in spectrum like any white
 * noise. Samples come in frame order, so a stream rendered in blocks of any size is
 * the same stream.
 */
#include "kernels.h"

#include <stdint.h>

/* (65536^2 - 1) / 3 is the variance of the sum of four 16-bit uniforms. */
#define SUM_MEAN 131070.0f
#define INV_SUM_SD 2.6428998e-05f  /* 1 / sqrt((65536^2 - 1) / 3) = 1 / 37837.23 */

static inline uint32_t rotl(uint32_t x, int k)
{
    return (x << k) | (x >> (32 - k));
}

static inline uint32_t xoshiro_next(uint32_t *s)
{
    const uint32_t result = rotl(s[1] * 5u, 7) * 9u;
    const uint32_t t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
}

/* ---------------------------------------------------------------- perform routine */

static void white_perform(float *out, long count, uint32_t *state, float gain)
{
    uint32_t s[4] = {state[0], state[1], state[2], state[3]};
    const float scale = gain * INV_SUM_SD;
    for (long i = 0; i < count; i++) {
        uint32_t a = xoshiro_next(s), b = xoshiro_next(s);
        uint32_t sum = (a >> 16) + (a & 0xFFFFu) + (b >> 16) + (b & 0xFFFFu);
        out[i] = ((float)sum - SUM_MEAN) * scale;
    }
    for (int k = 0; k < 4; k++)
        state[k] = s[k];
}

/* ---------------------------------------------------------------- binding */

PyDoc_STRVAR(white_doc,
"white(out, frames, state, gain)\n--\n\n"
"Write frames x C samples of near-Gaussian white noise of RMS `gain` into out\n"
"(float32 (>= frames, C), C-contiguous), in frame order. state: uint32 (4,), the\n"
"generator's state (not all zero), advanced.");

static PyObject *white(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    Buf out = {0}, st = {0};
    PyObject *result = NULL;
    Py_ssize_t frames;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "white() takes out, frames, state, gain");
        return NULL;
    }
    double gain = PyFloat_AsDouble(args[3]);
    if (gain == -1.0 && PyErr_Occurred())
        return NULL;
    if (buf_get(&out, args[0], "f", 1, "white: out") < 0 ||
        buf_get(&st, args[2], "u", 1, "white: state") < 0)
        goto done;
    if (arg_ssize(args[1], 0, buf_rows(&out), "white: frames", &frames) < 0)
        goto done;
    uint32_t *s = st.view.buf;
    if (buf_count(&st) != 4 || !(s[0] | s[1] | s[2] | s[3])) {
        PyErr_SetString(PyExc_ValueError, "white: state must be 4 uint32, not all zero");
        goto done;
    }
    long count = (long)(frames * buf_cols(&out));
    WITHOUT_GIL_IF(count, white_perform(out.view.buf, count, s, (float)gain));
    result = Py_None;
    Py_INCREF(result);
done:
    buf_release(&out);
    buf_release(&st);
    return result;
}

PyMethodDef noise_methods[] = {
    {"white", (PyCFunction)(void (*)(void))white, METH_FASTCALL, white_doc},
    {NULL, NULL, 0, NULL},
};
