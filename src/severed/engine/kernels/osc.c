/* Band-limited oscillator banks: mip-mapped wavetables read by a 32-bit phase.
 *
 * The tables (built in Python, severed.engine.dsp.oscillators.tables) hold one
 * single-cycle waveform per octave, TABLE_SIZE points each, with a second table of
 * pre-scaled differences for linear interpolation: a sample is
 *   v[i] + d[i] * (float)(phase & FRAC_MASK),   i = (phase >> FRAC_BITS) | table offset
 * in float32, exactly the arithmetic of the numpy implementation this replaced.
 *
 * Per voice and block, from the frequency asked for the end of the block:
 *   inc1 = round(f * 2^32 / fs) clamped to 0 .. 2^31 - 1 (NaN gives 0),
 *   slope = round((inc1 - inc0) / frames), start = inc1 - frames * slope,
 * and sample n's increment is start + (n + 1) * slope, so the glide ends exactly on
 * inc1 and all phase arithmetic is modulo 2^32 (it never drifts). A voice reads the
 * table of the highest increment it reaches in the block; when that table changes, the
 * block crossfades linearly from the old table to the new one.
 *
 * Voice state, int64 per voice: [phase, last increment (-1: none yet), table (-1:
 * none yet)].
 */
#include "kernels.h"

#include <math.h>
#include <stdint.h>

#define TABLE_BITS 13
#define FRAC_BITS (32 - TABLE_BITS)
#define FRAC_MASK ((1u << FRAC_BITS) - 1u)
#define N_TABLES 12
#define INC_TOP ((1LL << 31) - 1)   /* just below Nyquist */

typedef struct {
    const float *values;    /* n_tables * TABLE_SIZE */
    const float *diffs;
    int n_tables;           /* 1 for a sine, N_TABLES otherwise */
} Tables;

typedef struct {            /* one voice over one block, worked out by voice_plan */
    uint32_t phase, start, slope;
    uint32_t offset, old_offset;
    int crossfade;
} VoicePlan;

static long long increment_for(double f_times_scale)
{
    double x = f_times_scale;
    if (x >= (double)INC_TOP)
        return INC_TOP;
    if (x > 0.0)
        return (long long)nearbyint(x);   /* half to even, as Python's round() */
    return 0;                             /* also for NaN */
}

static int table_for(long long a, long long b, int n_tables)
{
    if (n_tables == 1)
        return 0;
    long long top = a > b ? a : b;
    if (top < 1)
        top = 1;
    unsigned long long x = (unsigned long long)(top - 1);
    int bits = 0;
    while (x) {
        bits++;
        x >>= 1;
    }
    int k = 31 - bits;
    if (k < 0)
        k = 0;
    if (k > N_TABLES - 1)
        k = N_TABLES - 1;
    return k;
}

/* Work out a voice's block and advance its state (s: phase, inc, table). */
static VoicePlan voice_plan(int64_t *s, double freq, double inc_scale, long frames,
                            int n_tables)
{
    VoicePlan p;
    long long inc1 = increment_for(freq * inc_scale);
    long long inc0 = s[1] < 0 ? inc1 : s[1];
    long long slope = (long long)nearbyint((double)(inc1 - inc0) / (double)frames);
    long long start = inc1 - frames * slope;
    int table = table_for(inc0, inc1, n_tables);
    p.phase = (uint32_t)s[0];
    p.start = (uint32_t)start;
    p.slope = (uint32_t)slope;
    p.offset = (uint32_t)table << TABLE_BITS;
    p.crossfade = s[2] >= 0 && s[2] != table;
    p.old_offset = p.crossfade ? (uint32_t)s[2] << TABLE_BITS : p.offset;
    /* phase after the block: phase + start*frames + slope*frames*(frames+1)/2 */
    uint32_t tri = (uint32_t)((unsigned long long)frames * (unsigned long long)(frames + 1) / 2);
    s[0] = (uint32_t)(p.phase + p.start * (uint32_t)frames + p.slope * tri);
    s[1] = inc1;
    s[2] = table;
    return p;
}

static inline float table_read(const Tables *t, uint32_t phase, uint32_t offset)
{
    uint32_t i = (phase >> FRAC_BITS) | offset;
    float frac = (float)(int32_t)(phase & FRAC_MASK);
    float d = t->diffs[i] * frac;
    return t->values[i] + d;
}

/* ---------------------------------------------------------------- perform routines */

#define MIX_GROUP 32   /* voices planned per pass (their plans sit on the stack) */
#define CHUNK 128      /* frames per voice between mixing passes */

/* Frames [n0, n1) of one voice (of a block of `frames`) into dst[0..n1-n0), carrying
 * its phase and increment in the plan. */
static void osc_voice_perform(const Tables *t, VoicePlan *p, long n0, long n1, long frames,
                              float *dst)
{
    uint32_t phase = p->phase, inc = p->start;
    const uint32_t slope = p->slope, offset = p->offset, old_offset = p->old_offset;
    if (!p->crossfade) {
        for (long n = n0; n < n1; n++) {
            dst[n - n0] = table_read(t, phase, offset);
            inc += slope;         /* increment of sample n: start + (n + 1) * slope */
            phase += inc;
        }
    } else {
        const float inv = 1.0f / (float)frames;
        for (long n = n0; n < n1; n++) {
            float s = table_read(t, phase, offset);
            float old = table_read(t, phase, old_offset);
            float fade = (float)(n + 1) * inv;
            dst[n - n0] = (s - old) * fade + old;
            inc += slope;
            phase += inc;
        }
    }
    p->phase = phase;
    p->start = inc;
}

/* Voices p[0..count) summed into dst (frames, channels) with weights mix[v][c]:
 * dst = sum (add == 0) or dst += sum, the sum over the voices in order, in float32.
 * A chunk of each voice at a time goes through a small buffer on the stack. */
static void osc_mix_perform(const Tables *t, VoicePlan *p, int count, long frames,
                            float *dst, long channels, const float *mix, int add)
{
    float tmp[CHUNK];
    for (long n0 = 0; n0 < frames; n0 += CHUNK) {
        long n1 = n0 + CHUNK < frames ? n0 + CHUNK : frames, len = n1 - n0;
        float *o = dst + n0 * channels;
        for (int v = 0; v < count; v++) {
            osc_voice_perform(t, &p[v], n0, n1, frames, tmp);
            const float *g = mix + v * channels;
            if (v == 0 && !add && channels == 2) {
                const float g0 = g[0], g1 = g[1];
                for (long n = 0; n < len; n++) {
                    o[2 * n] = tmp[n] * g0;
                    o[2 * n + 1] = tmp[n] * g1;
                }
            } else if (v == 0 && !add) {
                for (long n = 0; n < len; n++)
                    for (long c = 0; c < channels; c++)
                        o[n * channels + c] = tmp[n] * g[c];
            } else if (channels == 2) {
                const float g0 = g[0], g1 = g[1];
                for (long n = 0; n < len; n++) {
                    o[2 * n] += tmp[n] * g0;
                    o[2 * n + 1] += tmp[n] * g1;
                }
            } else {
                for (long n = 0; n < len; n++)
                    for (long c = 0; c < channels; c++)
                        o[n * channels + c] += tmp[n] * g[c];
            }
        }
    }
}

/* All voices of a block: out rows (row_stride apart), or their mix (mix != NULL). */
static void osc_render(const Tables *t, const double *freqs, int64_t *state, Py_ssize_t voices,
                       long frames, double inc_scale, float *o, Py_ssize_t row_stride,
                       const float *mix, long channels)
{
    VoicePlan plans[MIX_GROUP];
    for (Py_ssize_t v0 = 0; v0 < voices; v0 += MIX_GROUP) {
        int count = (int)(voices - v0 < MIX_GROUP ? voices - v0 : MIX_GROUP);
        for (int k = 0; k < count; k++)
            plans[k] = voice_plan(state + 3 * (v0 + k), freqs[v0 + k], inc_scale, frames,
                                  t->n_tables);
        if (mix)
            osc_mix_perform(t, plans, count, frames, o, channels, mix + v0 * channels,
                            v0 > 0);
        else
            for (int k = 0; k < count; k++)
                osc_voice_perform(t, &plans[k], 0, frames, frames, o + (v0 + k) * row_stride);
    }
}

/* ---------------------------------------------------------------- binding */

PyDoc_STRVAR(osc_doc,
"osc(out, frames, freqs, state, values, diffs, inc_scale, mix)\n--\n\n"
"Render `frames` samples of V voices. freqs: float64 (V,), each voice's frequency at\n"
"the block's end. state: int64 (V, 3) [phase, increment, table], updated. values,\n"
"diffs: float32 tables (1 or 12 tables of 8192 points). inc_scale: 2**32 / fs.\n"
"mix None: out is float32 (V, >= frames) with contiguous rows, row v gets voice v. mix float32 (V, C): out\n"
"is float32 (>= frames, C) and gets sum over v of voice v * mix[v] (written, not added).");

static PyObject *osc(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    Buf out = {0}, fr = {0}, st = {0}, val = {0}, dif = {0}, mix = {0};
    PyObject *result = NULL;
    Py_ssize_t frames;
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError,
                        "osc() takes out, frames, freqs, state, values, diffs, inc_scale, mix");
        return NULL;
    }
    double inc_scale = PyFloat_AsDouble(args[6]);
    if (inc_scale == -1.0 && PyErr_Occurred())
        return NULL;
    int mixing = args[7] != Py_None;
    if ((mixing ? buf_get(&out, args[0], "f", 1, "osc: out")
                : buf_get_rows(&out, args[0], "f", 1, "osc: out")) < 0 ||
        buf_get(&fr, args[2], "d", 0, "osc: freqs") < 0 ||
        buf_get(&st, args[3], "q", 1, "osc: state") < 0 ||
        buf_get(&val, args[4], "f", 0, "osc: values") < 0 ||
        buf_get(&dif, args[5], "f", 0, "osc: diffs") < 0 ||
        (args[7] != Py_None && buf_get(&mix, args[7], "f", 0, "osc: mix") < 0))
        goto done;
    Py_ssize_t voices = buf_count(&fr);
    if (buf_count(&st) != 3 * voices) {
        PyErr_Format(PyExc_ValueError, "osc: state must be (%zd, 3) for %zd voices", voices,
                     voices);
        goto done;
    }
    Py_ssize_t size = (Py_ssize_t)1 << TABLE_BITS;
    Py_ssize_t ntab = buf_count(&val) / size;
    if ((ntab != 1 && ntab != N_TABLES) || buf_count(&val) != ntab * size ||
        buf_count(&dif) != buf_count(&val)) {
        PyErr_SetString(PyExc_ValueError, "osc: values and diffs must hold 1 or 12 tables of "
                        "8192 points each");
        goto done;
    }
    Py_ssize_t channels = 0;
    if (mixing) {
        channels = buf_cols(&mix);
        if (buf_rows(&mix) != voices || buf_cols(&out) != channels) {
            PyErr_Format(PyExc_ValueError, "osc: mix must be (%zd voices, C) and out "
                         "(frames, C)", voices);
            goto done;
        }
        if (arg_ssize(args[1], 0, buf_rows(&out), "osc: frames", &frames) < 0)
            goto done;
    } else {
        if (buf_rows(&out) != voices) {
            PyErr_Format(PyExc_ValueError, "osc: out must have one row per voice (%zd)",
                         voices);
            goto done;
        }
        if (arg_ssize(args[1], 0, buf_cols(&out), "osc: frames", &frames) < 0)
            goto done;
    }
    if (frames > 0) {
        Tables t = {val.view.buf, dif.view.buf, (int)ntab};
        const double *f = fr.view.buf;
        int64_t *s = st.view.buf;
        float *o = out.view.buf;
        WITHOUT_GIL_IF(voices * frames,
                       osc_render(&t, f, s, voices, (long)frames, inc_scale, o, out.row_stride,
                                  mixing ? mix.view.buf : NULL, (long)channels));
    }
    result = Py_None;
    Py_INCREF(result);
done:
    buf_release(&out);
    buf_release(&fr);
    buf_release(&st);
    buf_release(&val);
    buf_release(&dif);
    buf_release(&mix);
    return result;
}

PyMethodDef osc_methods[] = {
    {"osc", (PyCFunction)(void (*)(void))osc, METH_FASTCALL, osc_doc},
    {NULL, NULL, 0, NULL},
};
