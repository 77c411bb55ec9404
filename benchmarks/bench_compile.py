"""Compile time of the kernel for one problem, in a fresh interpreter (timeraw_)."""


def timeraw_compile_em_ou():
    return """
from mlem_bench.problems import OrnsteinUhlenbeck
from mlem_bench.numerics.solve import solve
solve(OrnsteinUhlenbeck(1), None, "em", 0, 8, 4, 0)
"""


timeraw_compile_em_ou.repeat = 1
timeraw_compile_em_ou.number = 1
