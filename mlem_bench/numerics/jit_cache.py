"""Where compiled kernels are cached on disk, keyed by the package's whole source.

Numba keys a cached function by its own file only: editing an inlined helper or an
overload in another file returns the old machine code. So every function of this package
compiled with ``cache=True`` is cached under one folder per digest of all the package's
``.py`` files (and the Numba and Python versions); any edit anywhere gives a new folder,
and a stale kernel cannot be loaded. Functions outside the package keep Numba's own
locators.

The root is ``$MLEM_BENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/mlem_bench/kernels``, else
``~/.cache/mlem_bench/kernels``. Folders of other digests unused for `KEEP_DAYS` are removed.
"""
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

import numba
from numba.core import caching

PACKAGE = Path(__file__).resolve().parents[1]
KEEP_DAYS = 14
DIGEST_CHARS = 20
DIGEST = re.compile(f"[0-9a-f]{{{DIGEST_CHARS}}}")


@lru_cache(maxsize=1)
def source_digest():
    """Hex digest of every .py file of the package (path and bytes), Numba and Python versions."""
    h = hashlib.sha256(f"numba {numba.__version__} python {sys.version_info[:3]}".encode())
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:DIGEST_CHARS]


def cache_root():
    """The folder that holds one sub-folder per source digest."""
    given = os.environ.get("MLEM_BENCH_CACHE_DIR")
    if given:
        return Path(given).resolve()      # child processes may start elsewhere
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mlem_bench" / "kernels"


@lru_cache(maxsize=1)
def cache_dir():
    """This source's cache folder (created; a temporary one where the root is not writable).
    Removes sibling folders of other digests left unused for KEEP_DAYS."""
    for root in (cache_root(), Path(tempfile.gettempdir()) / "mlem_bench-kernels"):
        path = root / source_digest()
        try:
            path.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=path).close()
        except OSError:
            continue
        os.utime(path)
        old = time.time() - KEEP_DAYS * 86400
        for other in root.iterdir():
            # only folders named like a digest: the root may be a folder the user shares
            if other != path and DIGEST.fullmatch(other.name) and other.is_dir() and other.stat().st_mtime < old:
                shutil.rmtree(other, ignore_errors=True)
        return path
    return None


class SourceKeyedLocator(caching.UserProvidedCacheLocator):
    """Numba cache locator for this package's functions: the folder `cache_dir()`, and the
    source stamp the package digest (not the function's own file)."""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        # by the file's place in the package, not on disk: the digest already names the
        # source, so a checkout and an installed copy of the same source share the kernels
        where = Path(py_file).resolve().parent.relative_to(PACKAGE).as_posix().replace("/", "_")
        self._cache_path = str(cache_dir() / (where or "package"))

    def get_source_stamp(self):
        return source_digest()

    @classmethod
    def from_function(cls, py_func, py_file):
        try:
            inside = Path(py_file).resolve().is_relative_to(PACKAGE)
        except OSError:
            inside = False
        if not inside or cache_dir() is None:
            return None
        self = cls(py_func, py_file)
        try:
            self.ensure_cache_path()
        except OSError:
            return None
        return self


def install():
    """Put `SourceKeyedLocator` first among Numba's locators (once; before any kernel of
    the package is decorated, which is when Numba picks a function's locator)."""
    classes = caching.CacheImpl._locator_classes
    if SourceKeyedLocator not in classes:
        classes.insert(0, SourceKeyedLocator)
