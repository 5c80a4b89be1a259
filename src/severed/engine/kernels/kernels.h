/* The compiled DSP core of severed: shared declarations.
 *
 * How the core is laid out (one file per unit, one module that gathers them):
 *
 *   kernels.h   this header: the buffer helpers and every unit's method table
 *   module.c    the extension module severed.engine._kernels; lists the tables
 *   buffers.c   the buffer helpers (the only code here that checks Python objects)
 *   <unit>.c    one unit: its perform routine(s) first, in plain C that knows only
 *               pointers, a frame count and a small state struct; then a thin binding
 *               that takes the caller's buffers, checks them and calls the perform
 *               routine; last, its method table <unit>_methods[], ending in {NULL}.
 *
 * To add a unit: write <unit>.c in that shape, declare its table below and add it to
 * UNIT_TABLES in module.c. setup.py compiles every *.c here; nothing else to edit.
 *
 * Rules for perform routines (they run on the audio thread): no allocation, no locks,
 * no logging, no calls into Python; state in doubles where a recursion needs it;
 * parameter changes interpolated across the block. Python owns every buffer and all
 * state (numpy arrays handed in each call), so a unit has no lifetime to manage.
 * Bindings use METH_FASTCALL and the plain buffer protocol: no numpy headers at build.
 */
#ifndef SEVERED_KERNELS_H
#define SEVERED_KERNELS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* A buffer the caller lends for one call: the view and its element kind. */
typedef struct {
    Py_buffer view;
    char kind;       /* 'f' float32, 'd' float64, 'i' int32, 'q' int64, 'u' uint32 */
    int held;
    Py_ssize_t row_stride;  /* elements from one row to the next */
} Buf;

/* Borrow `obj` as a C-contiguous buffer of one of the element kinds in `kinds`
 * (e.g. "fd"), writable if asked. On failure sets a TypeError/ValueError naming
 * `what` and returns -1. Release with buf_release (safe on a failed or unused Buf). */
int buf_get(Buf *b, PyObject *obj, const char *kinds, int writable, const char *what);
void buf_release(Buf *b);
/* The same for a 2-D array whose rows are contiguous but may be spaced further apart
 * (a slice out[:, a:b]); row_stride says how far. */
int buf_get_rows(Buf *b, PyObject *obj, const char *kinds, int writable, const char *what);
/* Element count of a held buffer; and its leading dimension (rows) and row length. */
Py_ssize_t buf_count(const Buf *b);
Py_ssize_t buf_rows(const Buf *b);
Py_ssize_t buf_cols(const Buf *b);
/* Check an integer argument lies in [lo, hi]; sets ValueError naming `what`. */
int arg_ssize(PyObject *obj, Py_ssize_t lo, Py_ssize_t hi, const char *what, Py_ssize_t *out);
/* A float argument that must be finite; sets ValueError naming `what`. */
int arg_finite(PyObject *obj, const char *what, double *out);
/* An integer argument in 0 .. 2^32 - 1 (a phase step in 32-bit turns). Not through
 * arg_ssize: Py_ssize_t is 32-bit on armhf and i386 and cannot hold the top half. */
int arg_u32(PyObject *obj, const char *what, uint32_t *out);
/* ValueError with printf's formatting. PyErr_Format has no %g: Python 3.11 copies the
 * rest of the format as it is, 3.12 and later raise SystemError instead. */
void err_value(const char *fmt, ...);

/* floor(x) for |x| < 2^62, without a call into libm: x86-64's baseline instruction set
 * has no rounding instruction, and a per-frame floor() call costs more than the rest
 * of an interpolated read. Exact: the same value as floor(). */
static inline double floor_fast(double x)
{
    double t = (double)(long long)x;
    return t > x ? t - 1.0 : t;
}

/* The interpreter lock. A call whose work reaches GIL_FREE_SAMPLES samples (offline
 * renders: an instrument's whole note, a stem being converted in the background) runs
 * without it, so the audio thread keeps rendering meanwhile. A live block's kernels are
 * far smaller and keep it: letting go costs little, but taking it back may wait for
 * another thread's switch interval (5 ms), longer than a small block's period.
 * Usage: WITHOUT_GIL_IF(samples, perform_routine(...)); */
#define GIL_FREE_SAMPLES 65536
#define WITHOUT_GIL_IF(samples, call)                                                \
    do {                                                                              \
        if ((samples) >= GIL_FREE_SAMPLES) {                                          \
            Py_BEGIN_ALLOW_THREADS                                                    \
            call;                                                                     \
            Py_END_ALLOW_THREADS                                                      \
        } else {                                                                      \
            call;                                                                     \
        }                                                                             \
    } while (0)

/* Method tables of the units (module.c gathers them). */
extern PyMethodDef iir_methods[];
extern PyMethodDef reverb_methods[];
extern PyMethodDef delay_methods[];
extern PyMethodDef voices_methods[];
extern PyMethodDef sampler_methods[];
extern PyMethodDef osc_methods[];
extern PyMethodDef mix_methods[];
extern PyMethodDef noise_methods[];
extern PyMethodDef hum_methods[];
extern PyMethodDef limiter_methods[];

#endif
