/* The master's look-ahead peak limiter: no output sample ever exceeds the ceiling.
 *
 * In dB per frame (the loudest channel decides, so the stereo image never shifts):
 *   required r[k] = min(0, max(FLOOR, ceiling - 20 log10 peak[k]))
 *   a[k]  = min(r[k .. k+L])                  look-ahead: down before the peak arrives
 *   a'[k] = min(a[k], a'[k-1] + release)      the gain rises at most `release` a frame
 *   g[k]  = mean(a'[k-L .. k])                 every change a ramp of L+1 frames
 * and the output, delayed by L frames, is x[k] * 10^(g[k]/20), clipped at the ceiling
 * to catch rounding. Each term of the mean is at or below r[k] (its window covers k),
 * so the mean is too: the ceiling holds exactly. The sliding minimum is van Herk /
 * Gil-Werman (3 comparisons a frame whatever L). While nothing near the ceiling is in
 * the window and the gain is at rest, a block is a delayed copy.
 *
 * Python owns the buffers (severed.engine.limiter.Limiter): the delay line x (L + max
 * frames, C), the histories req and hist (L + max frames, double), scratch pre/suf
 * (L + max frames, double), and scalars [last a', resting, reduction of the block].
 */
#include "kernels.h"

#include <math.h>
#include <string.h>

#define FLOOR_DB (-60.0)

typedef struct {
    long L, channels;
    float ceiling;
    double ceiling_db, release;      /* dB per frame */
    float *x;                        /* (L + frames, C): delay line, then the block */
    double *req, *hist, *pre, *suf;  /* L + frames each */
    double *scalars;                 /* last, resting, reduction_db */
} LimiterState;

/* ---------------------------------------------------------------- perform routine */

/* a[i] = min(v[i .. i+w-1]) for i < count, with v of length count + w - 1. */
static void sliding_min(const double *v, long count, long w, double *pre, double *suf,
                        double *a)
{
    long n = count + w - 1;
    for (long i = 0; i < n; i++)
        pre[i] = (i % w == 0) ? v[i] : fmin(pre[i - 1], v[i]);
    for (long i = n - 1; i >= 0; i--)
        suf[i] = (i == n - 1 || (i + 1) % w == 0) ? v[i] : fmin(suf[i + 1], v[i]);
    for (long i = 0; i < count; i++)
        a[i] = fmin(suf[i], pre[i + w - 1]);
}

static void limiter_perform(LimiterState *s, float *block, long frames)
{
    const long L = s->L, C = s->channels, n = L + frames;
    float *x = s->x;
    double *last = &s->scalars[0], *resting = &s->scalars[1], *reduction = &s->scalars[2];
    memcpy(x + L * C, block, sizeof(float) * (size_t)(frames * C));
    int loud = 0;
    for (long i = 0; i < frames * C; i++)
        loud |= fabsf(block[i]) > s->ceiling;
    if (!loud && *last >= 0.0 && *resting != 0.0) {
        memcpy(block, x, sizeof(float) * (size_t)(frames * C));
        *reduction = 0.0;
    } else {
        double *req = s->req, *hist = s->hist;
        if (*resting != 0.0) {  /* leaving rest: the histories are all 0 dB */
            for (long i = 0; i < L; i++)
                req[i] = hist[i] = 0.0;
        }
        for (long i = 0; i < frames; i++) {
            const float *f = x + (L + i) * C;
            float peak = 0.0f;
            for (long c = 0; c < C; c++)
                peak = fmaxf(peak, fabsf(f[c]));
            double r = 0.0;
            if (peak > s->ceiling)
                r = fmax(FLOOR_DB, s->ceiling_db - 20.0 * log10((double)peak));
            req[L + i] = r;
        }
        double *a = s->suf + n;   /* suf holds 2n: the suffix minima, then a */
        sliding_min(req, frames, L + 1, s->pre, s->suf, a);
        double prev = *last, sum = 0.0, deepest = 0.0;
        for (long i = 0; i < frames; i++) {
            prev = fmin(a[i], prev + s->release);
            hist[L + i] = prev;
        }
        *last = prev;
        for (long i = 0; i <= L; i++)
            sum += hist[i];
        for (long i = 0; i < frames; i++) {
            if (i > 0)
                sum += hist[i + L] - hist[i - 1];
            double g = sum / (double)(L + 1);
            if (g < deepest)
                deepest = g;
            float gain = g < 0.0 ? (float)pow(10.0, g / 20.0) : 1.0f;
            const float *in = x + i * C;
            float *out = block + i * C;
            for (long c = 0; c < C; c++) {
                float v = in[c] * gain;
                out[c] = v > s->ceiling ? s->ceiling : v < -s->ceiling ? -s->ceiling : v;
            }
        }
        *reduction = deepest;
        int rest = *last >= 0.0;
        for (long i = frames; i < frames + L && rest; i++)
            rest = hist[i] >= 0.0;
        *resting = rest;
        memmove(req, req + frames, sizeof(double) * (size_t)L);
        memmove(hist, hist + frames, sizeof(double) * (size_t)L);
    }
    memmove(x, x + frames * C, sizeof(float) * (size_t)(L * C));
}

/* ---------------------------------------------------------------- binding */

PyDoc_STRVAR(limit_doc,
"limit(block, frames, x, req, hist, pre, suf, scalars, lookahead, ceiling_db, release)\n"
"--\n\n"
"Limit block[:frames] (float32 (>= frames, C)) in place, delayed by `lookahead` frames.\n"
"x: float32 (lookahead + max_frames, C); req, hist: float64 (lookahead + max_frames,);\n"
"pre, suf: float64 scratch (2 * (lookahead + max_frames),); scalars: float64 [last\n"
"released gain dB, resting (0/1), deepest reduction dB of this block], updated.\n"
"release: dB per frame.");

static PyObject *limit(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    Buf blk = {0}, x = {0}, req = {0}, hist = {0}, pre = {0}, suf = {0}, sc = {0};
    PyObject *result = NULL;
    Py_ssize_t frames, L;
    LimiterState s;
    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "limit() takes block, frames, x, req, hist, pre, "
                        "suf, scalars, lookahead, ceiling_db, release");
        return NULL;
    }
    s.ceiling_db = PyFloat_AsDouble(args[9]);
    s.release = PyFloat_AsDouble(args[10]);
    if (PyErr_Occurred())
        return NULL;
    if (buf_get(&blk, args[0], "f", 1, "limit: block") < 0 ||
        buf_get(&x, args[2], "f", 1, "limit: x") < 0 ||
        buf_get(&req, args[3], "d", 1, "limit: req") < 0 ||
        buf_get(&hist, args[4], "d", 1, "limit: hist") < 0 ||
        buf_get(&pre, args[5], "d", 1, "limit: pre") < 0 ||
        buf_get(&suf, args[6], "d", 1, "limit: suf") < 0 ||
        buf_get(&sc, args[7], "d", 1, "limit: scalars") < 0 ||
        arg_ssize(args[1], 0, buf_rows(&blk), "limit: frames", &frames) < 0 ||
        arg_ssize(args[8], 1, 1 << 20, "limit: lookahead", &L) < 0)
        goto done;
    Py_ssize_t C = buf_cols(&blk), n = L + frames;
    if (buf_cols(&x) != C || buf_rows(&x) < n || buf_count(&req) < n ||
        buf_count(&hist) < n || buf_count(&pre) < 2 * n || buf_count(&suf) < 2 * n ||
        buf_count(&sc) != 3) {
        PyErr_Format(PyExc_ValueError, "limit: buffers too small for %zd frames with a "
                     "look-ahead of %zd", frames, L);
        goto done;
    }
    s.L = (long)L;
    s.channels = (long)C;
    s.ceiling = (float)pow(10.0, s.ceiling_db / 20.0);
    s.x = x.view.buf;
    s.req = req.view.buf;
    s.hist = hist.view.buf;
    s.pre = pre.view.buf;
    s.suf = suf.view.buf;
    s.scalars = sc.view.buf;
    if (frames > 0)
        limiter_perform(&s, blk.view.buf, (long)frames);
    result = Py_None;
    Py_INCREF(result);
done:
    buf_release(&blk);
    buf_release(&x);
    buf_release(&req);
    buf_release(&hist);
    buf_release(&pre);
    buf_release(&suf);
    buf_release(&sc);
    return result;
}

PyMethodDef limiter_methods[] = {
    {"limit", (PyCFunction)(void (*)(void))limit, METH_FASTCALL, limit_doc},
    {NULL, NULL, 0, NULL},
};
