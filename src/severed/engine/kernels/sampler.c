/* The sampler layer's playback: a stretch of its audio read from a position at a
 * speed that ramps across the block, added into the block. See
 * severed/engine/layers/sampler.py for the modes.
 *
 * Frame i (0..n-1) reads the source at p_i = pos + s_i, where s_0 = 0 and
 * s_{i+1} = s_i + r_i, r_i = (i + 1) * ((r1 - r0) / n) + r0 (a constant rate r:
 * s_i = i * r), with linear interpolation. A oneshot (period 0) stops at the first
 * frame whose position has no frame after it to interpolate with; a loop (period P,
 * crossfade C) plays index j as src[j] on the first pass and src[j mod P] after it,
 * its first C frames then taken from `head` (the crossfaded loop start). A release
 * (a stolen voice) weights frame i by clip((release - i) / steal, 0, 1). The sum is
 * float32 as the numpy layer it replaces: v = (a + (b - a) * frac) * env; a mono
 * source goes to every output channel, a stereo one into a mono output as the mean
 * of its two channels.
 */
#include "kernels.h"

#include <math.h>
#include <stdint.h>

typedef struct {
    int64_t n, out_channels;
    const float *src, *head;
    int64_t src_frames, head_frames, channels;
    int64_t period, xfade, release, steal;
    double pos, r0, r1;
} Play;

static const float *frame_at(const Play *p, int64_t i)
{
    if (p->period > 0) {
        int64_t j = i % p->period;
        j = j < 0 ? j + p->period : j;
        if (p->xfade > 0 && j < p->xfade && i >= p->period)
            return p->head + (j < p->head_frames ? j : p->head_frames - 1) * p->channels;
        return p->src + (j < p->src_frames ? j : p->src_frames - 1) * p->channels;
    }
    i = i < 0 ? 0 : i >= p->src_frames ? p->src_frames - 1 : i;
    return p->src + i * p->channels;
}

/* Returns the frames played (fewer than n: a oneshot ran out); *advance: the read
 * position's move over all n frames. */
static int64_t play_perform(const Play *p, float *out, double *advance)
{
    const int64_t n = p->n, oc = p->out_channels, sc = p->channels;
    const double last = (double)(p->src_frames - 1);
    const int ramping = p->r0 != p->r1;
    const double step = (p->r1 - p->r0) / (double)n;
    int64_t played = n;
    double s = 0.0;  /* the sum of the rates so far (the numpy cumsum, in its order) */
    for (int64_t i = 0; i < n; i++) {
        const double r = ramping ? (double)(i + 1) * step + p->r0 : p->r1;
        const double at = (ramping ? s : (double)i * p->r1) + p->pos;
        s += r;
        if (played < n)
            continue;  /* a oneshot ran out: only the position moves on */
        if (p->period == 0 && at >= last) {
            played = i;
            continue;
        }
        const double whole = floor_fast(at);
        const float frac = (float)(at - whole);
        const int64_t i0 = (int64_t)whole;
        const float *a = frame_at(p, i0), *b = frame_at(p, i0 + 1);
        float env = 1.0f;
        if (p->release >= 0) {
            double e = ((double)p->release - (double)i) * (1.0 / (double)p->steal);
            env = (float)(e < 0.0 ? 0.0 : e > 1.0 ? 1.0 : e);
        }
        float *o = out + i * oc;
        if (sc == 1) {
            float v = a[0] + (b[0] - a[0]) * frac;
            if (p->release >= 0)
                v *= env;
            for (int64_t c = 0; c < oc; c++)
                o[c] += v;
        } else {
            float l = a[0] + (b[0] - a[0]) * frac, rr = a[1] + (b[1] - a[1]) * frac;
            if (p->release >= 0) {
                l *= env;
                rr *= env;
            }
            if (oc == 1) {
                o[0] += (l + rr) * 0.5f;
            } else {
                o[0] += l;
                o[1] += rr;
            }
        }
    }
    *advance = ramping ? s : p->r1 * (double)n;
    return played;
}

/* ------------------------------------------------------------------ binding */

PyDoc_STRVAR(sampler_play_doc,
"sampler_play(out, src, head, pos, r0, r1, period, xfade, release, steal)\n--\n\n"
"Add len(out) frames of src read from position pos (the speed ramping from r0 to r1)\n"
"into out (float32 (n, 1 or 2)); return (frames played, the position's advance).\n"
"src: float32 (N >= 2, 1 or 2); head: float32 (H, same channels), the crossfaded\n"
"loop start. period 0: a oneshot, which stops where the source runs out; period P:\n"
"a loop of P frames whose first xfade frames come from head after the first pass.\n"
"release >= 0: fade out, frame i weighted by clip((release - i) / steal, 0, 1).");

static PyObject *sampler_play(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    Buf out = {0}, src = {0}, head = {0};
    PyObject *result = NULL;
    double pos, r0, r1;
    Py_ssize_t period, xfade, release, steal;
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "sampler_play() takes out, src, head, pos, r0, "
                        "r1, period, xfade, release, steal");
        return NULL;
    }
    if (buf_get(&out, args[0], "f", 1, "sampler_play: out") < 0 ||
        buf_get(&src, args[1], "f", 0, "sampler_play: src") < 0 ||
        buf_get(&head, args[2], "f", 0, "sampler_play: head") < 0)
        goto done;
    pos = PyFloat_AsDouble(args[3]);
    r0 = PyFloat_AsDouble(args[4]);
    r1 = PyFloat_AsDouble(args[5]);
    if (PyErr_Occurred())
        goto done;
    Py_ssize_t frames = buf_rows(&src), sc = buf_cols(&src), oc = buf_cols(&out);
    if (arg_ssize(args[6], 0, frames, "sampler_play: period", &period) < 0 ||
        arg_ssize(args[7], 0, period, "sampler_play: xfade", &xfade) < 0 ||
        arg_ssize(args[8], -1, PY_SSIZE_T_MAX, "sampler_play: release", &release) < 0 ||
        arg_ssize(args[9], 1, PY_SSIZE_T_MAX, "sampler_play: steal", &steal) < 0)
        goto done;
    if (src.view.ndim != 2 || frames < 2 || sc < 1 || sc > 2 || oc < 1 || oc > 2 ||
        out.view.ndim != 2 || buf_cols(&head) != sc || buf_rows(&head) < 1) {
        PyErr_SetString(PyExc_ValueError, "sampler_play: src must be (frames >= 2, 1 or "
                        "2), head (>= 1, the same channels), out (n, 1 or 2)");
        goto done;
    }
    if (!(isfinite(pos) && pos >= 0.0 && r0 > 0.0 && r1 > 0.0 && isfinite(r0) &&
          isfinite(r1))) {
        err_value("sampler_play: position %g must be >= 0 and rates "
                  "%g, %g above 0", pos, r0, r1);
        goto done;
    }
    Play p = {.n = buf_rows(&out), .out_channels = oc, .src = src.view.buf,
              .head = head.view.buf, .src_frames = frames, .head_frames = buf_rows(&head),
              .channels = sc, .period = period, .xfade = xfade, .release = release,
              .steal = steal, .pos = pos, .r0 = r0, .r1 = r1};
    double advance = 0.0;
    int64_t played = p.n > 0 ? play_perform(&p, out.view.buf, &advance) : 0;
    result = Py_BuildValue("(Ld)", (long long)played, advance);
done:
    buf_release(&out);
    buf_release(&src);
    buf_release(&head);
    return result;
}

PyMethodDef sampler_methods[] = {
    {"sampler_play", (PyCFunction)(void (*)(void))sampler_play, METH_FASTCALL,
     sampler_play_doc},
    {NULL, NULL, 0, NULL},
};
