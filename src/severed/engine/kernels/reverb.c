/* The reverb: a feedback delay network of 8 lines, processed a chunk at a time.
 *
 * See severed/engine/dsp/reverb.py for the design (line lengths, Hadamard feedback
 * and input diffusion, damping, decay law); this is its loop. Every line is at least
 * one chunk long, so a whole chunk of every line's output is in the ring before any
 * of the chunk is written back: each step below is a loop over the chunk's frames,
 * which gcc vectorises (-O3; `#pragma GCC ivdep` where rows of one buffer are read
 * and written), instead of one frame through all 8 lines at a time. Measured on the
 * dev VM for one 2048-frame stereo block: 14 us; numpy 99 us, the same network frame
 * by frame 77 us, Faust's zita_rev1 69 us (docs/architecture.md, "The reverb").
 *
 * Per chunk of m frames, at absolute frame `now`:
 *   1. DC blocker (x minus a 10 Hz one-pole low-pass, doubles) into the predelay
 *      ring, one row per input channel;
 *   2. line j reads its channel (j % C) at now - predelay - diffuse[j] (a moving
 *      predelay crossfades from the old reading to the new one across the block);
 *      u = diag(sign) H8 / sqrt(8) of those 8 rows (input diffusion);
 *   3. d_j = line j's output (the ring at now - L_j), with the frame before it;
 *      out = taps . d (left: + + + + + + - -, right: + + + + - - + +, times 0.35);
 *   4. f_j = g_j * (d_j + tap * (d_j[-1] - d_j)) (damping and loop gain; g and tap
 *      ramp linearly to their new values across the block, reached on its last frame);
 *   5. the ring at now = H8 f / sqrt(8) + u.
 * All in float32 except the DC blocker. Rings are indexed by absolute frame modulo
 * their length; the caller keeps `wpos` (frames written) modulo both lengths' product.
 */
#include "kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define RV_LINES 8
#define RV_OUT_GAIN 0.35f
#define NOINLINE __attribute__((noinline))

typedef struct {
    int channels;                /* 1 or 2 */
    int64_t pcap, fcap;          /* ring lengths: predelay (per channel), lines */
    int64_t chunk;               /* frames per chunk: at most the shortest line */
    int64_t wpos;                /* absolute frame of the block's first frame */
    int64_t pd0, pd1;            /* predelay in frames at the block's start, end */
    const int64_t *lengths;      /* [8] line lengths, frames */
    const int64_t *diffuse;      /* [8] input offsets, frames */
    const float *g0, *g1;        /* [8] loop gains at the block's start, end */
    float tap0, tap1;            /* damping tap at the block's start, end */
    double dc_pole;
    double *dc_state;            /* [channels] the DC blocker's low-pass */
    float *pbuf;                 /* channels x pcap */
    float *fbuf;                 /* 8 x fcap */
    float *work;                 /* 8 x chunk (u), 8 x chunk (f), 8 x (chunk + 1) */
} Reverb;

/* ------------------------------------------------------------------ perform */

static int64_t ring_index(int64_t pos, int64_t cap)
{
    int64_t s = pos % cap;
    return s < 0 ? s + cap : s;
}

static void ring_read(float *dst, const float *row, int64_t cap, int64_t pos, int64_t m)
{
    int64_t s = ring_index(pos, cap);
    int64_t first = cap - s < m ? cap - s : m;
    memcpy(dst, row + s, (size_t)first * sizeof(float));
    if (first < m)
        memcpy(dst + first, row, (size_t)(m - first) * sizeof(float));
}

/* m frames of a ring row from pos: a pointer into the row where they do not wrap,
 * else a copy in tmp. */
static const float *ring_view(float *tmp, const float *row, int64_t cap, int64_t pos,
                              int64_t m)
{
    int64_t s = ring_index(pos, cap);
    if (s + m <= cap)
        return row + s;
    ring_read(tmp, row, cap, pos, m);
    return tmp;
}

static void ring_write(float *row, int64_t cap, int64_t pos, const float *src, int64_t m)
{
    int64_t s = ring_index(pos, cap);
    int64_t first = cap - s < m ? cap - s : m;
    memcpy(row + s, src, (size_t)first * sizeof(float));
    if (first < m)
        memcpy(row, src + first, (size_t)(m - first) * sizeof(float));
}

/* dst[j] = scale[j] * (H8 src)[j] (+ add[j]), H8 the unnormalised 8-point Hadamard
 * matrix, over m frames. A dst row may be its src row (each frame is read before it
 * is written), never another. */
NOINLINE static void hadamard8(float *const dst[RV_LINES], const float *const src[RV_LINES],
                      const float scale[RV_LINES], const float *const add[RV_LINES],
                      int64_t m)
{
    float *o0 = dst[0], *o1 = dst[1], *o2 = dst[2], *o3 = dst[3];
    float *o4 = dst[4], *o5 = dst[5], *o6 = dst[6], *o7 = dst[7];
    const float *i0 = src[0], *i1 = src[1], *i2 = src[2], *i3 = src[3];
    const float *i4 = src[4], *i5 = src[5], *i6 = src[6], *i7 = src[7];
    const float s0 = scale[0], s1 = scale[1], s2 = scale[2], s3 = scale[3];
    const float s4 = scale[4], s5 = scale[5], s6 = scale[6], s7 = scale[7];
#pragma GCC ivdep
    for (int64_t k = 0; k < m; k++) {
        float a0 = i0[k] + i1[k], a1 = i0[k] - i1[k], a2 = i2[k] + i3[k], a3 = i2[k] - i3[k];
        float a4 = i4[k] + i5[k], a5 = i4[k] - i5[k], a6 = i6[k] + i7[k], a7 = i6[k] - i7[k];
        float b0 = a0 + a2, b1 = a1 + a3, b2 = a0 - a2, b3 = a1 - a3;
        float b4 = a4 + a6, b5 = a5 + a7, b6 = a4 - a6, b7 = a5 - a7;
        o0[k] = s0 * (b0 + b4);
        o1[k] = s1 * (b1 + b5);
        o2[k] = s2 * (b2 + b6);
        o3[k] = s3 * (b3 + b7);
        o4[k] = s4 * (b0 - b4);
        o5[k] = s5 * (b1 - b5);
        o6[k] = s6 * (b2 - b6);
        o7[k] = s7 * (b3 - b7);
    }
    if (add)
        for (int j = 0; j < RV_LINES; j++) {
            float *o = dst[j];
            const float *a = add[j];
#pragma GCC ivdep
            for (int64_t k = 0; k < m; k++)
                o[k] += a[k];
        }
}

/* DC-block m frames of x (C interleaved) into rows[0..C-1]. */
static void dc_block(Reverb *rv, const float *restrict x, float *const rows[2], int64_t m)
{
    const double p = rv->dc_pole, q = 1.0 - p;
    if (rv->channels == 2) {
        float *restrict l = rows[0], *restrict r = rows[1];
        double lpl = rv->dc_state[0], lpr = rv->dc_state[1];
        for (int64_t k = 0; k < m; k++) {  /* two independent recursions interleaved */
            double xl = x[2 * k], xr = x[2 * k + 1];
            lpl = p * lpl + q * xl;
            lpr = p * lpr + q * xr;
            l[k] = (float)(xl - lpl);
            r[k] = (float)(xr - lpr);
        }
        rv->dc_state[0] = lpl;
        rv->dc_state[1] = lpr;
    } else {
        float *restrict l = rows[0];
        double lp = rv->dc_state[0];
        for (int64_t k = 0; k < m; k++) {
            double xk = x[k];
            lp = p * lp + q * xk;
            l[k] = (float)(xk - lp);
        }
        rv->dc_state[0] = lp;
    }
}

/* The output taps, over m frames of the 8 line outputs: left + + + + + + - -, right
 * + + + + - - + +, times RV_OUT_GAIN (mono: the left). These small loops are kept out
 * of line (noinline) because gcc vectorises them only as functions of their own. */
NOINLINE static void taps_stereo(float *restrict y, const float *restrict d0,
                                 const float *restrict d1, const float *restrict d2,
                                 const float *restrict d3, const float *restrict d4,
                                 const float *restrict d5, const float *restrict d6,
                                 const float *restrict d7, int64_t m)
{
    for (int64_t k = 0; k < m; k++) {
        float a = (d0[k] + d1[k]) + (d2[k] + d3[k]);
        float b = d4[k] + d5[k], e = d6[k] + d7[k];
        y[2 * k] = RV_OUT_GAIN * ((a + b) - e);
        y[2 * k + 1] = RV_OUT_GAIN * ((a - b) + e);
    }
}

NOINLINE static void taps_mono(float *restrict y, const float *restrict d0,
                               const float *restrict d1, const float *restrict d2,
                               const float *restrict d3, const float *restrict d4,
                               const float *restrict d5, const float *restrict d6,
                               const float *restrict d7, int64_t m)
{
    for (int64_t k = 0; k < m; k++) {
        float a = (d0[k] + d1[k]) + (d2[k] + d3[k]);
        y[k] = RV_OUT_GAIN * ((a + (d4[k] + d5[k])) - (d6[k] + d7[k]));
    }
}

/* u = a + (b - a) * w_k, w_k = (first + k) / n: a crossfade over the block. */
NOINLINE static void crossfade(float *restrict u, const float *restrict a,
                               const float *restrict b, int64_t m, int first, float inv_n)
{
    const int count = (int)m;
    for (int k = 0; k < count; k++)
        u[k] = a[k] + (b[k] - a[k]) * ((float)(first + k) * inv_n);
}

/* f = g * (d + t * (p - d)): the damping (a two-tap low-pass) and the loop gain, over
 * m frames; p is d one frame earlier (d - 1: passed as a pointer of its own so that gcc
 * vectorises the loop rather than carry the previous frame from one to the next). */
NOINLINE static void damp(float *restrict f, const float *restrict d, const float *restrict p,
                 int64_t m, float t, float g)
{
    for (int64_t k = 0; k < m; k++)
        f[k] = (d[k] + t * (p[k] - d[k])) * g;
}

/* The same with t and g moving linearly from (t0, g0) to (t1, g1) across the block:
 * frame k of this chunk is frame first + k of the block (1-based), 1 / n its share. */
NOINLINE static void damp_ramp(float *restrict f, const float *restrict d, const float *restrict p,
                      int64_t m, int first, float inv_n, float t0, float t1, float g0,
                      float g1)
{
    const float dt = (t1 - t0) * inv_n, dg = (g1 - g0) * inv_n;
    const int count = (int)m;  /* an int counter: its conversion to float vectorises */
    for (int k = 0; k < count; k++) {
        const float a = (float)(first + k);
        f[k] = (d[k] + (t0 + dt * a) * (p[k] - d[k])) * (g0 + dg * a);
    }
}

static void reverb_perform(Reverb *rv, const float *x, float *out, int64_t n)
{
    static const float diffuse_sign[RV_LINES] = {1, -1, 1, 1, -1, 1, -1, -1};
    const int c = rv->channels;
    const int64_t chunk = rv->chunk;
    const float norm = (float)(1.0 / sqrt((double)RV_LINES));
    const float inv_n = 1.0f / (float)n;
    const int moving = rv->tap0 != rv->tap1 ||
                       memcmp(rv->g0, rv->g1, sizeof(float) * RV_LINES) != 0;
    float scale_u[RV_LINES], scale_f[RV_LINES];
    float *u[RV_LINES], *f[RV_LINES], *dtmp[RV_LINES];
    const float *uc[RV_LINES], *fc[RV_LINES];
    for (int j = 0; j < RV_LINES; j++) {
        u[j] = rv->work + j * chunk;
        f[j] = rv->work + (RV_LINES + j) * chunk;
        dtmp[j] = rv->work + 2 * RV_LINES * chunk + j * (chunk + 1);
        uc[j] = u[j];
        fc[j] = f[j];
        scale_u[j] = diffuse_sign[j] * norm;
        scale_f[j] = norm;
    }
    for (int64_t s0 = 0; s0 < n; s0 += chunk) {
        const int64_t m = n - s0 < chunk ? n - s0 : chunk;
        const int64_t now = rv->wpos + s0;
        /* 1. DC blocker into the predelay rings. */
        dc_block(rv, x + s0 * c, f, m);
        for (int ch = 0; ch < c; ch++)
            ring_write(rv->pbuf + ch * rv->pcap, rv->pcap, now, f[ch], m);
        /* 2. Predelayed, offset reads of the input; input diffusion. */
        const float *pin[RV_LINES];
        for (int j = 0; j < RV_LINES; j++) {
            const float *row = rv->pbuf + (j % c) * rv->pcap;
            /* (dtmp is free until step 3; u is written from these by the transform) */
            pin[j] = ring_view(dtmp[j], row, rv->pcap, now - rv->pd0 - rv->diffuse[j], m);
            if (rv->pd1 != rv->pd0) {
                const float *b = ring_view(f[0], row, rv->pcap,
                                           now - rv->pd1 - rv->diffuse[j], m);
                crossfade(u[j], pin[j], b, m, (int)(s0 + 1), inv_n);
                pin[j] = u[j];
            }
        }
        hadamard8(u, pin, scale_u, NULL, m);
        /* 3. Line outputs (each with its frame before, for the damping); output taps. */
        const float *d[RV_LINES];
        for (int j = 0; j < RV_LINES; j++)
            d[j] = ring_view(dtmp[j], rv->fbuf + j * rv->fcap, rv->fcap,
                             now - rv->lengths[j] - 1, m + 1) + 1;
        if (c == 2)
            taps_stereo(out + s0 * 2, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], m);
        else
            taps_mono(out + s0, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], m);
        /* 4. Damping and loop gain. */
        for (int j = 0; j < RV_LINES; j++) {
            if (!moving)
                damp(f[j], d[j], d[j] - 1, m, rv->tap0, rv->g0[j]);
            else
                damp_ramp(f[j], d[j], d[j] - 1, m, (int)(s0 + 1), inv_n, rv->tap0, rv->tap1,
                          rv->g0[j], rv->g1[j]);
        }
        /* 5. Feedback matrix plus the diffused input, back into the lines (straight
         * into the ring where the chunk does not wrap). */
        int64_t w = ring_index(now, rv->fcap);
        if (w + m <= rv->fcap) {
            float *dst[RV_LINES];
            for (int j = 0; j < RV_LINES; j++)
                dst[j] = rv->fbuf + j * rv->fcap + w;
            hadamard8(dst, fc, scale_f, uc, m);
        } else {
            hadamard8(f, fc, scale_f, uc, m);
            for (int j = 0; j < RV_LINES; j++)
                ring_write(rv->fbuf + j * rv->fcap, rv->fcap, now, f[j], m);
        }
    }
}

/* ------------------------------------------------------------------ binding */

PyDoc_STRVAR(reverb_doc,
"reverb(x, out, pbuf, fbuf, work, dc_state, lines, gains, wpos, predelay0, predelay1,\n"
"       tap0, tap1, dc_pole)\n--\n\n"
"Render len(x) frames of the FDN reverb (see severed.engine.dsp.reverb) into out.\n"
"x, out: float32 (frames, C), C = 1 or 2. pbuf: float32 (C, P) predelay rings;\n"
"fbuf: float32 (8, F) line rings; work: float32 scratch of at least 24 * chunk + 8,\n"
"where chunk = the shortest line; dc_state: float64 (C,). lines: int64 (2, 8), line\n"
"lengths then input offsets; gains: float32 (2, 8), loop gains at the block's start\n"
"and end. wpos: absolute frame of x[0] (rings are indexed modulo their length).\n"
"predelay0/1 (frames), tap0/1: at the block's start and end (ramped across it).");

static PyObject *reverb(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    Buf x = {0}, out = {0}, pbuf = {0}, fbuf = {0}, work = {0}, dc = {0}, lines = {0},
        gains = {0};
    PyObject *result = NULL;
    Py_ssize_t wpos, pd0, pd1;
    double tap0, tap1, pole;
    if (nargs != 14) {
        PyErr_SetString(PyExc_TypeError, "reverb() takes x, out, pbuf, fbuf, work, "
                        "dc_state, lines, gains, wpos, predelay0, predelay1, tap0, tap1, "
                        "dc_pole");
        return NULL;
    }
    if (buf_get(&x, args[0], "f", 0, "reverb: x") < 0 ||
        buf_get(&out, args[1], "f", 1, "reverb: out") < 0 ||
        buf_get(&pbuf, args[2], "f", 1, "reverb: pbuf") < 0 ||
        buf_get(&fbuf, args[3], "f", 1, "reverb: fbuf") < 0 ||
        buf_get(&work, args[4], "f", 1, "reverb: work") < 0 ||
        buf_get(&dc, args[5], "d", 1, "reverb: dc_state") < 0 ||
        buf_get(&lines, args[6], "q", 0, "reverb: lines") < 0 ||
        buf_get(&gains, args[7], "f", 0, "reverb: gains") < 0 ||
        arg_ssize(args[8], 0, PY_SSIZE_T_MAX, "reverb: wpos", &wpos) < 0 ||
        arg_ssize(args[9], 0, PY_SSIZE_T_MAX, "reverb: predelay0", &pd0) < 0 ||
        arg_ssize(args[10], 0, PY_SSIZE_T_MAX, "reverb: predelay1", &pd1) < 0 ||
        arg_finite(args[11], "reverb: tap0", &tap0) < 0 ||
        arg_finite(args[12], "reverb: tap1", &tap1) < 0 ||
        arg_finite(args[13], "reverb: dc_pole", &pole) < 0)
        goto done;
    Py_ssize_t frames = buf_rows(&x), c = buf_cols(&x);
    if (x.view.ndim != 2 || (c != 1 && c != 2)) {
        PyErr_SetString(PyExc_ValueError, "reverb: x must be (frames, 1 or 2)");
        goto done;
    }
    if (buf_rows(&out) < frames || buf_cols(&out) != c || frames > (1 << 24)) {
        PyErr_Format(PyExc_ValueError, "reverb: out must be (>= %zd, %zd), and at most "
                     "2^24 frames a call", frames, c);
        goto done;
    }
    if (buf_count(&lines) != 2 * RV_LINES || buf_count(&gains) != 2 * RV_LINES) {
        PyErr_SetString(PyExc_ValueError, "reverb: lines and gains must be (2, 8)");
        goto done;
    }
    if (buf_rows(&pbuf) != c || buf_rows(&fbuf) != RV_LINES || buf_count(&dc) != c) {
        PyErr_Format(PyExc_ValueError, "reverb: pbuf must have %zd rows, fbuf 8 and "
                     "dc_state %zd values", c, c);
        goto done;
    }
    const int64_t *len = lines.view.buf;
    int64_t shortest = len[0], longest = len[0], reach = 0;
    for (int j = 0; j < RV_LINES; j++) {
        shortest = len[j] < shortest ? len[j] : shortest;
        longest = len[j] > longest ? len[j] : longest;
        if (len[RV_LINES + j] < 0) {
            PyErr_SetString(PyExc_ValueError, "reverb: input offsets must be >= 0");
            goto done;
        }
        reach = len[RV_LINES + j] > reach ? len[RV_LINES + j] : reach;
    }
    Py_ssize_t chunk = (Py_ssize_t)shortest;
    if (chunk > (buf_count(&work) - RV_LINES) / (3 * RV_LINES))
        chunk = (buf_count(&work) - RV_LINES) / (3 * RV_LINES);
    Py_ssize_t pcap = buf_cols(&pbuf), fcap = buf_cols(&fbuf);
    Py_ssize_t pd = pd0 > pd1 ? pd0 : pd1;
    if (shortest < 1 || chunk < 1 || fcap < longest + 1 || pcap < pd + reach + chunk) {
        PyErr_Format(PyExc_ValueError, "reverb: rings too short (lines %lld..%lld frames, "
                     "line ring %zd, predelay %zd + offsets %lld in a ring of %zd, "
                     "chunk %zd)", (long long)shortest, (long long)longest, fcap, pd,
                     (long long)reach, pcap, chunk);
        goto done;
    }
    const float *g = gains.view.buf;
    Reverb rv = {
        .channels = (int)c, .pcap = pcap, .fcap = fcap, .chunk = chunk, .wpos = wpos,
        .pd0 = pd0, .pd1 = pd1, .lengths = len, .diffuse = len + RV_LINES,
        .g0 = g, .g1 = g + RV_LINES, .tap0 = (float)tap0, .tap1 = (float)tap1,
        .dc_pole = pole, .dc_state = dc.view.buf, .pbuf = pbuf.view.buf,
        .fbuf = fbuf.view.buf, .work = work.view.buf,
    };
    if (frames > 0)  /* a line's work per frame: the lock is let go for offline renders */
        WITHOUT_GIL_IF(frames * RV_LINES, reverb_perform(&rv, x.view.buf, out.view.buf, frames));
    result = Py_None;
    Py_INCREF(result);
done:
    buf_release(&x);
    buf_release(&out);
    buf_release(&pbuf);
    buf_release(&fbuf);
    buf_release(&work);
    buf_release(&dc);
    buf_release(&lines);
    buf_release(&gains);
    return result;
}

PyMethodDef reverb_methods[] = {
    {"reverb", (PyCFunction)(void (*)(void))reverb, METH_FASTCALL, reverb_doc},
    {NULL, NULL, 0, NULL},
};
