"""The kernel for one problem in a fresh interpreter (timeraw_): compiled into an empty
cache (what a first run waits for), and loaded from the cache a previous process filled
(what every later process waits for; `mlem-bench warm` fills it)."""

SOLVE = """
from mlem_bench.problems import OrnsteinUhlenbeck
from mlem_bench.numerics.solve import solve
solve(OrnsteinUhlenbeck(1), None, "em", 0, 8, 4, 0)
"""


def timeraw_compile_em_ou():
    # an empty cache folder of its own, set before the package is imported
    return "import os, tempfile\nos.environ['MLEM_BENCH_CACHE_DIR'] = tempfile.mkdtemp()\n" + SOLVE


def timeraw_load_cached_em_ou():
    return SOLVE


def setup_load_cached_em_ou():
    exec(SOLVE)          # fills the cache (this process's import is not timed)


timeraw_load_cached_em_ou.setup = setup_load_cached_em_ou
timeraw_compile_em_ou.repeat = timeraw_load_cached_em_ou.repeat = 1
timeraw_compile_em_ou.number = timeraw_load_cached_em_ou.number = 1
