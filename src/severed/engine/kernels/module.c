/* The extension module severed.engine._kernels: gathers the units' method tables. */
#include "kernels.h"

static PyMethodDef *UNIT_TABLES[] = {
    iir_methods,
    reverb_methods,
    delay_methods,
    voices_methods,
    sampler_methods,
    osc_methods,
    mix_methods,
    noise_methods,
    hum_methods,
    limiter_methods,
};

#define N_UNITS (sizeof UNIT_TABLES / sizeof UNIT_TABLES[0])

static PyMethodDef all_methods[64];

static struct PyModuleDef kernels_module = {
    PyModuleDef_HEAD_INIT,
    "_kernels",
    "severed's compiled DSP kernels: perform routines over caller-owned buffers.\n"
    "Use through the Python classes of severed.engine.dsp, which own the state.",
    -1,
    all_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void)
{
    size_t n = 0;
    for (size_t u = 0; u < N_UNITS; u++) {
        for (PyMethodDef *m = UNIT_TABLES[u]; m->ml_name; m++) {
            if (n + 1 >= sizeof all_methods / sizeof all_methods[0]) {
                PyErr_SetString(PyExc_ImportError, "_kernels: too many methods; "
                                "enlarge all_methods in module.c");
                return NULL;
            }
            all_methods[n++] = *m;
        }
    }
    all_methods[n] = (PyMethodDef){NULL, NULL, 0, NULL};
    return PyModule_Create(&kernels_module);
}
