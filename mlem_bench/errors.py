"""The project's errors: each one a one-line message that names the field or file and the fix.

The CLI prints any `SpecError` (and its subclasses) as one line and exits 2; library
code raises these instead of letting NumPy, Numba or the file system speak.
docs/troubleshooting.md lists them with what to do.
"""


class SpecError(ValueError):
    """A malformed or impossible case specification, or a folder or file the run cannot use."""


class LadderError(SpecError):
    """A learned ladder whose checkpoints are missing or do not match its spec."""


class DamagedFileError(SpecError):
    """A stored file (cell, plan, manifest, table) that cannot be read or fails its checks."""

    def __init__(self, path, why):
        self.path, self.why = path, why
        super().__init__(f"{path} is damaged: {why}")


class TuningError(ValueError):
    """The target cannot be met with the given ladder."""


class PathExplosionError(RuntimeError):
    """Some paths became non-finite or left |x| < BLOWUP.

    `method`, `level` and `n_steps` name the run that exploded (None when not given), so
    that a caller can diagnose the cause (e.g. rerun it with a smaller step).
    """

    def __init__(self, message, method=None, level=None, n_steps=None):
        super().__init__(message)
        self.method, self.level, self.n_steps = method, level, n_steps
