"""Reference implementations the compiled kernels are checked against: slow, obvious
code (plain loops over samples, or the numpy implementations the engine used before
its kernels were compiled), written to be read, never used by the product."""
