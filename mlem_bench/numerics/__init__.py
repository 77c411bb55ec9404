"""The numerical core: counter-based random numbers, Brownian paths, the VP schedule,
drift evaluation for every ladder kind, the jitted kernels and `solve` around them.

Nothing here imports from the rest of the package (an import-linter contract checks it).
"""
from . import jit_cache

# before any module below decorates a kernel: Numba picks a function's cache folder then
jit_cache.install()
