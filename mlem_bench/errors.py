"""The project's errors: each one a one-line message that names the field or file and the fix.

The CLI prints any `SpecError` (and its subclasses) as one line and exits 2; library
code raises these instead of letting NumPy, Numba or the file system speak.
"""


class SpecError(ValueError):
    """A malformed or impossible case specification, or a folder or file the run cannot use."""


class LadderError(SpecError):
    """A learned ladder whose checkpoints are missing or do not match its spec."""


class TuningError(ValueError):
    """The target cannot be met with the given ladder."""


class PathExplosionError(RuntimeError):
    """Some paths became non-finite or left |x| < BLOWUP."""
